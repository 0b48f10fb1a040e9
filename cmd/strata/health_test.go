package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
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
