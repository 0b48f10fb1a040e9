package packet

// Protocol names (section 3.1.2.1).
const (
	protocolNameMQTT   = "MQTT"   // MQTT 3.1.1 and 5.0
	protocolNameMQIsdp = "MQIsdp" // MQTT 3.1
)

// CONNECT flag bits (section 3.1.2.3).
const (
	flagReserved     = 0x01
	flagCleanStart   = 0x02
	flagWill         = 0x04
	flagWillQoSShift = 3
	flagWillRetain   = 0x20
	flagPassword     = 0x40
	flagUsername     = 0x80
)

// Connect is the CONNECT packet (section 3.1). Not safe for concurrent mutation.
type Connect struct {
	// ProtocolName is "MQTT" (levels 4 and 5) or "MQIsdp" (level 3). Encode
	// fills it in when empty.
	ProtocolName string
	// ProtocolVersion is the protocol level: Version31, Version311 or
	// Version5. Encode uses it instead of its version argument when set.
	ProtocolVersion  byte
	CleanStart       bool // Clean Session in 3.1.1
	KeepAliveSeconds uint16
	Properties       Properties // MQTT 5.0 only
	ClientID         string
	Will             *Will // nil when the Will Flag is 0
	// HasUsername and HasPassword are the User Name and Password Flags; they
	// distinguish an empty name or password from none. Encode sets a flag
	// when its field is non-empty, too.
	HasUsername bool
	Username    string
	HasPassword bool
	Password    []byte
}

// Will is the Will Message of a CONNECT (section 3.1.2.5, 3.1.3.2-4).
type Will struct {
	QoS        byte
	Retain     bool
	Properties Properties // MQTT 5.0 only
	Topic      string
	Payload    []byte
}

// Type implements Packet.
func (*Connect) Type() Type { return TypeConnect }

func (*Connect) flags() byte { return 0 }

func (c *Connect) measure(version byte) (s sizer) {
	if c.ProtocolName != "" && c.ProtocolName != protocolName(version) {
		s.failf("protocol name %q does not match level %d", c.ProtocolName, version)
	}
	s.string(protocolName(version))
	s.add(1 + 1 + 2) // level, flags, keep alive
	if version == Version5 {
		c.Properties.measure(&s, TypeConnect)
		checkAuthProperties(&s, &c.Properties)
	}
	s.string(c.ClientID)
	if c.Will != nil {
		c.Will.measure(&s, version)
	}
	if c.hasUsername() {
		s.string(c.Username)
	}
	if c.hasPassword() {
		s.binary(c.Password)
		if version != Version5 && !c.hasUsername() {
			s.failf("password without user name [MQTT-3.1.2-22]")
		}
	}
	return s
}

func (w *Will) measure(s *sizer, version byte) {
	if w.QoS > 2 {
		s.failf("will qos %d", w.QoS)
	}
	if version == Version5 {
		w.Properties.measure(s, typeWill)
	}
	if !validTopicName(w.Topic) {
		s.failf("will topic %q is not a topic name", w.Topic)
	}
	s.string(w.Topic)
	s.binary(w.Payload)
}

// checkAuthProperties records Authentication Data without Authentication
// Method, a Protocol Error (section 3.1.2.11.10).
func checkAuthProperties(s *sizer, p *Properties) {
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		s.failf("authentication data without authentication method")
	}
}

func (c *Connect) hasUsername() bool { return c.HasUsername || c.Username != "" }
func (c *Connect) hasPassword() bool { return c.HasPassword || len(c.Password) > 0 }

func (c *Connect) connectFlags() byte {
	var f byte
	if c.CleanStart {
		f |= flagCleanStart
	}
	if w := c.Will; w != nil {
		f |= flagWill | w.QoS<<flagWillQoSShift
		if w.Retain {
			f |= flagWillRetain
		}
	}
	if c.hasPassword() {
		f |= flagPassword
	}
	if c.hasUsername() {
		f |= flagUsername
	}
	return f
}

func (c *Connect) appendBody(buf []byte, version byte) []byte {
	buf = appendString(buf, protocolName(version))
	buf = append(buf, version, c.connectFlags())
	buf = appendUint16(buf, c.KeepAliveSeconds)
	if version == Version5 {
		buf = c.Properties.appendTo(buf)
	}
	buf = appendString(buf, c.ClientID)
	if w := c.Will; w != nil {
		if version == Version5 {
			buf = w.Properties.appendTo(buf)
		}
		buf = appendBinary(appendString(buf, w.Topic), w.Payload)
	}
	if c.hasUsername() {
		buf = appendString(buf, c.Username)
	}
	if c.hasPassword() {
		buf = appendBinary(buf, c.Password)
	}
	return buf
}

func protocolName(version byte) string {
	if version == Version31 {
		return protocolNameMQIsdp
	}
	return protocolNameMQTT
}

func (c *Connect) decode(d *decoder, _ byte) {
	c.ProtocolName = d.string()
	c.ProtocolVersion = d.byte()
	if d.err != nil || !c.checkProtocol(d) {
		return
	}
	d.version = c.ProtocolVersion
	flags := d.byte()
	c.KeepAliveSeconds = d.uint16()
	if d.err != nil || !checkConnectFlags(d, flags) {
		return
	}
	c.CleanStart = flags&flagCleanStart != 0
	if d.version == Version5 {
		c.Properties.decode(d, TypeConnect)
	}
	c.ClientID = d.string()
	if flags&flagWill != 0 {
		c.Will = decodeWill(d, flags) // [MQTT-3.1.2-9]
	}
	c.decodeCredentials(d, flags)
	d.end()
	if d.err == nil && d.version == Version5 {
		checkAuthDecoded(d, &c.Properties)
	}
}

// checkProtocol validates Protocol Name and Protocol Level.
func (c *Connect) checkProtocol(d *decoder) bool {
	switch {
	case c.ProtocolName != protocolNameMQTT && c.ProtocolName != protocolNameMQIsdp:
		// [MQTT-3.1.2-1]: not this protocol; the server may close the connection.
		d.failf(ErrProtocolError, "protocol name %q [MQTT-3.1.2-1]", c.ProtocolName)
	case !knownVersion(c.ProtocolVersion) || c.ProtocolName != protocolName(c.ProtocolVersion):
		// [MQTT-3.1.2-2]: answered with CONNACK 0x01 (3.1.1) or 0x84 (5.0).
		d.failf(ErrUnsupportedProtocolVersion, "protocol %q level %d [MQTT-3.1.2-2]",
			c.ProtocolName, c.ProtocolVersion)
	}
	return d.err == nil
}

// checkConnectFlags validates the Connect Flags byte.
func checkConnectFlags(d *decoder, f byte) bool {
	willQoS := f >> flagWillQoSShift & 3
	switch {
	case f&flagReserved != 0:
		d.failf(ErrMalformed, "connect flags reserved bit set [MQTT-3.1.2-3]")
	case f&flagWill == 0 && willQoS != 0:
		d.failf(ErrMalformed, "will qos %d without will flag [MQTT-3.1.2-11]", willQoS)
	case f&flagWill == 0 && f&flagWillRetain != 0:
		d.failf(ErrMalformed, "will retain without will flag [MQTT-3.1.2-13]")
	case willQoS == 3:
		d.failf(ErrMalformed, "will qos 3 [MQTT-3.1.2-12]")
	case d.version != Version5 && f&flagPassword != 0 && f&flagUsername == 0:
		d.failf(ErrMalformed, "password flag without user name flag [MQTT-3.1.2-22]")
	}
	return d.err == nil
}

func decodeWill(d *decoder, flags byte) *Will {
	w := &Will{QoS: flags >> flagWillQoSShift & 3, Retain: flags&flagWillRetain != 0}
	if d.version == Version5 {
		w.Properties.decode(d, typeWill)
	}
	w.Topic = d.string()
	w.Payload = d.binary()
	if d.err == nil && !validTopicName(w.Topic) {
		d.failf(ErrTopicNameInvalid, "will topic %q (section 3.1.3.3)", w.Topic)
	}
	return w
}

func (c *Connect) decodeCredentials(d *decoder, flags byte) {
	if flags&flagUsername != 0 { // [MQTT-3.1.2-19]
		c.HasUsername = true
		c.Username = d.string()
	}
	if flags&flagPassword != 0 { // [MQTT-3.1.2-21]
		c.HasPassword = true
		c.Password = d.binary()
	}
}

// checkAuthDecoded rejects Authentication Data without Authentication Method
// (section 3.1.2.11.10).
func checkAuthDecoded(d *decoder, p *Properties) {
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		d.failf(ErrProtocolError, "authentication data without authentication method")
	}
}

// validTopicName reports whether s can be a Topic Name: at least one
// character [MQTT-4.7.3-1] and no wildcard [MQTT-3.3.2-2]. Full topic
// validation (levels, $-prefixes) belongs to package topic.
func validTopicName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '+' || s[i] == '#' {
			return false
		}
	}
	return s != ""
}

// Connack is the CONNACK packet (section 3.2). ReasonCode holds the MQTT 5.0
// value in every version; for 3.x it is converted with ReturnCodeOf on
// encode and ReturnCode.ReasonCode on decode. Not safe for concurrent mutation.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties // MQTT 5.0 only
}

// Type implements Packet.
func (*Connack) Type() Type { return TypeConnack }

func (*Connack) flags() byte { return 0 }

func (c *Connack) measure(version byte) (s sizer) {
	s.add(2)
	if c.SessionPresent && c.ReasonCode != CodeSuccess {
		s.failf("session present with reason code %#02x [MQTT-3.2.2-4]", byte(c.ReasonCode))
	}
	if c.SessionPresent && version == Version31 {
		s.failf("MQTT 3.1 has no session present flag")
	}
	if version != Version5 {
		if _, ok := ReturnCodeOf(c.ReasonCode); !ok {
			s.failf("%s has no MQTT 3.1.1 return code [MQTT-3.2.2-6]", c.ReasonCode)
		}
		return s
	}
	if !connackCodes.has(c.ReasonCode) {
		s.failf("reason code %#02x not allowed", byte(c.ReasonCode))
	}
	c.Properties.measure(&s, TypeConnack)
	checkAuthProperties(&s, &c.Properties)
	return s
}

func (c *Connack) appendBody(buf []byte, version byte) []byte {
	var ack byte
	if c.SessionPresent {
		ack = 1
	}
	if version != Version5 {
		rc, _ := ReturnCodeOf(c.ReasonCode)
		return append(buf, ack, byte(rc))
	}
	return c.Properties.appendTo(append(buf, ack, byte(c.ReasonCode)))
}

func (c *Connack) decode(d *decoder, _ byte) {
	ack := d.byte()
	code := d.byte()
	c.SessionPresent = ack&1 != 0
	switch {
	case d.err != nil:
		return
	case ack&^1 != 0 || (d.version == Version31 && ack != 0):
		d.failf(ErrMalformed, "connack flags %#02x: reserved bits set [MQTT-3.2.2-1]", ack)
	case d.version != Version5:
		c.decodeReturnCode(d, ReturnCode(code))
	case !connackCodes.has(ReasonCode(code)):
		d.failf(ErrMalformed, "connack reason code %#02x", code)
	default:
		c.ReasonCode = ReasonCode(code)
		c.Properties.decode(d, TypeConnack)
		d.end()
		checkAuthDecoded(d, &c.Properties)
	}
	if d.err == nil && c.SessionPresent && c.ReasonCode != CodeSuccess {
		d.failf(ErrProtocolError, "session present with reason code %#02x [MQTT-3.2.2-4]", code)
	}
}

func (c *Connack) decodeReturnCode(d *decoder, rc ReturnCode) {
	code, ok := rc.ReasonCode()
	if !ok {
		d.failf(ErrMalformed, "reserved connack return code %d", rc)
		return
	}
	c.ReasonCode = code
	d.end()
}
