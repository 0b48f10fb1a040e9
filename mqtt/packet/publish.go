package packet

import "fmt"

// PUBLISH fixed header flag bits (section 3.3.1).
const (
	publishRetain   = 0x01
	publishQoSShift = 1
	publishDup      = 0x08
)

// Publish is the PUBLISH packet (section 3.3). After Read, Payload aliases
// the packet's body buffer: the payload is copied once, from the reader into
// that buffer. Not safe for concurrent mutation.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty in MQTT 5.0 when Properties.TopicAlias is set
	PacketID   uint16 // present only when QoS > 0 [MQTT-2.2.1-2]
	Properties Properties
	Payload    []byte
}

// Type implements Packet.
func (*Publish) Type() Type { return TypePublish }

func (p *Publish) flags() byte {
	f := p.QoS << publishQoSShift
	if p.Dup {
		f |= publishDup
	}
	if p.Retain {
		f |= publishRetain
	}
	return f
}

func (p *Publish) measure(version byte) (s sizer) {
	switch {
	case p.QoS > 2:
		s.failf("qos %d [MQTT-3.3.1-4]", p.QoS)
	case p.Dup && p.QoS == 0:
		s.failf("dup with qos 0 [MQTT-3.3.1-2]")
	case p.QoS > 0 && p.PacketID == 0:
		s.failf("packet identifier 0 [MQTT-2.3.1-1]")
	case p.QoS == 0 && p.PacketID != 0:
		s.failf("packet identifier with qos 0 [MQTT-2.3.1-5]")
	}
	if err := checkTopicName(p.Topic, version, &p.Properties); err != "" {
		s.failf("%s", err)
	}
	s.string(p.Topic)
	if p.QoS > 0 {
		s.add(2)
	}
	if version == Version5 {
		p.Properties.measure(&s, TypePublish)
	}
	s.add(len(p.Payload))
	return s
}

// checkTopicName returns why topic cannot be a PUBLISH Topic Name, or "".
func checkTopicName(topic string, version byte, props *Properties) string {
	switch {
	case topic == "" && version == Version5 && !props.Has(PropTopicAlias):
		return "empty topic name without topic alias (section 3.3.2.1)"
	case topic == "" && version == Version5:
		return ""
	case !validTopicName(topic):
		return "topic name is empty or has a wildcard [MQTT-3.3.2-2] [MQTT-4.7.3-1]"
	}
	return ""
}

func (p *Publish) appendBody(buf []byte, version byte) []byte {
	return append(p.appendVariableHeader(buf, version), p.Payload...)
}

func (p *Publish) appendVariableHeader(buf []byte, version byte) []byte {
	buf = appendString(buf, p.Topic)
	if p.QoS > 0 {
		buf = appendUint16(buf, p.PacketID)
	}
	if version == Version5 {
		buf = p.Properties.appendTo(buf)
	}
	return buf
}

// AppendPublishHead appends the encoding of p for version without its
// payload: what Encode appends up to the payload, which follows it on the
// wire (so a sender can share one head among receivers, or write a large
// payload from where it lies, vectored). Errors are those of Encode.
func AppendPublishHead(buf []byte, p *Publish, version byte) ([]byte, error) {
	size, err := remainingLength(p, version)
	if err != nil {
		return buf, err
	}
	buf = append(buf, byte(TypePublish)<<4|p.flags())
	buf = appendVarint(buf, uint32(size))
	start := len(buf)
	buf = p.appendVariableHeader(buf, version)
	if n := len(buf) - start + len(p.Payload); n != size {
		return buf[:start], fmt.Errorf("%w: PUBLISH body is %d bytes, measured %d", ErrEncode, n, size)
	}
	return buf, nil
}

// PublishIDAt returns where the Packet Identifier lies in head, the
// encoding of a PUBLISH (or its head, AppendPublishHead), so that one
// encoding can be sent under many identifiers by patching those two bytes;
// -1 for QoS 0, which has none, or when head is too short to hold it.
func PublishIDAt(head []byte) int {
	if len(head) == 0 || head[0]>>publishQoSShift&3 == 0 {
		return -1
	}
	_, n, err := parseVarint(head[1:], true)
	if err != nil || len(head) < 1+n+2 {
		return -1
	}
	at := 1 + n + 2 + (int(head[1+n])<<8 | int(head[2+n]))
	if len(head) < at+2 {
		return -1
	}
	return at
}

func (p *Publish) decode(d *decoder, flags byte) {
	p.Dup = flags&publishDup != 0
	p.QoS = flags >> publishQoSShift & 3
	p.Retain = flags&publishRetain != 0
	switch {
	case p.QoS == 3:
		d.failf(ErrMalformed, "qos 3 [MQTT-3.3.1-4]")
	case p.Dup && p.QoS == 0:
		d.failf(ErrMalformed, "dup with qos 0 [MQTT-3.3.1-2]")
	}
	p.Topic = d.string() // [MQTT-3.3.2-1]
	if p.QoS > 0 {
		p.PacketID = d.uint16()
		if d.err == nil && p.PacketID == 0 {
			d.failf(ErrProtocolError, "packet identifier 0 [MQTT-2.3.1-1]")
		}
	}
	if d.version == Version5 {
		p.Properties.decode(d, TypePublish)
	}
	p.Payload = d.rest()
	if d.err != nil {
		return
	}
	if msg := checkTopicName(p.Topic, d.version, &p.Properties); msg != "" {
		code := ErrTopicNameInvalid
		if p.Topic == "" && d.version == Version5 {
			code = ErrProtocolError
		}
		d.failf(code, "%s", msg)
	}
}

// Puback is the PUBACK packet (section 3.4). ReasonCode and Properties are
// MQTT 5.0 only. Not safe for concurrent mutation.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrec is the PUBREC packet (section 3.5); fields as Puback.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrel is the PUBREL packet (section 3.6); fields as Puback. Its fixed
// header flags are 0010 [MQTT-3.6.1-1].
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubcomp is the PUBCOMP packet (section 3.7); fields as Puback.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// ack is the shared shape of PUBACK, PUBREC, PUBREL and PUBCOMP; the four
// packet types convert to it to share one codec.
type ack struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Type implements Packet.
func (*Puback) Type() Type { return TypePuback }

// Type implements Packet.
func (*Pubrec) Type() Type { return TypePubrec }

// Type implements Packet.
func (*Pubrel) Type() Type { return TypePubrel }

// Type implements Packet.
func (*Pubcomp) Type() Type { return TypePubcomp }

func (*Puback) flags() byte  { return 0 }
func (*Pubrec) flags() byte  { return 0 }
func (*Pubrel) flags() byte  { return 0b0010 }
func (*Pubcomp) flags() byte { return 0 }

func (a *Puback) measure(v byte) sizer  { return (*ack)(a).measure(v, TypePuback, &pubackCodes) }
func (a *Pubrec) measure(v byte) sizer  { return (*ack)(a).measure(v, TypePubrec, &pubackCodes) }
func (a *Pubrel) measure(v byte) sizer  { return (*ack)(a).measure(v, TypePubrel, &pubrelCodes) }
func (a *Pubcomp) measure(v byte) sizer { return (*ack)(a).measure(v, TypePubcomp, &pubrelCodes) }

func (a *Puback) appendBody(b []byte, v byte) []byte  { return (*ack)(a).appendBody(b, v) }
func (a *Pubrec) appendBody(b []byte, v byte) []byte  { return (*ack)(a).appendBody(b, v) }
func (a *Pubrel) appendBody(b []byte, v byte) []byte  { return (*ack)(a).appendBody(b, v) }
func (a *Pubcomp) appendBody(b []byte, v byte) []byte { return (*ack)(a).appendBody(b, v) }

func (a *Puback) decode(d *decoder, _ byte)  { (*ack)(a).decode(d, TypePuback, &pubackCodes) }
func (a *Pubrec) decode(d *decoder, _ byte)  { (*ack)(a).decode(d, TypePubrec, &pubackCodes) }
func (a *Pubrel) decode(d *decoder, _ byte)  { (*ack)(a).decode(d, TypePubrel, &pubrelCodes) }
func (a *Pubcomp) decode(d *decoder, _ byte) { (*ack)(a).decode(d, TypePubcomp, &pubrelCodes) }

func (a *ack) measure(version byte, t Type, codes *codeSet) (s sizer) {
	s.add(2)
	if version != Version5 {
		if a.ReasonCode != CodeSuccess || !a.Properties.empty() {
			s.failf("reason code or properties before MQTT 5.0")
		}
		return s
	}
	if !codes.has(a.ReasonCode) {
		s.failf("reason code %#02x not allowed", byte(a.ReasonCode))
	}
	if a.Properties.empty() {
		if a.ReasonCode != CodeSuccess {
			s.add(1) // Remaining Length 3: no Property Length (section 3.4.2.1)
		}
		return s
	}
	s.add(1)
	a.Properties.measure(&s, t)
	return s
}

func (a *ack) appendBody(buf []byte, version byte) []byte {
	buf = appendUint16(buf, a.PacketID)
	if version != Version5 || a.Properties.empty() && a.ReasonCode == CodeSuccess {
		return buf // Remaining Length 2 (section 3.4.2.1)
	}
	buf = append(buf, byte(a.ReasonCode))
	if a.Properties.empty() {
		return buf
	}
	return a.Properties.appendTo(buf)
}

// decode reads an ack. In MQTT 5.0 a Remaining Length of 2 means Success
// without properties, and 3 means no Property Length (section 3.4.2.1).
func (a *ack) decode(d *decoder, t Type, codes *codeSet) {
	a.PacketID = d.uint16()
	if d.version == Version5 && d.remaining() > 0 {
		a.ReasonCode = ReasonCode(d.byte())
		if !codes.has(a.ReasonCode) {
			d.failf(ErrMalformed, "%s reason code %#02x", t, byte(a.ReasonCode))
		}
		if d.remaining() > 0 {
			a.Properties.decode(d, t)
		}
	}
	d.end()
}
