package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newKeyCluster(t *testing.T) *Cluster {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// echoServer accepts on ln and echoes each connection; it reports each
// connection's first error (a failed handshake) on errs.
func echoServer(t *testing.T, ln net.Listener) <-chan error {
	errs := make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, err := io.Copy(c, c)
				select {
				case errs <- err:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return errs
}

func echo(conn net.Conn) error {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(conn, b); err != nil {
		return err
	}
	if !bytes.Equal(b, []byte("ping")) {
		return errors.New("echo mismatch")
	}
	return nil
}

// TestRaftTLSSameKeyConnects: two clusters derived from the same key (two
// nodes) talk; TLS 1.3 with certificates both ways.
func TestRaftTLSSameKeyConnects(t *testing.T) {
	k, _ := GenerateKey()
	a, err := FromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := a.ListenRaft("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	conn, err := b.DialRaft(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st := conn.(*tls.Conn).ConnectionState()
	if st.Version != tls.VersionTLS13 || len(st.PeerCertificates) == 0 {
		t.Fatalf("version %x, %d peer certificates", st.Version, len(st.PeerCertificates))
	}
	if err := echo(conn); err != nil {
		t.Fatal(err)
	}
}

// TestRaftTLSRefusesOtherKeys: a node with another key can neither
// connect nor accept; nor can a TLS client without a certificate, nor
// plain TCP.
func TestRaftTLSRefusesOtherKeys(t *testing.T) {
	a, other := newKeyCluster(t), newKeyCluster(t)
	ln, err := a.ListenRaft("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := echoServer(t, ln)
	if conn, err := other.DialRaft(ln.Addr().String(), 5*time.Second); err == nil {
		conn.Close()
		t.Fatal("a node with another key connected")
	}
	if err := <-errs; err == nil {
		t.Fatal("the listener accepted a node with another key")
	}

	// The other direction: a keyed node dialing a listener of another key.
	oln, err := other.ListenRaft("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, oln)
	if conn, err := a.DialRaft(oln.Addr().String(), 5*time.Second); err == nil {
		conn.Close()
		t.Fatal("a node accepted a listener of another key")
	}

	// No client certificate.
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		err = echo(conn)
	}
	if err == nil {
		t.Fatal("a TLS client without a certificate was served")
	}
	// Plain TCP: whatever it sends, nothing comes back.
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	raw.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if b, err := io.ReadAll(raw); bytes.Contains(b, []byte("GET")) || isTimeout(err) {
		t.Fatalf("plain TCP: read %q, %v; want the connection closed", b, err)
	}
}

// TestNodeCertificateIsShortLivedAndRenewed: the node's certificate
// lasts certLifetime and a new one (a new key) is issued past its half.
func TestNodeCertificateIsShortLivedAndRenewed(t *testing.T) {
	caKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	ca, err := caCertificate(caKey)
	if err != nil {
		t.Fatal(err)
	}
	iss := &issuer{ca: ca, key: caKey}
	old, err := iss.issue(time.Now().Add(-certLifetime * 3 / 4))
	if err != nil {
		t.Fatal(err)
	}
	if d := old.Leaf.NotAfter.Sub(old.Leaf.NotBefore); d != certLifetime+clockSkew {
		t.Fatalf("validity %v", d)
	}
	iss.cur = old
	cur, err := iss.get()
	if err != nil {
		t.Fatal(err)
	}
	if cur == old || time.Until(cur.Leaf.NotAfter) < certLifetime-time.Minute {
		t.Fatal("a certificate past half its lifetime was not renewed")
	}
	if again, _ := iss.get(); again != cur {
		t.Fatal("a fresh certificate was replaced")
	}
}

// TestFromFiles: an operator's CA and node certificates; a certificate
// from another CA is refused.
func TestFromFiles(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := testCA(t)
	writeCA(t, dir, "ca.pem", caCert)
	n1 := writeNode(t, dir, "n1", caCert, caKey)
	n2 := writeNode(t, dir, "n2", caCert, caKey)
	otherCA, otherKey := testCA(t)
	writeCA(t, dir, "other-ca.pem", otherCA)
	stranger := writeNode(t, dir, "x", otherCA, otherKey)

	load := func(node [2]string, ca string) *Cluster {
		c, err := FromFiles(node[0], node[1], filepath.Join(dir, ca))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b, x := load(n1, "ca.pem"), load(n2, "ca.pem"), load(stranger, "other-ca.pem")
	ln, err := a.ListenRaft("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	conn, err := b.DialRaft(ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := echo(conn); err != nil {
		t.Fatal(err)
	}
	if conn, err := x.DialRaft(ln.Addr().String(), 5*time.Second); err == nil {
		if echo(conn) == nil {
			t.Fatal("a certificate of another CA was served")
		}
	}
	if _, err := FromFiles(n1[0], n1[1], n1[0]+".missing"); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("junk"), 0o600)
	if _, err := FromFiles(n1[0], n1[1], filepath.Join(dir, "junk.pem")); err == nil {
		t.Fatal("a CA file without a certificate was accepted")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func testCA(t *testing.T) (*x509.Certificate, ed25519.PrivateKey) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func writeCA(t *testing.T, dir, name string, c *x509.Certificate) {
	t.Helper()
	os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
}

func writeNode(t *testing.T, dir, name string, ca *x509.Certificate, caKey ed25519.PrivateKey) [2]string {
	t.Helper()
	iss := &issuer{ca: ca, key: caKey}
	c, err := iss.issue(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return [2]string{cert, key}
}
