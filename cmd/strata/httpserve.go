package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

// checkHTTPFlags checks --http-tls and --pprof before anything starts.
// pprof is refused off loopback rather than moved to a second listener: one
// address to secure, and profiles stay where only the host's users reach.
func checkHTTPFlags(f serveFlags) error {
	if f.httpTLS && f.tlsCert == "" {
		return fmt.Errorf("%w: --http-tls needs --tls-cert and --tls-key", errUsage)
	}
	if f.pprof && !loopbackAddr(f.httpAddr) {
		return fmt.Errorf("%w: --pprof needs a loopback --http address (127.0.0.0/8 or ::1), not %s", errUsage, f.httpAddr)
	}
	return nil
}

// loopbackAddr reports whether a host:port names a loopback address; an
// empty or unspecified host binds every interface and is not loopback.
func loopbackAddr(addr string) bool {
	a, err := net.ResolveTCPAddr("tcp", addr)
	return err == nil && a.IP != nil && a.IP.IsLoopback()
}

// serveHTTP opens the HTTP port and serves it: the public API there (TLS
// with --http-tls), whose callers need credentials as the address it is
// bound to says (httpapi.RequireAuth), and the routes only nodes call on
// the node connections of the same port (trust.Split: the cluster's mutual
// TLS when it is secure). stop ends the internal server; close hs too.
func serveHTTP(f serveFlags, node *replication.Node, ao httpapi.Options, tlsConf *tls.Config) (hs *http.Server, stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, nil, "", fmt.Errorf("http listener: %w", err)
	}
	ao.RequireAuth = httpapi.RequireAuth(ln.Addr(), f.passwordFile != "", f.allowAnonymous)
	ao.Pprof = f.pprof
	ao.MaxTopicLength = f.mqtt.MaxTopicLength
	ao.MaxPublishBytes = int64(f.mqtt.MaxPacketSize) // nothing an MQTT client could not send
	split := f.cluster.Split(ln)
	public := split.Public()
	if f.httpTLS {
		public = tls.NewListener(public, tlsConf)
	}
	ev := ao.Logger.Info()
	if ao.RequireAuth && ao.Passwords == nil && ao.Tokens == nil {
		ev = ao.Logger.Warn().Str("hint", "give --password-file")
	}
	ev.Str("addr", ln.Addr().String()).Bool("tls", f.httpTLS).Bool("credentials_required", ao.RequireAuth).Msg("HTTP API listening")
	hs = &http.Server{Handler: httpapi.Handler(node, ao), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(public)
	return hs, serveInternal(split, node, ao), ln.Addr().String(), nil
}

// certPool is the system's roots plus the certificates of a PEM file.
func certPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
