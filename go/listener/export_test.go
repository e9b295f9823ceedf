package listener

// ListenWithTimeout is Listen with another handshake timeout, for tests.
var ListenWithTimeout = listen
