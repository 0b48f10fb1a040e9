package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate (CN "bench-client"), each as PEM files in dir.
func testPKI(t *testing.T) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.pem", "CERTIFICATE", caDER)
	serverCert, serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	clientCert, clientKey = issue("bench-client", 3, x509.ExtKeyUsageClientAuth, nil)
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
