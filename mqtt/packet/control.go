package packet

// Pingreq is the PINGREQ packet (section 3.12). It has no fields.
type Pingreq struct{}

// Pingresp is the PINGRESP packet (section 3.13). It has no fields.
type Pingresp struct{}

// Type implements Packet.
func (*Pingreq) Type() Type { return TypePingreq }

// Type implements Packet.
func (*Pingresp) Type() Type { return TypePingresp }

func (*Pingreq) flags() byte  { return 0 }
func (*Pingresp) flags() byte { return 0 }

func (*Pingreq) measure(byte) (s sizer)  { return s }
func (*Pingresp) measure(byte) (s sizer) { return s }

func (*Pingreq) appendBody(buf []byte, _ byte) []byte  { return buf }
func (*Pingresp) appendBody(buf []byte, _ byte) []byte { return buf }

func (*Pingreq) decode(d *decoder, _ byte)  { d.end() }
func (*Pingresp) decode(d *decoder, _ byte) { d.end() }

// Disconnect is the DISCONNECT packet (section 3.14). ReasonCode and
// Properties are MQTT 5.0 only. Not safe for concurrent mutation.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type implements Packet.
func (*Disconnect) Type() Type { return TypeDisconnect }

func (*Disconnect) flags() byte { return 0 }

func (p *Disconnect) measure(version byte) (s sizer) {
	if version != Version5 {
		if p.ReasonCode != CodeSuccess || !p.Properties.empty() {
			s.failf("reason code or properties before MQTT 5.0")
		}
		return s
	}
	if !disconnCodes.has(p.ReasonCode) {
		s.failf("reason code %#02x not allowed", byte(p.ReasonCode))
	}
	switch {
	case !p.Properties.empty():
		s.add(1)
		p.Properties.measure(&s, TypeDisconnect)
	case p.ReasonCode != CodeSuccess:
		s.add(1)
	}
	return s
}

// appendBody uses the short forms of section 3.14.2.1: nothing for Normal
// disconnection without properties, only the reason code without properties.
func (p *Disconnect) appendBody(buf []byte, version byte) []byte {
	if version != Version5 || p.ReasonCode == CodeSuccess && p.Properties.empty() {
		return buf
	}
	buf = append(buf, byte(p.ReasonCode))
	if p.Properties.empty() {
		return buf
	}
	return p.Properties.appendTo(buf)
}

func (p *Disconnect) decode(d *decoder, _ byte) {
	if d.version == Version5 && d.remaining() > 0 {
		p.ReasonCode = ReasonCode(d.byte())
		if !disconnCodes.has(p.ReasonCode) {
			d.failf(ErrMalformed, "reason code %#02x not allowed", byte(p.ReasonCode))
		}
		if d.remaining() > 0 {
			p.Properties.decode(d, TypeDisconnect)
		}
	}
	d.end() // [MQTT-3.14.1-1] covers the flags; 3.x has no body
}

// Auth is the MQTT 5.0 AUTH packet (section 3.15). Unless it is the empty
// form (Success, no properties), it carries an Authentication Method.
// Not safe for concurrent mutation.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Type implements Packet.
func (*Auth) Type() Type { return TypeAuth }

func (*Auth) flags() byte { return 0 }

func (p *Auth) measure(_ byte) (s sizer) {
	if !authCodes.has(p.ReasonCode) {
		s.failf("reason code %#02x not allowed", byte(p.ReasonCode))
	}
	if p.ReasonCode == CodeSuccess && p.Properties.empty() {
		return s
	}
	s.add(1)
	p.Properties.measure(&s, TypeAuth)
	if !p.Properties.Has(PropAuthMethod) {
		s.failf("no authentication method (section 3.15.2.2.2)")
	}
	return s
}

func (p *Auth) appendBody(buf []byte, _ byte) []byte {
	if p.ReasonCode == CodeSuccess && p.Properties.empty() {
		return buf // Remaining Length 0 (section 3.15.2.1)
	}
	return p.Properties.appendTo(append(buf, byte(p.ReasonCode)))
}

func (p *Auth) decode(d *decoder, _ byte) {
	if d.remaining() == 0 {
		return
	}
	p.ReasonCode = ReasonCode(d.byte())
	if !authCodes.has(p.ReasonCode) {
		d.failf(ErrMalformed, "reason code %#02x not allowed", byte(p.ReasonCode))
	}
	if d.remaining() > 0 {
		p.Properties.decode(d, TypeAuth)
	}
	d.end()
	if d.err == nil && !p.Properties.Has(PropAuthMethod) {
		d.failf(ErrProtocolError, "no authentication method (section 3.15.2.2.2)")
	}
	checkAuthDecoded(d, &p.Properties)
}
