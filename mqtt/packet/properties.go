package packet

import "fmt"

// PropertyID identifies an MQTT 5.0 property (section 2.2.2.2). Part of the
// wire protocol; never renumber.
type PropertyID byte

// MQTT 5.0 property identifiers.
const (
	PropPayloadFormat        PropertyID = 0x01
	PropMessageExpiry        PropertyID = 0x02
	PropContentType          PropertyID = 0x03
	PropResponseTopic        PropertyID = 0x08
	PropCorrelationData      PropertyID = 0x09
	PropSubscriptionID       PropertyID = 0x0B
	PropSessionExpiry        PropertyID = 0x11
	PropAssignedClientID     PropertyID = 0x12
	PropServerKeepAlive      PropertyID = 0x13
	PropAuthMethod           PropertyID = 0x15
	PropAuthData             PropertyID = 0x16
	PropRequestProblemInfo   PropertyID = 0x17
	PropWillDelay            PropertyID = 0x18
	PropRequestResponseInfo  PropertyID = 0x19
	PropResponseInfo         PropertyID = 0x1A
	PropServerReference      PropertyID = 0x1C
	PropReasonString         PropertyID = 0x1F
	PropReceiveMaximum       PropertyID = 0x21
	PropTopicAliasMaximum    PropertyID = 0x22
	PropTopicAlias           PropertyID = 0x23
	PropMaximumQoS           PropertyID = 0x24
	PropRetainAvailable      PropertyID = 0x25
	PropUserProperty         PropertyID = 0x26
	PropMaximumPacketSize    PropertyID = 0x27
	PropWildcardSubAvailable PropertyID = 0x28
	PropSubIDAvailable       PropertyID = 0x29
	PropSharedSubAvailable   PropertyID = 0x2A
)

// PropertySet is a set of property identifiers, one bit per identifier.
type PropertySet uint64

// Has reports whether id is in s.
func (s PropertySet) Has(id PropertyID) bool { return id < 64 && s&(1<<id) != 0 }

// Add puts id in s.
func (s *PropertySet) Add(id PropertyID) { *s |= 1 << (id & 63) }

// UserProperty is one User Property name/value pair (section 3.1.2.11.8).
// Order is significant and the same name may appear more than once.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5.0 properties of one packet or of a Will. The
// zero value means "no properties"; MQTT 3.x encoding ignores it.
//
// A single-valued property is encoded when its field is non-zero or its
// identifier is in Present; set Present to send an explicit zero (e.g.
// Maximum QoS 0, Retain Available 0). Decode adds every single-valued
// property it reads to Present, so "absent" and "present with value 0" stay
// distinct. SubscriptionIDs and UserProperties are encoded element by element.
// Not safe for concurrent mutation.
type Properties struct {
	Present PropertySet

	PayloadFormat          byte     // 0x01 PUBLISH, Will
	MessageExpirySeconds   uint32   // 0x02 PUBLISH, Will
	ContentType            string   // 0x03 PUBLISH, Will
	ResponseTopic          string   // 0x08 PUBLISH, Will
	CorrelationData        []byte   // 0x09 PUBLISH, Will
	SubscriptionIDs        []uint32 // 0x0B PUBLISH (many), SUBSCRIBE (one)
	SessionExpirySeconds   uint32   // 0x11 CONNECT, CONNACK, DISCONNECT
	AssignedClientID       string   // 0x12 CONNACK
	ServerKeepAliveSeconds uint16   // 0x13 CONNACK
	AuthMethod             string   // 0x15 CONNECT, CONNACK, AUTH
	AuthData               []byte   // 0x16 CONNECT, CONNACK, AUTH
	RequestProblemInfo     byte     // 0x17 CONNECT
	WillDelaySeconds       uint32   // 0x18 Will
	RequestResponseInfo    byte     // 0x19 CONNECT
	ResponseInfo           string   // 0x1A CONNACK
	ServerReference        string   // 0x1C CONNACK, DISCONNECT
	ReasonString           string   // 0x1F acks, DISCONNECT, AUTH
	ReceiveMaximum         uint16   // 0x21 CONNECT, CONNACK
	TopicAliasMaximum      uint16   // 0x22 CONNECT, CONNACK
	TopicAlias             uint16   // 0x23 PUBLISH
	MaximumQoS             byte     // 0x24 CONNACK
	RetainAvailable        byte     // 0x25 CONNACK
	UserProperties         []UserProperty
	MaximumPacketSize      uint32 // 0x27 CONNECT, CONNACK
	WildcardSubAvailable   byte   // 0x28 CONNACK
	SubIDAvailable         byte   // 0x29 CONNACK
	SharedSubAvailable     byte   // 0x2A CONNACK
}

// typeWill is the pseudo packet type under which Will Properties are checked.
const typeWill Type = 16

// valueKind is the data type of a property value (section 2.2.2.2).
type valueKind uint8

const (
	kindNone valueKind = iota // not a property identifier
	kindByte
	kindUint16
	kindUint32
	kindVarint
	kindString
	kindBinary
	kindPair
)

// valueRule is an extra constraint on a property value.
type valueRule uint8

const (
	ruleAny     valueRule = iota
	ruleBoolean           // 0 or 1, else Protocol Error
	ruleNonZero           // 0 is a Protocol Error
)

type propInfo struct {
	name    string
	kind    valueKind
	rule    valueRule
	allowed uint32 // bit per Type, plus typeWill
}

func in(ts ...Type) uint32 {
	var m uint32
	for _, t := range ts {
		m |= 1 << t
	}
	return m
}

var (
	inMessage = in(TypePublish, typeWill)
	inAcks    = in(TypeConnack, TypePuback, TypePubrec, TypePubrel, TypePubcomp, TypeSuback,
		TypeUnsuback, TypeDisconnect, TypeAuth)
	inAll = inAcks | in(TypeConnect, TypePublish, typeWill, TypeSubscribe, TypeUnsubscribe)
)

// propTable describes every property: its type and the packets that may
// carry it (table 2-4). A property outside its packets is malformed.
var propTable = [...]propInfo{
	PropPayloadFormat:        {"payload format indicator", kindByte, ruleBoolean, inMessage},
	PropMessageExpiry:        {"message expiry interval", kindUint32, ruleAny, inMessage},
	PropContentType:          {"content type", kindString, ruleAny, inMessage},
	PropResponseTopic:        {"response topic", kindString, ruleAny, inMessage},
	PropCorrelationData:      {"correlation data", kindBinary, ruleAny, inMessage},
	PropSubscriptionID:       {"subscription identifier", kindVarint, ruleNonZero, in(TypePublish, TypeSubscribe)},
	PropSessionExpiry:        {"session expiry interval", kindUint32, ruleAny, in(TypeConnect, TypeConnack, TypeDisconnect)},
	PropAssignedClientID:     {"assigned client identifier", kindString, ruleAny, in(TypeConnack)},
	PropServerKeepAlive:      {"server keep alive", kindUint16, ruleAny, in(TypeConnack)},
	PropAuthMethod:           {"authentication method", kindString, ruleAny, in(TypeConnect, TypeConnack, TypeAuth)},
	PropAuthData:             {"authentication data", kindBinary, ruleAny, in(TypeConnect, TypeConnack, TypeAuth)},
	PropRequestProblemInfo:   {"request problem information", kindByte, ruleBoolean, in(TypeConnect)},
	PropWillDelay:            {"will delay interval", kindUint32, ruleAny, in(typeWill)},
	PropRequestResponseInfo:  {"request response information", kindByte, ruleBoolean, in(TypeConnect)},
	PropResponseInfo:         {"response information", kindString, ruleAny, in(TypeConnack)},
	PropServerReference:      {"server reference", kindString, ruleAny, in(TypeConnack, TypeDisconnect)},
	PropReasonString:         {"reason string", kindString, ruleAny, inAcks},
	PropReceiveMaximum:       {"receive maximum", kindUint16, ruleNonZero, in(TypeConnect, TypeConnack)},
	PropTopicAliasMaximum:    {"topic alias maximum", kindUint16, ruleAny, in(TypeConnect, TypeConnack)},
	PropTopicAlias:           {"topic alias", kindUint16, ruleNonZero, in(TypePublish)},
	PropMaximumQoS:           {"maximum qos", kindByte, ruleBoolean, in(TypeConnack)},
	PropRetainAvailable:      {"retain available", kindByte, ruleBoolean, in(TypeConnack)},
	PropUserProperty:         {"user property", kindPair, ruleAny, inAll},
	PropMaximumPacketSize:    {"maximum packet size", kindUint32, ruleNonZero, in(TypeConnect, TypeConnack)},
	PropWildcardSubAvailable: {"wildcard subscription available", kindByte, ruleBoolean, in(TypeConnack)},
	PropSubIDAvailable:       {"subscription identifier available", kindByte, ruleBoolean, in(TypeConnack)},
	PropSharedSubAvailable:   {"shared subscription available", kindByte, ruleBoolean, in(TypeConnack)},
}

func lookupProp(id uint32) propInfo {
	if id < uint32(len(propTable)) {
		return propTable[id]
	}
	return propInfo{}
}

// String returns the specification's name of id in lower case.
func (id PropertyID) String() string {
	if info := lookupProp(uint32(id)); info.kind != kindNone {
		return info.name
	}
	return fmt.Sprintf("property 0x%02x", byte(id))
}

// Has reports whether property id is present: a single-valued property when
// it is in Present or non-zero, a repeatable one when it has an element.
func (p *Properties) Has(id PropertyID) bool {
	switch id {
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	case PropUserProperty:
		return len(p.UserProperties) > 0
	}
	return p.singles().Has(id)
}

// empty reports whether p encodes as a zero Property Length.
func (p *Properties) empty() bool {
	return p.singles() == 0 && len(p.SubscriptionIDs) == 0 && len(p.UserProperties) == 0
}

// singles returns the single-valued properties Encode writes.
func (p *Properties) singles() PropertySet {
	s := p.Present
	set := func(nonZero bool, id PropertyID) {
		if nonZero {
			s |= 1 << id
		}
	}
	set(p.PayloadFormat != 0, PropPayloadFormat)
	set(p.MessageExpirySeconds != 0, PropMessageExpiry)
	set(p.ContentType != "", PropContentType)
	set(p.ResponseTopic != "", PropResponseTopic)
	set(len(p.CorrelationData) != 0, PropCorrelationData)
	set(p.SessionExpirySeconds != 0, PropSessionExpiry)
	set(p.AssignedClientID != "", PropAssignedClientID)
	set(p.ServerKeepAliveSeconds != 0, PropServerKeepAlive)
	set(p.AuthMethod != "", PropAuthMethod)
	set(len(p.AuthData) != 0, PropAuthData)
	set(p.RequestProblemInfo != 0, PropRequestProblemInfo)
	set(p.WillDelaySeconds != 0, PropWillDelay)
	set(p.RequestResponseInfo != 0, PropRequestResponseInfo)
	set(p.ResponseInfo != "", PropResponseInfo)
	set(p.ServerReference != "", PropServerReference)
	set(p.ReasonString != "", PropReasonString)
	set(p.ReceiveMaximum != 0, PropReceiveMaximum)
	set(p.TopicAliasMaximum != 0, PropTopicAliasMaximum)
	set(p.TopicAlias != 0, PropTopicAlias)
	set(p.MaximumQoS != 0, PropMaximumQoS)
	set(p.RetainAvailable != 0, PropRetainAvailable)
	set(p.MaximumPacketSize != 0, PropMaximumPacketSize)
	set(p.WildcardSubAvailable != 0, PropWildcardSubAvailable)
	set(p.SubIDAvailable != 0, PropSubIDAvailable)
	set(p.SharedSubAvailable != 0, PropSharedSubAvailable)
	return s
}

func (p *Properties) bytePtr(id PropertyID) *byte {
	switch id {
	case PropPayloadFormat:
		return &p.PayloadFormat
	case PropRequestProblemInfo:
		return &p.RequestProblemInfo
	case PropRequestResponseInfo:
		return &p.RequestResponseInfo
	case PropMaximumQoS:
		return &p.MaximumQoS
	case PropRetainAvailable:
		return &p.RetainAvailable
	case PropWildcardSubAvailable:
		return &p.WildcardSubAvailable
	case PropSubIDAvailable:
		return &p.SubIDAvailable
	case PropSharedSubAvailable:
		return &p.SharedSubAvailable
	}
	return nil
}

func (p *Properties) uint16Ptr(id PropertyID) *uint16 {
	switch id {
	case PropServerKeepAlive:
		return &p.ServerKeepAliveSeconds
	case PropReceiveMaximum:
		return &p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return &p.TopicAliasMaximum
	case PropTopicAlias:
		return &p.TopicAlias
	}
	return nil
}

func (p *Properties) uint32Ptr(id PropertyID) *uint32 {
	switch id {
	case PropMessageExpiry:
		return &p.MessageExpirySeconds
	case PropSessionExpiry:
		return &p.SessionExpirySeconds
	case PropWillDelay:
		return &p.WillDelaySeconds
	case PropMaximumPacketSize:
		return &p.MaximumPacketSize
	}
	return nil
}

func (p *Properties) stringPtr(id PropertyID) *string {
	switch id {
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropAssignedClientID:
		return &p.AssignedClientID
	case PropAuthMethod:
		return &p.AuthMethod
	case PropResponseInfo:
		return &p.ResponseInfo
	case PropServerReference:
		return &p.ServerReference
	case PropReasonString:
		return &p.ReasonString
	}
	return nil
}

func (p *Properties) binaryPtr(id PropertyID) *[]byte {
	switch id {
	case PropCorrelationData:
		return &p.CorrelationData
	case PropAuthData:
		return &p.AuthData
	}
	return nil
}

// uintValue returns the value of an integer-valued single property.
func (p *Properties) uintValue(id PropertyID, kind valueKind) uint32 {
	switch kind {
	case kindByte:
		return uint32(*p.bytePtr(id))
	case kindUint16:
		return uint32(*p.uint16Ptr(id))
	}
	return *p.uint32Ptr(id)
}
