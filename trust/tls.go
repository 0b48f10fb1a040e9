package trust

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"time"
)

// Cluster holds how this node proves itself to its peers and checks
// theirs. The zero value (or nil) is a cluster without trust: plain TCP,
// allowed only on loopback (cmd/strata enforces that).
type Cluster struct {
	serverConf, clientConf *tls.Config
}

// Secure reports whether node-to-node traffic is mutually authenticated
// and encrypted.
func (c *Cluster) Secure() bool { return c != nil && c.serverConf != nil }

// ServerTLS and ClientTLS return the TLS configurations (nil for a
// cluster without trust): TLS 1.3 only, a certificate required from
// both sides and verified against the cluster's CA.
func (c *Cluster) ServerTLS() *tls.Config {
	if !c.Secure() {
		return nil
	}
	return c.serverConf.Clone()
}

func (c *Cluster) ClientTLS() *tls.Config {
	if !c.Secure() {
		return nil
	}
	return c.clientConf.Clone()
}

// Info labels for keys derived from the cluster key: each use has its own,
// so that no derived key can stand in for another.
const caInfo = "strata cluster CA v1"

// Lifetime of a node's certificate derived from the cluster key; it is
// re-issued once half of it has passed. A certificate is backdated by
// clockSkew, so that peers whose clocks differ that much accept it.
const (
	certLifetime = 24 * time.Hour
	clockSkew    = time.Hour
)

// FromKey derives the cluster's trust from its key: an Ed25519 CA whose
// private key is HKDF-SHA256(key, info "strata cluster CA v1"), identical
// on every node holding the key, and a short-lived certificate of this
// node's own, freshly generated key, signed by that CA. Peers accept
// exactly the certificates that CA signed, so only holders of the key.
func FromKey(k Key) (*Cluster, error) {
	seed, err := hkdf.Key(sha256.New, k[:], nil, caInfo, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("trust: derive the cluster CA: %w", err)
	}
	caKey := ed25519.NewKeyFromSeed(seed)
	ca, err := caCertificate(caKey)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	issuer := &issuer{ca: ca, key: caKey}
	if _, err := issuer.get(); err != nil {
		return nil, err
	}
	return newCluster(roots, issuer.get), nil
}

// caCertificate is the derived CA's self-signed certificate. Its fields
// are fixed, so every node builds the same one.
func caCertificate(key ed25519.PrivateKey) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata cluster CA"},
		NotBefore:             time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("trust: create the cluster CA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// issuer holds this node's certificate signed by the derived CA and
// issues a new one (with a new key) once half its lifetime has passed.
type issuer struct {
	ca  *x509.Certificate
	key ed25519.PrivateKey
	mu  sync.Mutex
	cur *tls.Certificate
}

func (i *issuer) get() (*tls.Certificate, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cur != nil && time.Until(i.cur.Leaf.NotAfter) > certLifetime/2 {
		return i.cur, nil
	}
	c, err := i.issue(time.Now())
	if err != nil {
		return nil, err
	}
	i.cur = c
	return c, nil
}

func (i *issuer) issue(now time.Time) (*tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("trust: node key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("trust: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "strata node"},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.ca, pub, i.key)
	if err != nil {
		return nil, fmt.Errorf("trust: sign the node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("trust: parse the node certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// FromFiles loads an operator's own PKI: this node's certificate (chain)
// and key, PEM, and the CA that signed every node's certificate. Any
// certificate that CA signed is accepted as a member of the cluster, so
// it must be a CA dedicated to the cluster.
func FromFiles(certFile, keyFile, caFile string) (*Cluster, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("trust: --cluster-tls-cert/--cluster-tls-key: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("trust: --cluster-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("trust: --cluster-ca %s holds no PEM certificate", caFile)
	}
	return newCluster(roots, func() (*tls.Certificate, error) { return &cert, nil }), nil
}

func newCluster(roots *x509.CertPool, cert func() (*tls.Certificate, error)) *Cluster {
	verify := verifyPeer(roots)
	server := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		ClientAuth:       tls.RequireAnyClientCert, // verified by VerifyConnection
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert() },
		VerifyConnection: verify,
	}
	client := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Peers are known by the CA that signed them, not by a host name
		// (Raft addresses are often bare IPs): VerifyConnection checks the
		// chain instead of the default verification, as crypto/tls's
		// example for custom verification does.
		InsecureSkipVerify:   true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert() },
		VerifyConnection:     verify,
	}
	return &Cluster{serverConf: server, clientConf: client}
}

// verifyPeer checks that the peer presented a certificate chaining to
// roots, valid now. TLS 1.3 has already checked that the peer holds the
// certificate's private key.
func verifyPeer(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("trust: the peer presented no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("trust: the peer is not a member of this cluster: %w", err)
		}
		return nil
	}
}
