package mqtt

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt/packet"
)

// connectFailed answers a CONNECT that did not decode. A protocol level the
// broker does not speak gets return code 0x01 in the 3.1.1 format (remaining
// length 2) whatever the level [MQTT-3.1.2-2]: a client of an unknown level
// cannot be assumed to read the 5.0 format, and 3.x and 5.0 clients all read
// this one. Other malformed CONNECTs of a 5.0 client get CONNACK with the
// reason code; a wrong protocol name (not MQTT) and the rest are just closed
// [MQTT-3.1.2-1] [MQTT-4.8.0-1] (docs/mqtt.md).
func (c *conn) connectFailed(p packet.Packet, err error) {
	var code packet.ReasonCode
	if !errors.As(err, &code) {
		c.shutdown(0, "")
		return
	}
	cp, _ := p.(*packet.Connect)
	switch {
	case code == packet.ErrUnsupportedProtocolVersion:
		c.version = packet.Version311
	case cp != nil && cp.ProtocolVersion == packet.Version5:
		c.version = packet.Version5
	default:
		c.shutdown(0, "") // [MQTT-4.8.0-1]
		return
	}
	c.queueCtrl(&packet.Connack{ReasonCode: code})
	c.shutdown(0, err.Error())
}

// refusal is why a CONNECT is refused: its CONNACK code and reason.
type refusal struct {
	code packet.ReasonCode
	why  string
}

func refuse(code packet.ReasonCode, why string) *refusal { return &refusal{code, why} }

// session is what a CONNECT asks of its session, once checked.
type session struct {
	assigned  string // client id assigned by the broker, if any
	will      *fsm.Will
	expiry    uint32
	keepAlive uint16 // in force: CONNACK's Server Keep Alive
}

// connect handles the CONNECT: checks, then proposes the SessionConnect and
// waits until it applied here. It reports whether the connection is
// established.
func (c *conn) connect(cp *packet.Connect) bool {
	c.version = cp.ProtocolVersion
	if c.version == packet.Version5 {
		// Known before any refusal: a refusing CONNACK must fit too
		// [MQTT-3.2.2-19/20].
		c.cliMaxPacket = cp.Properties.MaximumPacketSize
	}
	s, r := c.admit(cp)
	if r == nil {
		r = c.establish(cp, s)
	}
	if r != nil {
		ack := &packet.Connack{ReasonCode: r.code}
		if c.version == packet.Version5 {
			ack.Properties.ReasonString = r.why
		}
		ev := c.logger.Info()
		if c.clientID == "" { // settle, which puts the client in c.logger, did not run
			ev = ev.Str("client", cp.ClientID)
		}
		ev.Str("protocol", protocolName(c.version)).Str("listener", c.listener.Name).
			Str("reason", r.code.String()).Str("why", r.why).Msg("connection refused")
		c.queueCtrl(ack)
		c.shutdown(0, r.why)
		return false
	}
	return true
}

// admit checks a CONNECT's credentials, client identifier, will and
// limits, and settles the connection's parameters and its ACL checker.
func (c *conn) admit(cp *packet.Connect) (session, *refusal) {
	var s session
	if r := c.authenticate(cp); r != nil {
		c.b.stats.AuthFailures.Add(1)
		return s, r
	}
	if max := c.b.o.MaxConnections; max > 0 && c.b.stats.Connections.Load() > int64(max) {
		return s, refuse(packet.CodeQuotaExceeded, fmt.Sprintf("the broker holds its maximum of %d connections", max))
	}
	var r *refusal
	if s.assigned, r = c.clientIdentifier(cp); r != nil {
		return s, r
	}
	c.settle(cp, &s) // resolves the checker too: every packet and delivery asks it
	if s.will, r = c.checkWill(cp.Will); r != nil {
		return s, r
	}
	if err := c.b.applying(); err != nil {
		// It could not apply the session, nor deliver: send the client elsewhere.
		return s, refuse(packet.CodeServerUnavailable, "this node is not applying the log: "+err.Error())
	}
	return s, nil
}

// authenticate checks the credentials and records who the client is
// (c.identity, its client id aside): a signed key given as the password, a
// verified client certificate, a password file user, or an anonymous client.
// Without a password file a user name proves nothing: the client is
// anonymous, and the ACL's user rules do not apply to it. A banned address
// costs no verification at all.
func (c *conn) authenticate(cp *packet.Connect) *refusal {
	b := c.b
	remote := c.nc.RemoteAddr().String()
	keyed := b.o.Keys != nil && auth.LooksLikeToken(string(cp.Password))
	switch {
	case cp.Properties.AuthMethod != "":
		return refuse(packet.CodeBadAuthenticationMethod, "enhanced authentication is not supported")
	case (keyed || b.o.Auth != nil && cp.HasUsername) && b.o.AuthLimiter.Banned(remote):
		return refuse(packet.CodeBanned, "too many failed authentications from this address: try again later")
	case keyed:
		r := c.admitKey(cp) // a signed key, whatever the user name
		if r != nil && r.code == packet.CodeBadUsernameOrPassword {
			b.o.AuthLimiter.Failed(remote) // forged or expired: a guess
		}
		return r
	case certUser(c.nc) != "":
		c.identity.User = certUser(c.nc) // a verified client certificate names the user
	case b.o.Auth != nil && cp.HasUsername:
		if !b.o.Auth.Authenticate(cp.Username, cp.Password) {
			b.o.AuthLimiter.Failed(remote)
			return refuse(packet.CodeBadUsernameOrPassword, "bad user name or password")
		}
		c.identity.User = cp.Username
	case !c.listener.Anonymous:
		return refuse(packet.CodeNotAuthorized, "anonymous clients are not allowed on this listener")
	default:
		c.identity.Anonymous = true
	}
	return nil
}

// clientIdentifier checks the client id, or assigns one [MQTT-3.1.3-6].
func (c *conn) clientIdentifier(cp *packet.Connect) (assigned string, r *refusal) {
	switch {
	case cp.ClientID == "" && c.version != packet.Version5 && !cp.CleanStart:
		return "", refuse(packet.CodeClientIdentifierNotValid, "a persistent session needs a client identifier") // [MQTT-3.1.3-8]
	case cp.ClientID == "":
		var r [9]byte
		rand.Read(r[:])
		cp.ClientID = "strata-" + hex.EncodeToString(r[:])
		return cp.ClientID, nil
	case strings.HasPrefix(cp.ClientID, "$"):
		return "", refuse(packet.CodeClientIdentifierNotValid, "client identifiers starting with '$' are reserved")
	}
	return "", nil
}

func (c *conn) checkWill(w *packet.Will) (*fsm.Will, *refusal) {
	if w == nil {
		return nil, nil
	}
	if err := c.checkTopic(w.Topic); err != nil {
		return nil, refuse(packet.CodeTopicNameInvalid, "will topic: "+err.Error())
	}
	if reservedTopic(w.Topic) {
		return nil, refuse(packet.CodeNotAuthorized, "clients cannot publish to $SYS/ or $presence/")
	}
	if !c.acl.Allow(auth.Publish, w.Topic) {
		return nil, refuse(packet.CodeNotAuthorized, "not allowed to publish the will's topic")
	}
	if err := checkResponseTopic(&w.Properties); err != nil {
		return nil, refuse(packet.CodeProtocolError, "will "+err.Error())
	}
	if w.Properties.PayloadFormat == 1 && !utf8.Valid(w.Payload) {
		return nil, refuse(packet.CodePayloadFormatInvalid, "will payload is not UTF-8 as its payload format indicator says")
	}
	return &fsm.Will{Message: fsm.Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain,
		Props: messageProps(&w.Properties)}, DelaySeconds: w.Properties.WillDelaySeconds}, nil
}

// settle fixes the connection's keep alive, session expiry, windows and
// client id from the CONNECT.
func (c *conn) settle(cp *packet.Connect, s *session) {
	b, v5 := c.b, c.version == packet.Version5
	s.keepAlive = cp.KeepAliveSeconds
	if max := b.o.MaxKeepAlive; v5 && max > 0 && (s.keepAlive == 0 || s.keepAlive > max) {
		s.keepAlive = max // [MQTT-3.2.2-21]
	}
	c.keepAlive = time.Duration(s.keepAlive) * time.Second
	switch {
	case v5:
		s.expiry = cp.Properties.SessionExpirySeconds
	case !cp.CleanStart:
		s.expiry = fsm.NeverExpire
	}
	c.expiryZero = s.expiry == 0
	c.window = int(b.o.MaxInflight)
	if v5 {
		if rm := cp.Properties.ReceiveMaximum; rm > 0 && int(rm) < c.window {
			c.window = int(rm) // [MQTT-3.3.4-7]
		}
		c.cliMaxPacket = cp.Properties.MaximumPacketSize
		c.cliAliasMax = cp.Properties.TopicAliasMaximum
		// Absent means 1 (section 3.1.2.11.7).
		c.noProblemInfo = cp.Properties.Has(packet.PropRequestProblemInfo) && cp.Properties.RequestProblemInfo == 0
	}
	c.clientID = cp.ClientID
	c.logger = c.logger.With().Str("client", c.clientID).Logger()
	c.scope()
}

// establish proposes the SessionConnect, waits until it applied on this
// node (Apply has then handed this connection its resume), and queues the
// CONNACK.
func (c *conn) establish(cp *packet.Connect, s session) *refusal {
	e := fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: c.clientID,
		Connect: fsm.Connect{CleanStart: cp.CleanStart, ExpirySeconds: s.expiry, ProtocolVersion: c.version, Node: c.name, Will: s.will}}
	f := c.propose(&e)
	t := time.NewTimer(c.b.o.CommitTimeout)
	defer t.Stop()
	select {
	case <-f.Done():
	case <-t.C:
		// It may still commit: the sweep then ends a session no connection holds.
		return refuse(packet.CodeServerUnavailable, "the cluster did not apply the connection in time")
	}
	off, err := f.Wait()
	if err != nil {
		return refuse(packet.CodeServerUnavailable, "the cluster did not accept the connection: "+err.Error())
	}
	c.connOff.Store(uint64(off))
	ack := c.connack(s)
	c.mu.Lock()
	for _, id := range c.b.o.Views.View().AwaitingRelease(c.clientID) {
		c.mu.inQoS2[id] = true
	}
	if c.mu.resume != nil {
		ack.SessionPresent = c.mu.resume.SessionPresent
	}
	if !c.mu.closing {
		c.mu.ctrl = append(c.mu.ctrl, ack)
		c.mu.established = true
		c.mu.proposeEnd, c.mu.endReason = true, fsm.ReasonWithWill
	}
	c.mu.Unlock()
	c.signal()
	c.b.register(c)
	c.watchKey()
	c.b.stats.ConnectsTotal.Add(1)
	c.logger.Info().Str("protocol", protocolName(c.version)).Str("listener", c.listener.Name).
		Uint64("offset", uint64(off)).Bool("session_present", ack.SessionPresent).Msg("connected")
	return nil
}

// protocolName names an MQTT protocol version for the logs.
func protocolName(v byte) string {
	switch v {
	case packet.Version5:
		return "5.0"
	case packet.Version311:
		return "3.1.1"
	case packet.Version31:
		return "3.1"
	}
	return "unknown"
}

// logEnd logs, at info, the end of a connection that was established
// (refused ones were logged as such): who (the logger has the client, node
// and remote address) and why, as the broker's reason code and text or
// the client's doing.
func (c *conn) logEnd() {
	c.mu.Lock()
	est, code, why := c.mu.established, c.mu.closeCode, c.mu.closeWhy
	c.mu.Unlock()
	if !est {
		return
	}
	ev := c.logger.Info().Str("protocol", protocolName(c.version)).Str("listener", c.listener.Name)
	if code != 0 {
		ev = ev.Str("reason", code.String())
	}
	ev.Str("why", cmp.Or(why, "connection closed")).Msg("disconnected")
}

// connack is the CONNACK of an accepted connection, session present aside.
// In 5.0 it states every capability and limit, so a client adapts at once
// rather than learning them from refusals (section 3.2.2.3): Maximum QoS is
// left out because every QoS is served (absent means 2), the availability
// flags are sent as 1 although absent means the same, because clients and
// conformance tools read them. Server Keep Alive is always sent: it is the
// keep alive this connection is held to [MQTT-3.2.2-21].
func (c *conn) connack(s session) *packet.Connack {
	ack := &packet.Connack{}
	if c.version != packet.Version5 {
		return ack
	}
	pp := &ack.Properties
	pp.AssignedClientID = s.assigned
	pp.ServerKeepAliveSeconds = s.keepAlive
	pp.Present.Add(packet.PropServerKeepAlive) // 0 too: no keep alive
	pp.ReceiveMaximum = c.b.o.ReceiveMaximum
	pp.TopicAliasMaximum = c.b.o.TopicAliasMaximum
	pp.MaximumPacketSize = c.b.o.MaxPacketSize
	pp.RetainAvailable = 1
	pp.WildcardSubAvailable = 1
	pp.SubIDAvailable = 1
	pp.SharedSubAvailable = 1
	return ack
}

// disconnect handles the client's DISCONNECT: the will is discarded unless
// the reason is 0x04 [MQTT-3.14.4-3]; a new session expiry may be set, but
// not from zero [MQTT-3.14.2-2].
func (c *conn) disconnect(p *packet.Disconnect) bool {
	var exp *uint32
	if c.version == packet.Version5 && p.Properties.Has(packet.PropSessionExpiry) {
		if c.expiryZero && p.Properties.SessionExpirySeconds != 0 {
			c.fail(packet.CodeProtocolError, "session expiry set in DISCONNECT after 0 in CONNECT")
			return false
		}
		v := p.Properties.SessionExpirySeconds
		exp = &v
	}
	reason := fsm.ReasonNormal
	if p.ReasonCode == packet.CodeDisconnectWithWill {
		reason = fsm.ReasonWithWill
	}
	c.mu.Lock()
	if c.mu.proposeEnd {
		c.mu.endReason, c.mu.endExpiry = reason, exp
	}
	c.mu.closing = true // nothing is sent after a client's DISCONNECT
	if c.mu.closeWhy == "" {
		c.mu.closeWhy = "the client sent DISCONNECT (" + p.ReasonCode.String() + ")" // for the log only: code 0 sends nothing
	}
	c.mu.Unlock()
	c.signal()
	return false
}

// end proposes, once the connection is gone, the acknowledgements it still
// held and the session's disconnect (unless the fsm already knows the
// session left it), and waits for them up to EndTimeout: the connection
// stays known meanwhile, so the sweep does not race it.
func (c *conn) end() {
	c.mu.Lock()
	propose, reason, exp := c.mu.proposeEnd, c.mu.endReason, c.mu.endExpiry
	c.mu.proposeEnd = false
	acks := c.takeAcksLocked(true)
	c.mu.Unlock()
	var es []*fsm.Entry
	if len(acks.acks) > 0 {
		es = append(es, c.ackEntry(acks.acks))
	}
	if propose {
		d := fsm.Disconnect{Reason: reason, Since: c.connectOffset()}
		if exp != nil {
			d.HasExpiry, d.ExpirySeconds = true, *exp
		}
		es = append(es, &fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: c.clientID, Disconnect: d})
	}
	if len(es) == 0 {
		return
	}
	f := c.propose(es...)
	t := time.NewTimer(c.b.o.EndTimeout)
	defer t.Stop()
	select {
	case <-f.Done():
		if _, err := f.Wait(); err != nil && propose {
			c.logger.Warn().Err(err).Msg("disconnect not committed; the sweep will retry")
		}
	case <-t.C:
	}
}
