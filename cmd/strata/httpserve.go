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

// serveHTTP opens the HTTP API's listener (TLS with --http-tls) and serves
// ao there; whether callers need credentials follows from the address it is
// bound to (httpapi.RequireAuth).
func serveHTTP(f serveFlags, node httpapi.Node, ao httpapi.Options, tlsConf *tls.Config) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return nil, "", fmt.Errorf("http listener: %w", err)
	}
	ao.RequireAuth = httpapi.RequireAuth(ln.Addr(), f.passwordFile != "", f.allowAnonymous)
	ao.Pprof = f.pprof
	ao.MaxTopicLength = f.mqtt.MaxTopicLength
	ao.MaxPublishBytes = int64(f.mqtt.MaxPacketSize) // nothing an MQTT client could not send
	if f.httpTLS {
		ln = tls.NewListener(ln, tlsConf)
	}
	ev := ao.Logger.Info()
	if ao.RequireAuth && ao.Passwords == nil && ao.Tokens == nil {
		ev = ao.Logger.Warn().Str("hint", "give --password-file")
	}
	ev.Str("addr", ln.Addr().String()).Bool("tls", f.httpTLS).Bool("credentials_required", ao.RequireAuth).Msg("HTTP API listening")
	hs := &http.Server{Handler: httpapi.Handler(node, ao), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return hs, ln.Addr().String(), nil
}

// nodeTransport is how a node calls its peers' HTTP API (forwarding,
// segment fetch, join, discovery): https when --http-tls (every node of a
// cluster alike), trusting the system's roots and --tls-cert's chain (a
// cluster sharing one certificate or CA), with the credentials of
// STRATA_USER/STRATA_PASSWORD or STRATA_TOKEN if set, for peers that require
// them and have no cluster key to recognise nodes by.
type nodeTransport struct {
	base  http.RoundTripper
	https bool
	creds credentials
}

func newNodeTransport(f serveFlags) (*nodeTransport, error) {
	creds, err := envCredentials()
	if err != nil {
		return nil, fmt.Errorf("credentials for calls to peers: %w", err)
	}
	t := &nodeTransport{base: http.DefaultTransport, https: f.httpTLS, creds: creds}
	if f.httpTLS {
		pool, err := certPool(f.tlsCert)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		t.base = tr
	}
	return t, nil
}

func (t *nodeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !t.https && !t.creds.set() {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	if t.https && r.URL.Scheme == "http" {
		r.URL.Scheme = "https"
	}
	t.creds.apply(r)
	return t.base.RoundTrip(r)
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
