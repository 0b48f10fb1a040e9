package mqtt

import (
	"errors"
	"net"
	"time"
)

// Serve accepts connections on ln until Close. Clients without credentials
// are admitted as ListenerFor says.
func (b *Broker) Serve(ln net.Listener, name string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	b.listeners[ln] = struct{}{}
	b.mu.Unlock()
	l := b.ListenerFor(ln.Addr(), name)
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			b.mu.Lock()
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // EMFILE and friends: back off like net/http
				continue
			}
			return err
		}
		delay = 0
		go b.ServeConn(nc, l)
	}
}

// ListenerFor describes a listener bound to addr. It admits clients
// without credentials with AllowAnonymous; otherwise only when the broker
// has no password file (Auth) and addr is a loopback address.
func (b *Broker) ListenerFor(addr net.Addr, name string) Listener {
	return Listener{Name: name, Anonymous: b.o.AllowAnonymous || (b.o.Auth == nil && isLoopback(addr))}
}

func isLoopback(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ServeConn runs one client connection until it ends; it closes nc.
func (b *Broker) ServeConn(nc net.Conn, l Listener) {
	c := b.newConn(nc, l)
	if c == nil {
		nc.Close()
		return
	}
	defer b.wg.Done()
	c.run()
}
