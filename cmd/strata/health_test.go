package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealth runs `strata health` against HTTP servers on loopback sockets
// that answer /readyz as a node does: 200 is ready (exit 0), a 503 is not
// (exit 1, its reason on stderr), and so are a closed port, an answer from
// something that is not a node, and a bad flag (exit 2).
func TestHealth(t *testing.T) {
	readyz := func(code int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(s.Close)
		return strings.TrimPrefix(s.URL, "http://")
	}
	closed := freeAddr(t)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"ready", []string{"--http", readyz(200, `{"status":"ready"}`)}, 0, "ready\n", ""},
		{"ready as URL", []string{"--http", "http://" + readyz(200, `{"status":"ready"}`)}, 0, "ready\n", ""},
		{"no leader", []string{"--http", readyz(503, `{"error":"no leader"}`)}, 1, "", "503 Service Unavailable: no leader"},
		{"disk full", []string{"--http", readyz(503, `{"error":"replication: node stopped applying: no space left on device"}`)}, 1, "", "no space left on device"},
		{"not a node", []string{"--http", readyz(404, "nothing here")}, 1, "", "answered 404 Not Found\n"},
		{"closed port", []string{"--http", closed}, 1, "", "connection refused"},
		{"bad flag", []string{"--htp", closed}, 2, "", "flag provided but not defined"},
		{"bad timeout", []string{"--timeout", "0s"}, 2, "", "--timeout must be positive"},
		{"stray argument", []string{closed}, 2, "", "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"health"}, tc.args...), &stdout, &stderr)
			if code != tc.code || stdout.String() != tc.stdout || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, stderr with %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if tc.code == 1 && !strings.HasPrefix(stderr.String(), "strata health: not ready: ") {
				t.Errorf("stderr %q: want it to start with %q", stderr.String(), "strata health: not ready: ")
			}
		})
	}
}

// TestHealthHTTPS: a node serving --http-tls with a self-signed
// certificate is checked with --ca naming it; without --ca the check fails
// on the certificate, not silently.
func TestHealthHTTPS(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ready"}`)
	}))
	defer s.Close()
	ca := filepath.Join(t.TempDir(), "cert.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}
	if err := os.WriteFile(ca, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"health", "--http", s.URL, "--ca", ca}, &stdout, &stderr); code != 0 {
		t.Errorf("with --ca: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"health", "--http", s.URL}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "certificate") {
		t.Errorf("without --ca: exit %d, stderr %q; want 1 and a certificate error", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"health", "--http", s.URL, "--ca", filepath.Join(t.TempDir(), "none.pem")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "--ca") {
		t.Errorf("missing --ca file: exit %d, stderr %q; want 1 naming --ca", code, stderr.String())
	}
}
