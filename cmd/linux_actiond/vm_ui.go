//go:build linux

package main

import (
	"io"
	"net"

	"github.com/actiond/actiond/go/activity"
)

// vmUI is what serve-vm shows people: the status page's listener, the
// start-up summary and the boot's progress (each nil when off).
type vmUI struct {
	statusListen func() (net.Listener, error)
	banner       io.Writer
	progress     io.Writer
	tls          *activity.SummaryTLS
}
