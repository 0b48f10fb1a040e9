package packet

import "strings"

// Subscription options bits (section 3.8.3.1).
const (
	optQoSMask             = 0x03
	optNoLocal             = 0x04
	optRetainAsPublished   = 0x08
	optRetainHandlingShift = 4
	optReservedV5          = 0xC0
	optReservedV4          = 0xFC
)

// sharePrefix starts a Shared Subscription filter (section 4.8.2).
const sharePrefix = "$share/"

// Subscription is one Topic Filter with its Subscription Options (section
// 3.8.3). NoLocal, RetainAsPublished and RetainHandling are MQTT 5.0 only.
// The filter's syntax is not checked here (see package topic): in MQTT 5.0 a
// bad filter is answered in SUBACK, not by closing the connection.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0 send retained, 1 only if new, 2 never
}

// Subscribe is the SUBSCRIBE packet (section 3.8). Not safe for concurrent mutation.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // MQTT 5.0 only; at most one subscription identifier
	Subscriptions []Subscription
}

// Type implements Packet.
func (*Subscribe) Type() Type { return TypeSubscribe }

func (*Subscribe) flags() byte { return 0b0010 }

func (p *Subscribe) measure(version byte) (s sizer) {
	s.add(2)
	if p.PacketID == 0 {
		s.failf("packet identifier 0 [MQTT-2.3.1-1]")
	}
	if len(p.Subscriptions) == 0 {
		s.failf("no topic filter [MQTT-3.8.3-3]")
	}
	if version == Version5 {
		p.Properties.measure(&s, TypeSubscribe)
	}
	for i := range p.Subscriptions {
		p.Subscriptions[i].measure(&s, version)
	}
	return s
}

func (o *Subscription) measure(s *sizer, version byte) {
	s.string(o.Filter)
	s.add(1)
	switch {
	case o.QoS > 2:
		s.failf("subscription qos %d", o.QoS)
	case version != Version5 && (o.NoLocal || o.RetainAsPublished || o.RetainHandling != 0):
		s.failf("subscription options before MQTT 5.0")
	case o.RetainHandling > 2:
		s.failf("retain handling %d", o.RetainHandling)
	case o.NoLocal && strings.HasPrefix(o.Filter, sharePrefix):
		s.failf("no local on a shared subscription [MQTT-3.8.3-4]")
	}
}

func (o *Subscription) options() byte {
	b := o.QoS | o.RetainHandling<<optRetainHandlingShift
	if o.NoLocal {
		b |= optNoLocal
	}
	if o.RetainAsPublished {
		b |= optRetainAsPublished
	}
	return b
}

func (p *Subscribe) appendBody(buf []byte, version byte) []byte {
	buf = appendUint16(buf, p.PacketID)
	if version == Version5 {
		buf = p.Properties.appendTo(buf)
	}
	for i := range p.Subscriptions {
		buf = append(appendString(buf, p.Subscriptions[i].Filter), p.Subscriptions[i].options())
	}
	return buf
}

func (p *Subscribe) decode(d *decoder, _ byte) {
	p.PacketID = decodePacketID(d)
	if d.version == Version5 {
		p.Properties.decode(d, TypeSubscribe)
	}
	if d.err == nil && d.remaining() == 0 {
		d.failf(ErrProtocolError, "no topic filter [MQTT-3.8.3-3]")
	}
	for d.err == nil && d.remaining() > 0 {
		o := Subscription{Filter: d.string()} // [MQTT-3.8.3-1]
		o.decodeOptions(d, d.byte())
		p.Subscriptions = append(p.Subscriptions, o)
	}
}

func (o *Subscription) decodeOptions(d *decoder, b byte) {
	o.QoS = b & optQoSMask
	o.NoLocal = b&optNoLocal != 0
	o.RetainAsPublished = b&optRetainAsPublished != 0
	o.RetainHandling = b >> optRetainHandlingShift & 3
	switch {
	case d.err != nil:
	case d.version != Version5 && b&optReservedV4 != 0:
		d.failf(ErrMalformed, "subscription options %#02x: reserved bits set (3.1.1 [MQTT-3-8.3-4])", b)
	case b&optReservedV5 != 0:
		d.failf(ErrMalformed, "subscription options %#02x: reserved bits set [MQTT-3.8.3-5]", b)
	case o.QoS == 3 && d.version != Version5:
		d.failf(ErrMalformed, "subscription qos 3 (3.1.1 [MQTT-3-8.3-4])")
	case o.QoS == 3: // 5.0 section 3.8.3.1 calls this a Protocol Error, not Malformed
		d.failf(ErrProtocolError, "subscription maximum qos 3 (section 3.8.3.1)")
	case o.RetainHandling == 3:
		d.failf(ErrProtocolError, "retain handling 3 (section 3.8.3.1)")
	case o.NoLocal && strings.HasPrefix(o.Filter, sharePrefix):
		d.failf(ErrProtocolError, "no local on a shared subscription [MQTT-3.8.3-4]")
	}
}

// decodePacketID reads a Packet Identifier that must not be 0
// (SUBSCRIBE, UNSUBSCRIBE) [MQTT-2.3.1-1].
func decodePacketID(d *decoder) uint16 {
	id := d.uint16()
	if d.err == nil && id == 0 {
		d.failf(ErrProtocolError, "packet identifier 0 [MQTT-2.3.1-1]")
	}
	return id
}

// Suback is the SUBACK packet (section 3.9): one reason code per filter of
// the SUBSCRIBE, in order (section 3.9.3). In MQTT 3.x the codes are the
// return codes 0x00..0x02 and 0x80; other failure codes encode as 0x80.
// Not safe for concurrent mutation.
type Suback struct {
	PacketID    uint16
	Properties  Properties // MQTT 5.0 only
	ReasonCodes []ReasonCode
}

// Type implements Packet.
func (*Suback) Type() Type { return TypeSuback }

func (*Suback) flags() byte { return 0 }

func (p *Suback) measure(version byte) (s sizer) {
	s.add(2 + len(p.ReasonCodes))
	if len(p.ReasonCodes) == 0 {
		s.failf("no reason code")
	}
	if version == Version5 {
		p.Properties.measure(&s, TypeSuback)
	}
	for _, c := range p.ReasonCodes {
		if !subackCodes.has(c) && (version == Version5 || c < CodeUnspecifiedError) {
			s.failf("reason code %#02x not allowed", byte(c))
		}
	}
	return s
}

func (p *Suback) appendBody(buf []byte, version byte) []byte {
	buf = appendUint16(buf, p.PacketID)
	if version == Version5 {
		return appendCodes(p.Properties.appendTo(buf), p.ReasonCodes)
	}
	for _, c := range p.ReasonCodes {
		buf = append(buf, byte(min(c, CodeUnspecifiedError))) // failure is 0x80 [MQTT-3.9.3-2]
	}
	return buf
}

func appendCodes(buf []byte, codes []ReasonCode) []byte {
	for _, c := range codes {
		buf = append(buf, byte(c))
	}
	return buf
}

func (p *Suback) decode(d *decoder, _ byte) {
	p.PacketID = d.uint16()
	codes := &subackCodesV4 // [MQTT-3.9.3-2]
	if d.version == Version5 {
		p.Properties.decode(d, TypeSuback)
		codes = &subackCodes
	}
	p.ReasonCodes = decodeReasonCodes(d, codes)
}

// decodeReasonCodes reads the rest of the body as one or more reason codes
// from codes.
func decodeReasonCodes(d *decoder, codes *codeSet) []ReasonCode {
	raw := d.rest()
	if d.err == nil && len(raw) == 0 {
		d.failf(ErrProtocolError, "no reason code")
	}
	out := make([]ReasonCode, len(raw))
	for i, b := range raw {
		out[i] = ReasonCode(b)
		if d.err == nil && !codes.has(out[i]) {
			d.failf(ErrMalformed, "reason code %#02x not allowed", b)
		}
	}
	return out
}

// Unsubscribe is the UNSUBSCRIBE packet (section 3.10). Not safe for
// concurrent mutation.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties // MQTT 5.0 only
	Filters    []string
}

// Type implements Packet.
func (*Unsubscribe) Type() Type { return TypeUnsubscribe }

func (*Unsubscribe) flags() byte { return 0b0010 }

func (p *Unsubscribe) measure(version byte) (s sizer) {
	s.add(2)
	if p.PacketID == 0 {
		s.failf("packet identifier 0 [MQTT-2.3.1-1]")
	}
	if len(p.Filters) == 0 {
		s.failf("no topic filter [MQTT-3.10.3-2]")
	}
	if version == Version5 {
		p.Properties.measure(&s, TypeUnsubscribe)
	}
	for _, f := range p.Filters {
		s.string(f)
	}
	return s
}

func (p *Unsubscribe) appendBody(buf []byte, version byte) []byte {
	buf = appendUint16(buf, p.PacketID)
	if version == Version5 {
		buf = p.Properties.appendTo(buf)
	}
	for _, f := range p.Filters {
		buf = appendString(buf, f)
	}
	return buf
}

func (p *Unsubscribe) decode(d *decoder, _ byte) {
	p.PacketID = decodePacketID(d)
	if d.version == Version5 {
		p.Properties.decode(d, TypeUnsubscribe)
	}
	if d.err == nil && d.remaining() == 0 {
		d.failf(ErrProtocolError, "no topic filter [MQTT-3.10.3-2]")
	}
	for d.err == nil && d.remaining() > 0 {
		p.Filters = append(p.Filters, d.string()) // [MQTT-3.10.3-1]
	}
}

// Unsuback is the UNSUBACK packet (section 3.11). ReasonCodes (one per
// filter) and Properties are MQTT 5.0 only; a 3.x UNSUBACK has neither.
// Not safe for concurrent mutation.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Type implements Packet.
func (*Unsuback) Type() Type { return TypeUnsuback }

func (*Unsuback) flags() byte { return 0 }

func (p *Unsuback) measure(version byte) (s sizer) {
	s.add(2)
	if version != Version5 {
		if len(p.ReasonCodes) != 0 || !p.Properties.empty() {
			s.failf("reason codes or properties before MQTT 5.0")
		}
		return s
	}
	if len(p.ReasonCodes) == 0 {
		s.failf("no reason code")
	}
	p.Properties.measure(&s, TypeUnsuback)
	s.add(len(p.ReasonCodes))
	for _, c := range p.ReasonCodes {
		if !unsubackCode.has(c) {
			s.failf("reason code %#02x not allowed", byte(c))
		}
	}
	return s
}

func (p *Unsuback) appendBody(buf []byte, version byte) []byte {
	buf = appendUint16(buf, p.PacketID)
	if version != Version5 {
		return buf
	}
	return appendCodes(p.Properties.appendTo(buf), p.ReasonCodes)
}

func (p *Unsuback) decode(d *decoder, _ byte) {
	p.PacketID = d.uint16()
	if d.version != Version5 {
		d.end()
		return
	}
	p.Properties.decode(d, TypeUnsuback)
	p.ReasonCodes = decodeReasonCodes(d, &unsubackCode)
}
