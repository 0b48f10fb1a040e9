package httpapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
)

// damageFrame flips a byte in the body of the frame holding off in the
// active segment of l (ordered layout, docs/format.md: 32-byte file header,
// 64-byte frame headers with the body length at 4, base at 16, span at 24);
// the reader meets it on its next ReadAt.
func damageFrame(t *testing.T, l *log.Log, off log.Offset) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(l.Dir(), "*.seg"))
	if len(names) != 1 {
		t.Fatalf("want one segment, have %v", names)
	}
	b, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	for pos := 32; pos+64 <= len(b); {
		h := b[pos : pos+64]
		n := int(binary.LittleEndian.Uint32(h[4:]))
		lo := log.Offset(binary.LittleEndian.Uint64(h[16:]))
		hi := lo + log.Offset(binary.LittleEndian.Uint32(h[24:]))
		if off >= lo && off <= hi {
			f, err := os.OpenFile(names[0], os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{^b[pos+64+n/2]}, int64(pos+64+n/2)); err != nil {
				t.Fatal(err)
			}
			return
		}
		pos += 64 + n
	}
	t.Fatalf("no frame holds offset %d", off)
}

// TestMessagesReadError: a damaged frame is never a silent end. At the
// start of the range the answer is 500 with a JSON error; after records it
// is a trailing error object (NDJSON and CSV). Both are logged at error
// level, and no message reveals the node's files.
func TestMessagesReadError(t *testing.T) {
	n := newNode(t)
	fillLog(t, n, 40)
	offs := bruteForce(t, n.Log(), "#", 0, ^uint64(0))
	bad := log.Offset(offs[30])
	damageFrame(t, n.Log(), bad)
	logged := &syncBuffer{}
	o := DefaultOptions()
	o.Logger = zerolog.New(logged)
	srv := httptest.NewServer(Handler(n, o))
	defer srv.Close()

	t.Run("at the start", func(t *testing.T) {
		logged.Reset()
		resp, err := http.Get(fmt.Sprintf("%s/v1/messages?filter=%%23&from=%d", srv.URL, bad))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("%s, body %v (%v)", resp.Status, body, err)
		}
		checkReadError(t, body["error"], n.Log().Dir(), bad)
		checkLogged(t, logged, bad)
	})
	for _, accept := range []string{"", "text/csv"} {
		t.Run("after records "+accept, func(t *testing.T) {
			logged.Reset()
			req, _ := http.NewRequest("GET", srv.URL+"/v1/messages?filter=%23&from=0", nil)
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var lines []string
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			header := 0
			if accept != "" {
				header = 1
			}
			if resp.StatusCode != http.StatusOK || len(lines) != header+30+1 {
				t.Fatalf("%s, %d lines, want %d records and an error", resp.Status, len(lines)-header-1, 30)
			}
			var tail map[string]string
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tail); err != nil {
				t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
			}
			checkReadError(t, tail["error"], n.Log().Dir(), bad)
			checkLogged(t, logged, bad)
		})
	}
}

// checkReadError checks a client's error message: the offset the read
// stopped at (at or before the damaged one), the kind, no file names.
func checkReadError(t *testing.T, msg, dir string, bad log.Offset) {
	t.Helper()
	var at uint64
	i := strings.Index(msg, "at or after offset ")
	if i < 0 {
		t.Fatalf("error %q names no offset", msg)
	}
	fmt.Sscanf(msg[i:], "at or after offset %d", &at)
	if log.Offset(at) > bad || !strings.Contains(msg, "corrupt") || strings.Contains(msg, dir) || strings.Contains(msg, ".seg") {
		t.Fatalf("error %q: want offset ≤ %d, the kind, no path", msg, bad)
	}
}

// checkLogged checks the node logged the failure once, at error level, with
// the offset and the full error.
func checkLogged(t *testing.T, logged *syncBuffer, bad log.Offset) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	var entry struct {
		Level  string `json:"level"`
		Offset uint64 `json:"offset"`
		Error  string `json:"error"`
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &entry) != nil {
		t.Fatalf("log output %q: want one entry", logged.String())
	}
	if entry.Level != "error" || log.Offset(entry.Offset) > bad || !strings.Contains(entry.Error, "checksum") {
		t.Fatalf("log entry %+v", entry)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use (the handler logs,
// the test reads).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}
