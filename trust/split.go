package trust

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// Split divides the connections of one listener (the HTTP port) between
// the public API and the nodes of the cluster: a connection whose first
// byte is NodeByte is a node's (then, when the cluster is secure, a TLS
// server connection requiring the cluster's certificate), any other is
// the public API's, its first byte given back. Closing either listener
// closes both and the one underneath.
type Split struct {
	ln       net.Listener
	conf     *tls.Config
	public   chan net.Conn
	internal chan net.Conn
	done     chan struct{}
	once     sync.Once
}

// Split starts sorting ln's connections.
func (c *Cluster) Split(ln net.Listener) *Split {
	s := &Split{ln: ln, conf: c.ServerTLS(), public: make(chan net.Conn), internal: make(chan net.Conn),
		done: make(chan struct{})}
	go s.run()
	return s
}

// Public is the listener the public API serves.
func (s *Split) Public() net.Listener { return &splitListener{s: s, ch: s.public} }

// Internal is the listener of node-to-node requests: only connections
// whose TLS handshake proves the cluster's trust get past their first read.
func (s *Split) Internal() net.Listener { return &splitListener{s: s, ch: s.internal} }

func (s *Split) close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
	})
	return err
}

// run accepts until the listener closes, backing off on errors such as
// too many open files (as net/http's server does).
func (s *Split) run() {
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.close()
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
			case <-s.done:
				return
			}
			continue
		}
		delay = 0
		go s.sort(conn)
	}
}

// sort reads conn's first byte (bounded by handshakeTimeout) and hands
// it to the listener it belongs to.
func (s *Split) sort(conn net.Conn) {
	var b [1]byte
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Read(b[:]); err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	ch, out := s.public, net.Conn(&prefixConn{Conn: conn, first: b[0], pending: true})
	if b[0] == NodeByte {
		ch, out = s.internal, conn
		if s.conf != nil {
			// A *tls.Conn, so that net/http runs the handshake under its
			// own timeout and sets Request.TLS.
			out = tls.Server(conn, s.conf)
		}
	}
	select {
	case ch <- out:
	case <-s.done:
		conn.Close()
	}
}

type splitListener struct {
	s  *Split
	ch chan net.Conn
}

func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}

func (l *splitListener) Close() error   { return l.s.close() }
func (l *splitListener) Addr() net.Addr { return l.s.ln.Addr() }

// prefixConn gives back the byte Split read before handing it on.
type prefixConn struct {
	net.Conn
	mu      sync.Mutex
	first   byte
	pending bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.pending && len(b) > 0 {
		b[0], p.pending = p.first, false
		p.mu.Unlock()
		return 1, nil
	}
	p.mu.Unlock()
	return p.Conn.Read(b)
}
