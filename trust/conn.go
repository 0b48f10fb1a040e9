package trust

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// NodeByte is the first byte a node sends on a connection to a peer's
// HTTP port, before its TLS handshake: it is neither the start of an
// HTTP request (a letter) nor of a TLS record (0x14 to 0x18), so public
// connections are never mistaken for node connections, and vice versa.
const NodeByte = 0xC5

// handshakeTimeout bounds a TLS handshake and the wait for a new
// connection's first byte: a peer that stalls holds nothing for longer.
const handshakeTimeout = 10 * time.Second

// Dial opens a node-to-node connection to a peer's HTTP port: the node
// byte, then (when the cluster is secure) a TLS 1.3 handshake in which
// both sides prove they hold the cluster's trust.
func (c *Cluster) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Write([]byte{NodeByte}); err != nil {
		conn.Close()
		return nil, err
	}
	return c.clientHandshake(ctx, conn)
}

// clientHandshake runs the TLS client handshake on conn (nothing without trust).
func (c *Cluster) clientHandshake(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if !c.Secure() {
		return conn, nil
	}
	tc := tls.Client(conn, c.clientConf)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("trust: TLS with %s: %w", conn.RemoteAddr(), err)
	}
	return tc, nil
}

// HTTPClient is an HTTP client whose every connection is a node-to-node
// one (Dial): use http:// URLs with the peers' HTTP addresses. A timeout
// of 0 means none (bound each request by its context).
func (c *Cluster) HTTPClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return c.Dial(ctx, addr) },
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// DialRaft opens a connection to a peer's Raft port: TLS when the
// cluster is secure (Raft's port carries nothing else, so no node byte).
func (c *Cluster) DialRaft(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.clientHandshake(ctx, conn)
}

// ListenRaft listens on addr for Raft connections: each accepted one is
// a TLS server connection whose handshake runs (bounded by
// handshakeTimeout) on its first read or write.
func (c *Cluster) ListenRaft(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !c.Secure() {
		return ln, nil
	}
	return &tlsListener{Listener: ln, conf: c.serverConf}, nil
}

type tlsListener struct {
	net.Listener
	conf *tls.Config
}

func (l *tlsListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(conn, l.conf)}, nil
}

// serverConn is a TLS server connection whose handshake has a deadline,
// which a plain tls.Conn's lazy handshake would not have.
type serverConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (s *serverConn) handshake() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		if s.err = s.HandshakeContext(ctx); s.err != nil {
			s.Conn.Close()
		}
	})
	return s.err
}

func (s *serverConn) Read(p []byte) (int, error) {
	if err := s.handshake(); err != nil {
		return 0, err
	}
	return s.Conn.Read(p)
}

func (s *serverConn) Write(p []byte) (int, error) {
	if err := s.handshake(); err != nil {
		return 0, err
	}
	return s.Conn.Write(p)
}
