package packet

import "math/bits"

// measureProperties adds the Property Length and the properties of p to s,
// recording why they cannot be sent in a packet of type t.
func (p *Properties) measure(s *sizer, t Type) {
	singles := p.singles()
	for m := uint64(singles); m != 0; m &= m - 1 {
		id := PropertyID(bits.TrailingZeros64(m))
		p.checkSingle(s, id, t)
	}
	p.checkRepeated(s, t)
	n := p.contentSize(singles)
	s.varint(uint32(min(n, MaxVarint+1)))
	s.add(n)
}

// checkSingle records why single-valued property id cannot be encoded in t.
func (p *Properties) checkSingle(s *sizer, id PropertyID, t Type) {
	info := lookupProp(uint32(id))
	switch {
	case info.kind == kindNone || info.kind == kindVarint || info.kind == kindPair:
		s.failf("property set holds 0x%02x, not a single-valued property", byte(id))
	case info.allowed&(1<<t) == 0:
		s.failf("%s not allowed in %s", id, t)
	case info.kind == kindString && len(*p.stringPtr(id)) > MaxStringBytes:
		s.failf("%s longer than %d bytes", id, MaxStringBytes)
	case info.kind == kindBinary && len(*p.binaryPtr(id)) > MaxStringBytes:
		s.failf("%s longer than %d bytes", id, MaxStringBytes)
	case info.kind == kindString || info.kind == kindBinary:
	case info.rule == ruleBoolean && p.uintValue(id, info.kind) > 1:
		s.failf("%s must be 0 or 1", id)
	case info.rule == ruleNonZero && p.uintValue(id, info.kind) == 0:
		s.failf("%s must not be 0", id)
	}
}

// checkRepeated records why SubscriptionIDs or UserProperties cannot be
// encoded in t.
func (p *Properties) checkRepeated(s *sizer, t Type) {
	if len(p.UserProperties) > 0 && propTable[PropUserProperty].allowed&(1<<t) == 0 {
		s.failf("user property not allowed in %s", t)
	}
	for _, u := range p.UserProperties {
		if len(u.Key) > MaxStringBytes || len(u.Value) > MaxStringBytes {
			s.failf("user property longer than %d bytes", MaxStringBytes)
		}
	}
	if len(p.SubscriptionIDs) == 0 {
		return
	}
	if propTable[PropSubscriptionID].allowed&(1<<t) == 0 {
		s.failf("subscription identifier not allowed in %s", t)
	}
	if t == TypeSubscribe && len(p.SubscriptionIDs) > 1 {
		s.failf("more than one subscription identifier in SUBSCRIBE")
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > MaxVarint {
			s.failf("subscription identifier %d out of range 1..%d", id, MaxVarint)
		}
	}
}

// contentSize is the encoded size of the properties without Property Length.
func (p *Properties) contentSize(singles PropertySet) int {
	n := 0
	for m := uint64(singles); m != 0; m &= m - 1 {
		id := PropertyID(bits.TrailingZeros64(m))
		n += 1 + p.valueSize(id)
	}
	for _, id := range p.SubscriptionIDs {
		n += 1 + varintLen(min(id, MaxVarint))
	}
	for _, u := range p.UserProperties {
		n += 1 + 4 + len(u.Key) + len(u.Value)
	}
	return n
}

func (p *Properties) valueSize(id PropertyID) int {
	switch lookupProp(uint32(id)).kind {
	case kindByte:
		return 1
	case kindUint16:
		return 2
	case kindUint32:
		return 4
	case kindString:
		return 2 + len(*p.stringPtr(id))
	case kindBinary:
		return 2 + len(*p.binaryPtr(id))
	}
	return 0
}

// appendTo appends Property Length and properties; measure has accepted p.
func (p *Properties) appendTo(buf []byte) []byte {
	singles := p.singles()
	buf = appendVarint(buf, uint32(p.contentSize(singles)))
	for m := uint64(singles); m != 0; m &= m - 1 {
		id := PropertyID(bits.TrailingZeros64(m))
		buf = p.appendSingle(append(buf, byte(id)), id)
	}
	for _, id := range p.SubscriptionIDs {
		buf = appendVarint(append(buf, byte(PropSubscriptionID)), id)
	}
	for _, u := range p.UserProperties {
		buf = append(buf, byte(PropUserProperty))
		buf = appendString(appendString(buf, u.Key), u.Value)
	}
	return buf
}

func (p *Properties) appendSingle(buf []byte, id PropertyID) []byte {
	switch lookupProp(uint32(id)).kind {
	case kindByte:
		return append(buf, *p.bytePtr(id))
	case kindUint16:
		return appendUint16(buf, *p.uint16Ptr(id))
	case kindUint32:
		return appendUint32(buf, *p.uint32Ptr(id))
	case kindString:
		return appendString(buf, *p.stringPtr(id))
	case kindBinary:
		return appendBinary(buf, *p.binaryPtr(id))
	}
	return buf
}

// decode reads Property Length and the properties of a packet of type t
// (section 2.2.2). An identifier that is unknown or not allowed in t is
// malformed; a repeated single-valued property is a Protocol Error.
func (p *Properties) decode(d *decoder, t Type) {
	n := d.varint()
	if d.err == nil && int64(n) > int64(d.remaining()) {
		d.failf(ErrMalformed, "property length %d exceeds the %d bytes left", n, d.remaining())
		return
	}
	pd := decoder{buf: d.take(int(n)), version: d.version}
	for pd.err == nil && pd.remaining() > 0 {
		p.decodeOne(&pd, t)
	}
	d.fail(pd.err)
}

func (p *Properties) decodeOne(d *decoder, t Type) {
	raw := d.varint()
	info := lookupProp(raw)
	id := PropertyID(raw)
	switch {
	case d.err != nil:
	case info.kind == kindNone:
		d.failf(ErrMalformed, "unknown property identifier 0x%02x", raw)
	case info.allowed&(1<<t) == 0:
		d.failf(ErrMalformed, "%s not allowed in %s", id, t)
	case info.kind == kindPair:
		key := d.string() // [MQTT-1.5.7-1]
		p.UserProperties = append(p.UserProperties, UserProperty{Key: key, Value: d.string()})
	case info.kind == kindVarint:
		p.decodeSubscriptionID(d, t)
	case p.Present.Has(id):
		d.failf(ErrProtocolError, "%s included more than once", id)
	default:
		p.Present.Add(id)
		p.decodeSingle(d, id, info)
	}
}

func (p *Properties) decodeSubscriptionID(d *decoder, t Type) {
	v := d.varint()
	switch {
	case d.err != nil:
	case v == 0:
		d.failf(ErrProtocolError, "subscription identifier 0")
	case t == TypeSubscribe && len(p.SubscriptionIDs) > 0:
		d.failf(ErrProtocolError, "subscription identifier included more than once")
	default:
		p.SubscriptionIDs = append(p.SubscriptionIDs, v)
	}
}

func (p *Properties) decodeSingle(d *decoder, id PropertyID, info propInfo) {
	var v uint32
	switch info.kind {
	case kindByte:
		*p.bytePtr(id) = d.byte()
		v = uint32(*p.bytePtr(id))
	case kindUint16:
		*p.uint16Ptr(id) = d.uint16()
		v = uint32(*p.uint16Ptr(id))
	case kindUint32:
		v = d.uint32()
		*p.uint32Ptr(id) = v
	case kindString:
		*p.stringPtr(id) = d.string()
		return
	case kindBinary:
		*p.binaryPtr(id) = d.binary()
		return
	}
	switch {
	case d.err != nil:
	case info.rule == ruleBoolean && v > 1:
		d.failf(ErrProtocolError, "%s is %d, must be 0 or 1", id, v)
	case id == PropTopicAlias && v == 0:
		d.failf(ErrTopicAliasInvalid, "topic alias 0 [MQTT-3.3.2-8]")
	case info.rule == ruleNonZero && v == 0:
		d.failf(ErrProtocolError, "%s is 0", id)
	}
}
