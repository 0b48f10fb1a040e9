package packet

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

// gen builds random packets that are valid for one version.
type gen struct {
	r       *rand.Rand
	version byte
}

var genRunes = []rune{'a', 'z', '0', '/', '-', 'é', '€', '\uFEFF', '𝄞', '\u0001'}

func (g gen) string(maxLen int) string {
	n := g.r.IntN(maxLen + 1)
	rs := make([]rune, n)
	for i := range rs {
		rs[i] = genRunes[g.r.IntN(len(genRunes))]
	}
	return string(rs)
}

func (g gen) topic() string {
	if s := g.string(12); s != "" {
		return s
	}
	return "t"
}

func (g gen) filter() string {
	return []string{"a/+/c", "#", "a/b", "$share/g/x/#", "+", g.topic()}[g.r.IntN(6)]
}

func (g gen) bytes(maxLen int) []byte {
	n := g.r.IntN(maxLen + 1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

func (g gen) qos() byte    { return byte(g.r.IntN(3)) }
func (g gen) bool() bool   { return g.r.IntN(2) == 0 }
func (g gen) id() uint16   { return uint16(1 + g.r.IntN(65535)) }
func (g gen) is5() bool    { return g.version == Version5 }
func (g gen) chance() bool { return g.r.IntN(3) == 0 }

// props returns random properties allowed in t (none before MQTT 5.0).
func (g gen) props(t Type) Properties {
	var p Properties
	if !g.is5() {
		return p
	}
	for id, info := range propTable {
		if info.kind == kindNone || info.allowed&(1<<t) == 0 || !g.chance() {
			continue
		}
		g.setProp(&p, PropertyID(id), info, t)
	}
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		p.AuthMethod = g.string(5)
		p.Present.Add(PropAuthMethod)
	}
	return p
}

func (g gen) setProp(p *Properties, id PropertyID, info propInfo, t Type) {
	if info.kind != kindVarint && info.kind != kindPair {
		p.Present.Add(id)
	}
	switch info.kind {
	case kindByte:
		*p.bytePtr(id) = byte(g.r.IntN(2))
	case kindUint16:
		*p.uint16Ptr(id) = uint16(g.r.UintN(65536))
	case kindUint32:
		*p.uint32Ptr(id) = g.r.Uint32()
	case kindString:
		*p.stringPtr(id) = g.string(8)
	case kindBinary:
		*p.binaryPtr(id) = g.bytes(8)
	case kindVarint:
		p.SubscriptionIDs = []uint32{1 + g.r.Uint32N(MaxVarint)}
		if t == TypePublish && g.bool() {
			p.SubscriptionIDs = append(p.SubscriptionIDs, 1+g.r.Uint32N(127))
		}
	case kindPair:
		for range 1 + g.r.IntN(3) {
			p.UserProperties = append(p.UserProperties, UserProperty{g.string(4), g.string(4)})
		}
	}
	if info.rule == ruleNonZero && info.kind == kindUint16 && *p.uint16Ptr(id) == 0 {
		*p.uint16Ptr(id) = 1
	}
	if info.rule == ruleNonZero && info.kind == kindUint32 && *p.uint32Ptr(id) == 0 {
		*p.uint32Ptr(id) = 1
	}
}

func (g gen) reason(codes *codeSet) ReasonCode {
	for {
		if c := ReasonCode(g.r.UintN(256)); codes.has(c) {
			return c
		}
	}
}

func (g gen) connect() Packet {
	c := &Connect{ProtocolName: protocolName(g.version), ProtocolVersion: g.version,
		CleanStart: g.bool(), KeepAliveSeconds: uint16(g.r.UintN(65536)),
		Properties: g.props(TypeConnect), ClientID: g.string(23)}
	if g.bool() {
		c.Will = &Will{QoS: g.qos(), Retain: g.bool(), Properties: g.props(typeWill),
			Topic: g.topic(), Payload: g.bytes(20)}
	}
	if c.HasUsername = g.bool(); c.HasUsername {
		c.Username = g.string(8)
	}
	if c.HasPassword = g.bool() && (c.HasUsername || g.is5()); c.HasPassword {
		c.Password = g.bytes(8)
	}
	return c
}

func (g gen) connack() Packet {
	c := &Connack{ReasonCode: CodeSuccess}
	if g.is5() {
		c.ReasonCode, c.Properties = g.reason(&connackCodes), g.props(TypeConnack)
	} else if g.bool() {
		code, _ := ReturnCode(g.r.IntN(6)).ReasonCode()
		c.ReasonCode = code
	}
	c.SessionPresent = c.ReasonCode == CodeSuccess && g.version != Version31 && g.bool()
	return c
}

func (g gen) publish() Packet {
	p := &Publish{QoS: g.qos(), Retain: g.bool(), Topic: g.topic(), Properties: g.props(TypePublish), Payload: g.bytes(40)}
	if p.QoS > 0 {
		p.Dup, p.PacketID = g.bool(), g.id()
	}
	if p.Properties.TopicAlias != 0 && g.bool() {
		p.Topic = ""
	}
	return p
}

func (g gen) ack(t Type, codes *codeSet) ack {
	a := ack{PacketID: uint16(g.r.UintN(65536))}
	if g.is5() && g.bool() {
		a.ReasonCode, a.Properties = g.reason(codes), g.props(t)
	}
	return a
}

func (g gen) subscribe() Packet {
	s := &Subscribe{PacketID: g.id(), Properties: g.props(TypeSubscribe)}
	for range 1 + g.r.IntN(4) {
		o := Subscription{Filter: g.filter(), QoS: g.qos()}
		if g.is5() {
			o.RetainAsPublished, o.RetainHandling = g.bool(), byte(g.r.IntN(3))
			o.NoLocal = g.bool() && o.Filter[0] != '$'
		}
		s.Subscriptions = append(s.Subscriptions, o)
	}
	return s
}

func (g gen) suback() Packet {
	s := &Suback{PacketID: g.id(), Properties: g.props(TypeSuback)}
	codes := &subackCodes
	if !g.is5() {
		codes = &subackCodesV4
	}
	for range 1 + g.r.IntN(4) {
		s.ReasonCodes = append(s.ReasonCodes, g.reason(codes))
	}
	return s
}

func (g gen) unsubscribe() Packet {
	u := &Unsubscribe{PacketID: g.id(), Properties: g.props(TypeUnsubscribe)}
	for range 1 + g.r.IntN(4) {
		u.Filters = append(u.Filters, g.filter())
	}
	return u
}

func (g gen) unsuback() Packet {
	u := &Unsuback{PacketID: g.id()}
	if g.is5() {
		u.Properties = g.props(TypeUnsuback)
		for range 1 + g.r.IntN(4) {
			u.ReasonCodes = append(u.ReasonCodes, g.reason(&unsubackCode))
		}
	}
	return u
}

func (g gen) disconnect() Packet {
	d := &Disconnect{}
	if g.is5() && g.bool() {
		d.ReasonCode, d.Properties = g.reason(&disconnCodes), g.props(TypeDisconnect)
	}
	return d
}

func (g gen) auth() Packet {
	a := &Auth{}
	if g.bool() {
		a.ReasonCode, a.Properties = g.reason(&authCodes), g.props(TypeAuth)
		a.Properties.AuthMethod = "m" + g.string(4)
		a.Properties.Present.Add(PropAuthMethod)
	}
	return a
}

func (g gen) packet(t Type) Packet {
	switch t {
	case TypeConnect:
		return g.connect()
	case TypeConnack:
		return g.connack()
	case TypePublish:
		return g.publish()
	case TypePuback:
		a := Puback(g.ack(t, &pubackCodes))
		return &a
	case TypePubrec:
		a := Pubrec(g.ack(t, &pubackCodes))
		return &a
	case TypePubrel:
		a := Pubrel(g.ack(t, &pubrelCodes))
		return &a
	case TypePubcomp:
		a := Pubcomp(g.ack(t, &pubrelCodes))
		return &a
	case TypeSubscribe:
		return g.subscribe()
	case TypeSuback:
		return g.suback()
	case TypeUnsubscribe:
		return g.unsubscribe()
	case TypeUnsuback:
		return g.unsuback()
	case TypePingreq:
		return &Pingreq{}
	case TypePingresp:
		return &Pingresp{}
	case TypeDisconnect:
		return g.disconnect()
	}
	return g.auth()
}

// TestRoundTrip encodes random valid packets of every type and version and
// checks they decode to an equal packet, with Size matching the encoding.
func TestRoundTrip(t *testing.T) {
	seed := uint64(rand.Int64())
	r := rand.New(rand.NewPCG(seed, 0x5742a7a))
	iterations := 300
	if testing.Short() {
		iterations = 60
	}
	for _, version := range []byte{Version31, Version311, Version5} {
		g := gen{r: r, version: version}
		for typ := TypeConnect; typ <= TypeAuth; typ++ {
			if typ == TypeAuth && version != Version5 {
				continue
			}
			for i := range iterations {
				p := g.packet(typ)
				if err := roundTrip(p, version); err != "" {
					t.Fatalf("seed %d, version %d, %s #%d: %s\npacket %#v", seed, version, typ, i, err, p)
				}
			}
		}
	}
}

func roundTrip(p Packet, version byte) string {
	raw, err := Encode(nil, p, version)
	if err != nil {
		return "Encode: " + err.Error()
	}
	if n, err := Size(p, version); err != nil || n != len(raw) {
		return "Size disagrees with Encode"
	}
	got, err := Read(bufio.NewReader(bytes.NewReader(raw)), version, uint32(len(raw)))
	if err != nil {
		return "Read: " + err.Error()
	}
	if !reflect.DeepEqual(got, p) {
		return "decoded packet differs"
	}
	return ""
}
