package mqtt_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/internal/testpki"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// userTopics lets a named user publish to u/<user>/# only.
type userTopics struct{}

func (userTopics) For(id auth.Identity) auth.Checker { return userChecker{id} }

type userChecker struct{ id auth.Identity }

func (u userChecker) Allow(r auth.Right, topic string) bool {
	return !u.id.Anonymous && u.id.User != "" && strings.HasPrefix(topic, "u/"+u.id.User+"/")
}
func (u userChecker) AllowFilter(auth.Right, string) bool { return false }

// startTLSBroker serves MQTT over TLS on loopback, asking clients for a
// certificate signed by ca (required or not).
func startTLSBroker(t *testing.T, ca *testpki.CA, require bool) (addr string, roots *x509.CertPool) {
	t.Helper()
	tb := startBroker(t, func(o *mqtt.Options) { o.Authorizer = userTopics{} })
	srvCA := testpki.NewCA(t, "server CA")
	conf := &tls.Config{Certificates: []tls.Certificate{srvCA.Issue(t, &x509.Certificate{}, true)},
		ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	if require {
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tb.broker.Serve(tls.NewListener(ln, conf), "tls")
	return ln.Addr().String(), srvCA.Pool()
}

// dialTLS connects an MQTT 5 raw client over TLS, presenting cert if any.
func dialTLS(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) (*rawClient, error) {
	t.Helper()
	conf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Sent even when the broker's list of CAs does not name its issuer.
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	// TLS 1.3 reports a refused client certificate on the first read.
	rc := &rawClient{t: t, nc: nc, version: packet.Version5, in: make(chan packet.Packet, 4096),
		closed: make(chan struct{}), aliases: map[uint16]string{}}
	go rc.readLoop()
	t.Cleanup(func() { nc.Close() })
	return rc, nil
}

// TestClientCertIdentity: a client presenting a certificate signed by the
// client CA acts as the certificate's subject (CN, else a SAN) for the
// authorizer, whatever user name it sends; a client without one is
// anonymous; a certificate from another CA is refused in the handshake.
func TestClientCertIdentity(t *testing.T) {
	ca := testpki.NewCA(t, "client CA")
	addr, roots := startTLSBroker(t, ca, false)
	alice := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}, false)
	bob := ca.Issue(t, &x509.Certificate{EmailAddresses: []string{"bob@example.com"}}, false)
	for _, tc := range []struct {
		cert      *tls.Certificate
		topic     string
		allowed   bool
		userClaim string
	}{
		{&alice, "u/alice/x", true, "mallory"},
		{&alice, "u/bob@example.com/x", false, ""},
		{&bob, "u/bob@example.com/x", true, ""},
		{nil, "u/alice/x", false, ""},
	} {
		rc, err := dialTLS(t, addr, roots, tc.cert)
		if err != nil {
			t.Fatal(err)
		}
		cp := &packet.Connect{ClientID: "c", CleanStart: true}
		if tc.userClaim != "" {
			cp.HasUsername, cp.Username, cp.HasPassword, cp.Password = true, tc.userClaim, true, []byte("x")
		}
		if ack := rc.connect(cp); ack.ReasonCode != 0 {
			t.Fatalf("%s: CONNACK %v", tc.topic, ack.ReasonCode)
		}
		code := rc.publish(&packet.Publish{Topic: tc.topic, QoS: 1, Payload: []byte("x")})
		if allowed := !code.IsError(); allowed != tc.allowed { // 0x10 when nobody subscribes
			t.Errorf("publish %q with cert %v: code %v, want allowed %v", tc.topic, tc.cert != nil, code, tc.allowed)
		}
		rc.close()
	}
	other := testpki.NewCA(t, "other CA").Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}, false)
	if rc, err := dialTLS(t, addr, roots, &other); err == nil {
		refusedBeforeConnect(t, rc)
	}
}

// refusedBeforeConnect checks that a client's CONNECT gets no answer but the
// end of the connection (the handshake failed on the broker's side).
func refusedBeforeConnect(t *testing.T, rc *rawClient) {
	t.Helper()
	rc.send(&packet.Connect{ProtocolVersion: packet.Version5, ClientID: "c", CleanStart: true})
	p, err := rc.next(5 * time.Second)
	if err == nil || err == errTimeout {
		t.Fatalf("the connection was not refused: %T %v", p, err)
	}
}

// TestRequireClientCert: with a required client certificate, a TLS client
// without one never reaches CONNECT.
func TestRequireClientCert(t *testing.T) {
	ca := testpki.NewCA(t, "client CA")
	addr, roots := startTLSBroker(t, ca, true)
	rc, err := dialTLS(t, addr, roots, nil)
	if err == nil {
		refusedBeforeConnect(t, rc)
	}
	alice := ca.Issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}, false)
	rc, err = dialTLS(t, addr, roots, &alice)
	if err != nil {
		t.Fatal(err)
	}
	if ack := rc.connect(&packet.Connect{ClientID: "c", CleanStart: true}); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %v with a certificate", ack.ReasonCode)
	}
}
