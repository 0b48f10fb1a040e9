package mqtt

import (
	"io"
	"time"
)

// Closing with a reason. A socket closed while the client's data is still
// unread makes the kernel send a reset, and a reset can destroy our last
// DISCONNECT (or refusing CONNACK) in the client's receive buffer before the
// client reads it: a client still sending PUBREL or PUBACK would see
// "connection reset" instead of the reason code. So the writer, after its
// last packet, half-closes the socket (the client reads our packet, then
// EOF), and the reader discards what still arrives until the client closes
// or Options.CloseLinger passes; only then is the socket closed.

// halfCloser is a connection whose sending side can be closed alone:
// *net.TCPConn (FIN) and *tls.Conn (close_notify).
type halfCloser interface{ CloseWrite() error }

// halfClose ends the sending side after the last packet and reports whether
// the socket stays open for the reader to linger on. It does not when
// lingering is off, the broker is closing (its shutdown should not wait on
// clients), or the connection cannot half-close (WebSocket).
func (c *conn) halfClose() bool {
	linger := c.b.o.CloseLinger
	if linger <= 0 || c.b.isClosed() {
		return false
	}
	hc, ok := c.nc.(halfCloser)
	if !ok || hc.CloseWrite() != nil {
		return false
	}
	c.w.lingerUntil = time.Now().Add(linger)
	// Wakes a reader blocked in Read, which then stops handling packets.
	c.nc.SetReadDeadline(c.w.lingerUntil)
	return true
}

// linger discards what the client still sends until it closes its side or
// the deadline set by halfClose passes. Reader only, after the writer ended
// (which orders the read of lingerUntil after its write).
func (c *conn) linger() {
	if c.w.lingerUntil.IsZero() {
		return
	}
	c.nc.SetReadDeadline(c.w.lingerUntil)
	io.Copy(io.Discard, c.r.br) // ends on EOF, the deadline or a reset
}
