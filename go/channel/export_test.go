package channel

import (
	"testing"
	"time"
)

// SetKeepAlive shortens the keepalive of the sessions the test starts.
func SetKeepAlive(t *testing.T, interval, timeout time.Duration) {
	oldInterval, oldTimeout := keepAliveInterval, writeTimeout
	keepAliveInterval, writeTimeout = interval, timeout
	t.Cleanup(func() { keepAliveInterval, writeTimeout = oldInterval, oldTimeout })
}
