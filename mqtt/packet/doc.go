// Package packet encodes and decodes MQTT 3.1, 3.1.1 and 5.0 control packets.
// It imports nothing of Strata's and holds no state: every function is safe
// for concurrent use, and packets are plain values owned by their caller.
//
// # Reading and writing
//
//	p, err := packet.Read(r, version, maxPacketSize) // one packet from a *bufio.Reader
//	buf, err = packet.Encode(buf[:0], p, version)    // appends; no allocation if buf has room
//	n, err := packet.Size(p, version)                // bytes Encode would write
//
// version is the protocol level of the connection (Version31, Version311,
// Version5), or 0 before CONNECT, when only CONNECT decodes. CONNECT always
// decodes with the level it carries, and encodes with its ProtocolVersion.
// Read checks the packet's total size against maxPacketSize from the fixed
// header, before allocating the body; the body is then read into one buffer
// that the packet aliases (Publish.Payload is never copied again).
// Decode(header, body, version) is the same decoder for callers that framed
// the packet themselves.
//
// # Errors
//
// Decode failures wrap a ReasonCode, which implements error: ErrMalformed
// (0x81), ErrProtocolError (0x82), ErrPacketTooLarge (0x95),
// ErrUnsupportedProtocolVersion (0x84), ErrTopicNameInvalid (0x90) or
// ErrTopicAliasInvalid (0x94); docs/mqtt.md ("Malformed Packet or Protocol
// Error") lists which violation is which. The connection layer picks its DISCONNECT or
// CONNACK reason code with errors.As(err, &code); for MQTT 3.x it just closes
// the connection [MQTT-4.8.0-1]. Encode failures wrap ErrEncode: the codec
// refuses to write what a conforming receiver would reject.
//
// # What the codec enforces
//
// Everything decidable from one packet's bytes: fixed-header flags per type,
// Variable Byte Integer length (at most 4 bytes; in MQTT 5.0 also the
// minimal encoding, [MQTT-1.5.5-1]), UTF-8 string rules, field lengths and
// trailing bytes, CONNECT protocol name/level and flag consistency, PUBLISH
// QoS/DUP/packet identifier/topic name rules, subscription options, reason
// codes valid for each packet, and the MQTT 5.0 property table: which
// packets may carry each property (else malformed), duplicates of
// single-valued properties (protocol error), value ranges. Each rule is
// tagged in the code with its normative statement id, e.g. [MQTT-3.3.1-4].
//
// Left to the connection layer, because they need session state or
// direction: CONNECT as first and only CONNECT, topic alias maximum, receive
// maximum, Subscription Identifier in a client's PUBLISH [MQTT-3.3.4-6],
// Session Expiry in a server's DISCONNECT, payload UTF-8 validation for
// Payload Format Indicator 1 (optional, section 3.3.2.3.2), client identifier
// rules, and topic filter syntax (package topic; MQTT 5.0 answers a bad
// filter in SUBACK rather than closing).
//
// # Encoding
//
// Encode writes a canonical form: single-valued properties in identifier
// order, then Subscription Identifiers, then User Properties in their order;
// the short forms of acks, DISCONNECT and AUTH when allowed. Decoding any
// valid encoding and re-encoding therefore yields canonical bytes that decode
// to an equal packet. Encode does not re-validate UTF-8 in strings.
package packet
