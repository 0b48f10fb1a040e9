package packet

import "strconv"

// Protocol levels carried in CONNECT (section 3.1.2.2). The version argument
// of Read, Decode, Encode and Size is one of these, or 0 before CONNECT.
const (
	Version31  byte = 3 // MQTT 3.1 (protocol name "MQIsdp")
	Version311 byte = 4 // MQTT 3.1.1
	Version5   byte = 5 // MQTT 5.0
)

// Type is an MQTT Control Packet type, the high nibble of the fixed header
// (section 2.1.2). Part of the wire protocol; never renumber.
type Type byte

// Control packet types.
const (
	TypeConnect     Type = 1
	TypeConnack     Type = 2
	TypePublish     Type = 3
	TypePuback      Type = 4
	TypePubrec      Type = 5
	TypePubrel      Type = 6
	TypePubcomp     Type = 7
	TypeSubscribe   Type = 8
	TypeSuback      Type = 9
	TypeUnsubscribe Type = 10
	TypeUnsuback    Type = 11
	TypePingreq     Type = 12
	TypePingresp    Type = 13
	TypeDisconnect  Type = 14
	TypeAuth        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

// String returns the specification's upper-case name of t.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "TYPE(" + strconv.Itoa(int(t)) + ")"
}

// Packet is one decoded MQTT control packet: *Connect, *Connack, *Publish,
// *Puback, *Pubrec, *Pubrel, *Pubcomp, *Subscribe, *Suback, *Unsubscribe,
// *Unsuback, *Pingreq, *Pingresp, *Disconnect or *Auth. The set is closed.
// Packets are plain values: not safe for concurrent mutation, safe to share
// read-only.
type Packet interface {
	// Type returns the control packet type.
	Type() Type

	// flags returns the low nibble of the fixed header.
	flags() byte
	// measure returns the Remaining Length and why the packet cannot be
	// encoded in version, if it cannot. (The sizer is returned by value so
	// that calls through the interface do not allocate.)
	measure(version byte) sizer
	// appendBody appends the variable header and payload; measure has
	// accepted the packet.
	appendBody(buf []byte, version byte) []byte
}

// decodeBody decodes a body of type t into a new packet. It calls each
// concrete decode directly, not through Packet, so that the decoder does not
// escape to the heap. t is never the reserved type 0 (checkHeader).
func decodeBody(t Type, d *decoder, flags byte) Packet {
	switch t {
	case TypeConnect:
		p := new(Connect)
		p.decode(d, flags)
		return p
	case TypeConnack:
		p := new(Connack)
		p.decode(d, flags)
		return p
	case TypePublish:
		p := new(Publish)
		p.decode(d, flags)
		return p
	case TypePuback:
		p := new(Puback)
		p.decode(d, flags)
		return p
	case TypePubrec:
		p := new(Pubrec)
		p.decode(d, flags)
		return p
	case TypePubrel:
		p := new(Pubrel)
		p.decode(d, flags)
		return p
	case TypePubcomp:
		p := new(Pubcomp)
		p.decode(d, flags)
		return p
	case TypeSubscribe:
		p := new(Subscribe)
		p.decode(d, flags)
		return p
	case TypeSuback:
		p := new(Suback)
		p.decode(d, flags)
		return p
	case TypeUnsubscribe:
		p := new(Unsubscribe)
		p.decode(d, flags)
		return p
	case TypeUnsuback:
		p := new(Unsuback)
		p.decode(d, flags)
		return p
	case TypePingreq:
		p := new(Pingreq)
		p.decode(d, flags)
		return p
	case TypePingresp:
		p := new(Pingresp)
		p.decode(d, flags)
		return p
	case TypeDisconnect:
		p := new(Disconnect)
		p.decode(d, flags)
		return p
	case TypeAuth:
		p := new(Auth)
		p.decode(d, flags)
		return p
	}
	d.failf(ErrMalformed, "reserved packet type %d", t)
	return nil
}

// fixedFlags returns the fixed-header flags every packet of type t must carry
// (table 2-2), and false for PUBLISH, whose flags carry DUP, QoS and RETAIN.
// [MQTT-2.2.2-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
func fixedFlags(t Type) (byte, bool) {
	switch t {
	case TypePublish:
		return 0, false
	case TypePubrel, TypeSubscribe, TypeUnsubscribe:
		return 0b0010, true
	}
	return 0, true
}
