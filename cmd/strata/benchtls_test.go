package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/internal/testpki"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (CN "bench-client"), each as PEM files in dir.
func testPKI(t *testing.T) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	authority := testpki.NewCA(t, "test CA")
	ca = testpki.WritePEM(t, dir, "ca.pem", "CERTIFICATE", authority.Cert.Raw)
	serverCert, serverKey = testpki.WriteCert(t, dir, "server", authority.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "server"}}, true))
	clientCert, clientKey = testpki.WriteCert(t, dir, "bench-client",
		authority.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "bench-client"}}, false))
	return
}

// TestBenchClientCertificate: `strata bench` against ssl:// with a client
// certificate connects to a node that requires one (both engines), and is
// refused without it.
func TestBenchClientCertificate(t *testing.T) {
	bin := buildStrata(t)
	ca, sc, sk, cc, ck := testPKI(t)
	tlsAddr := freeAddr(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: t.TempDir()}
	startNode(t, bin, p, "", "--mqtt-tls", tlsAddr, "--tls-cert", sc, "--tls-key", sk,
		"--tls-client-ca", ca, "--require-client-cert")
	defer stopNode(t, p)
	waitFor(t, "the MQTT TLS listener", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", tlsAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	args := []string{"bench", "--broker", "ssl://" + tlsAddr, "--tls-ca", ca, "--scenario", "connections",
		"--subscribers", "5", "--rate", "20", "--duration", "500ms", "--drain", "2s", "--quiet"}
	for _, engine := range []string{"paho", "lean"} {
		out, err := exec.Command(bin, append(args, "--client", engine, "--tls-cert", cc, "--tls-key", ck)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s with a client certificate: %v\n%s", engine, err, out)
		}
		out, err = exec.Command(bin, append(args, "--client", engine)...).CombinedOutput()
		if err == nil {
			t.Fatalf("%s without a client certificate connected to a node requiring one:\n%s", engine, out)
		}
	}
	if out, err := exec.Command(bin, "bench", "--tls-cert", cc).CombinedOutput(); err == nil || !strings.Contains(string(out), "--tls-key") {
		t.Fatalf("--tls-cert without --tls-key: %v %s", err, out)
	}
}
