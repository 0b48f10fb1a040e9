package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryParquet: --format parquet --out F writes the node's export of
// the range (mode 0600, ending in the footer's magic); what cannot be
// Parquet is a usage error (exit 2) naming the reason, before any request.
func TestHistoryParquet(t *testing.T) {
	url := historyServer(t, 200)
	out := filepath.Join(t.TempDir(), "h.parquet")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"history", "--server", url, "--filter", "h/1", "--from", "10", "--format", "parquet", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, _ := os.ReadFile(out)
	resp, err := http.Get(url + "/v1/messages?filter=h/1&from=10&format=parquet")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 || !bytes.Equal(data, want) ||
		!bytes.HasSuffix(data, []byte("PAR1")) || stdout.Len() != 0 {
		t.Fatalf("file %d bytes (%v), want the export's %d ending in PAR1, mode 0600; stdout %q", len(data), err, len(want), stdout.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "parquet"}, "give --out FILE"},
		{[]string{"--format", "parquet", "--out", out, "--follow"}, "needs one"},
		{[]string{"--format", "parquet", "--out", out, "--consumer", "c1"}, "NDJSON or CSV"},
		{[]string{"--format", "orc"}, "ndjson, csv or parquet"},
	} {
		stderr.Reset()
		args := append([]string{"history", "--server", url, "--filter", "h/1"}, c.args...)
		if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// TestHistoryParquetCut: an export the server ended without its footer (as
// a node does when a read fails after row groups were sent: here the real
// export of a range cut short) fails the command, and the file that would
// not open is removed.
func TestHistoryParquetCut(t *testing.T) {
	url := historyServer(t, 50)
	resp, err := http.Get(url + "/v1/messages?filter=%23&format=parquet")
	if err != nil {
		t.Fatal(err)
	}
	export, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.apache.parquet")
		w.Write(export[:len(export)/2])
	}))
	defer cut.Close()
	out := filepath.Join(t.TempDir(), "h.parquet")
	var stdout, stderr bytes.Buffer
	code := run([]string{"history", "--server", cut.URL, "--filter", "#", "--format", "parquet", "--out", out}, &stdout, &stderr)
	if _, err := os.Stat(out); code != 1 || !os.IsNotExist(err) || !strings.Contains(stderr.String(), "without a Parquet footer") {
		t.Fatalf("exit %d, file %v, stderr %q: want 1, no file, the reason", code, err, stderr.String())
	}
}
