package trust

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveSplit serves "public" on the public listener and "internal" on the
// node listener of one port, as cmd/strata does with the HTTP API.
func serveSplit(t *testing.T, c *Cluster) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Split(ln)
	answer := func(body string) *http.Server {
		return &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body == "internal" && c.Secure() && (r.TLS == nil || len(r.TLS.PeerCertificates) == 0) {
				http.Error(w, "no TLS", http.StatusForbidden)
				return
			}
			io.WriteString(w, body)
		})}
	}
	pub, in := answer("public"), answer("internal")
	go pub.Serve(s.Public())
	go in.Serve(s.Internal())
	t.Cleanup(func() { pub.Close(); in.Close() })
	return ln.Addr().String()
}

func get(c *http.Client, addr string) (string, error) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return string(b), err
}

// TestSplitSortsConnections: plain HTTP reaches the public API with its
// first byte intact; node connections with the key reach the internal
// one; node connections with another key, without TLS, or without a
// certificate reach nothing.
func TestSplitSortsConnections(t *testing.T) {
	k, _ := GenerateKey()
	a, _ := FromKey(k)
	b, _ := FromKey(k)
	addr := serveSplit(t, a)
	plain := &http.Client{Timeout: 5 * time.Second}
	if got, err := get(plain, addr); err != nil || got != "public" {
		t.Fatalf("plain HTTP: %q, %v", got, err)
	}
	if got, err := get(b.HTTPClient(5*time.Second), addr); err != nil || got != "internal" {
		t.Fatalf("a node with the key: %q, %v", got, err)
	}
	if got, err := get(newKeyCluster(t).HTTPClient(5*time.Second), addr); err == nil {
		t.Fatalf("a node with another key got %q", got)
	}
	if got, err := get((*Cluster)(nil).HTTPClient(5*time.Second), addr); err == nil {
		t.Fatalf("a node without a key got %q", got)
	}
	// The node byte, then HTTP in clear: the TLS server refuses it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte{NodeByte})
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.Contains(line, "200") {
		t.Fatalf("clear HTTP after the node byte was answered: %q", line)
	}
}

// TestSplitWithoutTrust: on a loopback-only cluster without a key, node
// connections are plain but still kept apart from the public API.
func TestSplitWithoutTrust(t *testing.T) {
	addr := serveSplit(t, nil)
	if got, err := get(&http.Client{Timeout: 5 * time.Second}, addr); err != nil || got != "public" {
		t.Fatalf("plain HTTP: %q, %v", got, err)
	}
	if got, err := get((*Cluster)(nil).HTTPClient(5*time.Second), addr); err != nil || got != "internal" {
		t.Fatalf("a node: %q, %v", got, err)
	}
}

// TestSplitSilentConnectionDoesNotBlockOthers: a connection that sends
// nothing holds up no other.
func TestSplitSilentConnectionDoesNotBlockOthers(t *testing.T) {
	addr := serveSplit(t, nil)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if got, err := get(&http.Client{Timeout: 2 * time.Second}, addr); err != nil || got != "public" {
		t.Fatalf("plain HTTP behind a silent connection: %q, %v", got, err)
	}
}
