package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/internal/testpki"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key as PEM
// files and returns their paths and a pool trusting the certificate.
func writeSelfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert, pool := testpki.SelfSigned(t)
	certFile, keyFile = testpki.WriteCert(t, t.TempDir(), "server", cert)
	return certFile, keyFile, pool
}

// TestHTTPAuthAndTLSProcess runs real nodes with a password file (so the
// loopback API needs credentials) serving HTTPS: the CLI is refused
// without credentials and served with them, a second node joins and
// forwards (over node connections of the same port), and /debug/pprof needs
// credentials too.
func TestHTTPAuthAndTLSProcess(t *testing.T) {
	bin := buildStrata(t)
	certFile, keyFile, pool := writeSelfSigned(t)
	pwFile := filepath.Join(t.TempDir(), "passwd")
	if err := auth.SetPassword(pwFile, "root", []byte("s3cret-root")); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--password-file", pwFile, "--tls-cert", certFile, "--tls-key", keyFile, "--http-tls"}
	n1 := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: t.TempDir()}
	startNode(t, bin, n1, "", append(tlsFlags, "--mqtt-tls", freeAddr(t), "--pprof")...)
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(url, user, password string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	base1 := "https://" + n1.http
	waitFor(t, "n1 ready over https", 15*time.Second, func() bool { return get(base1+"/readyz", "", "") == 200 })
	for path, want := range map[string]int{"/v1/cluster/status": 401, "/debug/pprof/": 401} {
		if code := get(base1+path, "", ""); code != want {
			t.Fatalf("GET %s without credentials: %d, want %d", path, code, want)
		}
		if code := get(base1+path, "root", "wrong"); code != 401 {
			t.Fatalf("GET %s with a wrong password: %d, want 401", path, code)
		}
		if code := get(base1+path, "root", "s3cret-root"); code != 200 {
			t.Fatalf("GET %s as root: %d, want 200", path, code)
		}
	}
	if code := get("http://"+n1.http+"/v1/cluster/status", "root", "s3cret-root"); code == 200 {
		t.Fatal("plain http served on an --http-tls listener")
	}

	var out, errb bytes.Buffer
	if code := run([]string{"cluster", "status", "--server", base1, "--ca", certFile}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Fatalf("cluster status without credentials: exit %d, stderr %q; want 1 and 401", code, errb.String())
	}
	t.Setenv("STRATA_USER", "root")
	t.Setenv("STRATA_PASSWORD", "s3cret-root")
	out.Reset()
	errb.Reset()
	if code := run([]string{"cluster", "status", "--server", base1, "--ca", certFile}, &out, &errb); code != 0 || !strings.Contains(out.String(), "node n1") {
		t.Fatalf("cluster status with credentials: exit %d, %q %q", code, out.String(), errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "s3cret-root") {
		t.Fatal("the CLI echoed the password")
	}

	// n2 joins n1 and forwards to it over node connections (the same port, the cluster's TLS).
	n2 := &proc{id: "n2", http: freeAddr(t), raft: freeAddr(t), dir: t.TempDir()}
	startNode(t, bin, n2, n1.http, append(tlsFlags, "--mqtt-tls", freeAddr(t))...)
	waitFor(t, "n2 to join", 30*time.Second, func() bool {
		out.Reset()
		return run([]string{"cluster", "status", "--server", base1, "--ca", certFile}, &out, &errb) == 0 && strings.Contains(out.String(), "n2 ")
	})
	waitFor(t, "a publish through n2 (forwarded to n1)", 15*time.Second, func() bool {
		req, _ := http.NewRequest("POST", "https://"+n2.http+"/v1/publish?topic=a/b", strings.NewReader("via n2"))
		req.SetBasicAuth("root", "s3cret-root")
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	out.Reset()
	errb.Reset()
	if code := run([]string{"history", "--server", "https://" + n2.http, "--ca", certFile, "--filter", "a/#"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"topic":"a/b"`) {
		t.Fatalf("history with credentials: exit %d, %q %q", code, out.String(), errb.String())
	}
	if strings.Contains(n1.stderr.String()+n2.stderr.String(), "s3cret-root") {
		t.Fatal("a node logged the password")
	}
}

// TestHTTPFlagsRefused: --pprof off loopback and --http-tls without a
// certificate are refused before anything starts.
func TestHTTPFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--http", "0.0.0.0:0", "--pprof"}, "--pprof needs a loopback --http address"},
		{[]string{"--http", ":8080", "--pprof"}, "--pprof needs a loopback --http address"},
		{[]string{"--http-tls"}, "--http-tls needs --tls-cert"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--data-dir", t.TempDir()}, c.args...)
		if code := run(args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.msg)
		}
	}
}
