package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/mqtt/packet"
)

// Identity and scope of a connection: a signed key given as the password
// (auth.Keys), a verified TLS client certificate, a password file user or
// an anonymous client. docs/security.md, "Keys and client certificates".

// admitKey checks a CONNECT whose password is a signed key: valid, not
// revoked, and the client id carrying the key's prefix. The key is recorded
// on the connection before the revocation view is read, so a revocation
// applied at any moment either is seen here or finds the connection
// (Broker.revokeKey).
func (c *conn) admitKey(cp *packet.Connect) *refusal {
	id, err := c.b.o.Keys.Verify(string(cp.Password))
	switch {
	case errors.Is(err, auth.ErrKeyRevoked):
		return refuse(packet.CodeNotAuthorized, "key revoked")
	case errors.Is(err, auth.ErrKeyExpired):
		return refuse(packet.CodeBadUsernameOrPassword, "key expired")
	case err != nil:
		return refuse(packet.CodeBadUsernameOrPassword, "invalid key")
	}
	k := id.Key
	if !strings.HasPrefix(cp.ClientID, k.ClientIDPrefix) || (cp.ClientID == "" && k.ClientIDPrefix != "") {
		return refuse(packet.CodeNotAuthorized, "the key needs a client identifier starting with its prefix")
	}
	c.key.Store(k)
	if c.b.o.Views.View().KeyRevoked(k.ID) {
		return refuse(packet.CodeNotAuthorized, "key revoked")
	}
	id.User, id.ClientID = cp.Username, cp.ClientID
	c.identity = id
	return nil
}

// certUser is the name a verified TLS client certificate gives its holder:
// the subject's common name, else its first DNS, e-mail or URI SAN; "" when
// the connection is not TLS or no certificate was verified.
func certUser(nc interface{}) string {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return certName(st.VerifiedChains[0][0])
}

func certName(cert *x509.Certificate) string {
	switch {
	case cert.Subject.CommonName != "":
		return cert.Subject.CommonName
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	case len(cert.EmailAddresses) > 0:
		return cert.EmailAddresses[0]
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	}
	return ""
}

// scope resolves what the connection may do, once its identity is known.
func (c *conn) scope() {
	c.identity.ClientID = c.clientID
	c.acl = auth.KeyScope{Base: c.b.authorizer}.For(c.identity)
}

// watchKey closes the connection when its key expires: DISCONNECT 0xA0
// (maximum connect time) to an MQTT 5 client.
func (c *conn) watchKey() {
	k := c.key.Load()
	if k == nil {
		return
	}
	t := time.AfterFunc(time.Until(k.Expires), func() {
		c.logger.Info().Str("key", k.ID).Msg("key expired: closing the connection")
		c.shutdown(packet.CodeMaximumConnectTime, "key expired")
	})
	go func() {
		<-c.done
		t.Stop()
	}()
}

// revokeKey closes this node's connections admitted with the key id: MQTT 5
// clients get DISCONNECT 0x87. Called by Apply (the dispatcher), it only
// queues the close.
func (b *Broker) revokeKey(id string) {
	b.mu.Lock()
	var hit []*conn
	for _, c := range b.conns {
		if k := c.key.Load(); k != nil && k.ID == id {
			hit = append(hit, c)
		}
	}
	b.mu.Unlock()
	for _, c := range hit {
		c.logger.Info().Str("key", id).Msg("key revoked: closing the connection")
		c.shutdown(packet.CodeNotAuthorized, "key revoked")
	}
}
