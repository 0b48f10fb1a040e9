package fsm

import (
	"fmt"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// entryVersion is the first byte of every encoded entry value. A decoder
// rejects other versions; compatible additions go to the extension area
// instead. Version 1 also held the entry's time and a publish's topic, which
// the log record's Time and Key already hold: version 2 stores each once.
const entryVersion = 2

// Flag bits; part of the on-disk format.
const (
	pubRetain = 1 << 2 // publish flags: bits 0-1 QoS
	pubWill   = 1 << 3

	connClean      = 1 << 0
	connWill       = 1 << 1 // will QoS in bits 2-3
	connWillRetain = 1 << 4

	subNoLocal = 1 << 2 // subscription options: bits 0-1 QoS, 4-5 retain handling
	subRAP     = 1 << 3
	subOffset  = 1 << 6 // the offset user property asked for; never set before it existed

	propFormat      = 1 << 0
	propExpiry      = 1 << 1
	propContentType = 1 << 2
	propResponse    = 1 << 3
	propCorrelation = 1 << 4
	propUser        = 1 << 5
	propAll         = 1<<6 - 1
)

// Record returns the log record for e: Kind is e.Kind, Time e.Time, Key the
// topic of a publish (nil otherwise) and Value the rest of the entry (see
// doc.go for the layout). The Offset is left zero. Each fact is stored once:
// the value holds neither the kind, the time nor the topic.
func (e *Entry) Record() (log.Record, error) {
	if err := e.Validate(); err != nil {
		return log.Record{}, err
	}
	rec := log.Record{Time: e.Time, Kind: uint8(e.Kind), Value: e.appendValue(nil)}
	if e.Kind == KindPublish {
		rec.Key = []byte(e.Publish.Topic)
	}
	return rec, nil
}

// appendValue appends the encoding of a valid e's value to dst.
func (e *Entry) appendValue(dst []byte) []byte {
	b := append(dst, entryVersion)
	b = appendString(b, e.ClientID)
	b = e.appendBody(b)
	return appendBytes(b, e.Extensions)
}

// DecodeRecord decodes a log record written by Record, the only decoder of
// entries: the kind is rec.Kind, the time rec.Time, a publish's topic
// rec.Key (which must be a valid topic name; other kinds have no key), the
// rest rec.Value. Any input is safe: errors wrap ErrCorrupt. The entry
// shares no memory with rec, and Record gives back rec's Kind, Time, Key and
// Value byte for byte.
func DecodeRecord(rec log.Record) (Entry, error) {
	e := Entry{Kind: Kind(rec.Kind), Time: rec.Time}
	if !e.Kind.Valid() {
		return Entry{}, fmt.Errorf("%w: unknown entry kind %d", ErrCorrupt, rec.Kind)
	}
	if err := e.decodeKey(rec.Key); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, e.Kind, err)
	}
	d := decoder{b: rec.Value}
	d.version()
	e.ClientID = d.string(MaxStringLen)
	e.decodeBody(&d)
	e.Extensions = d.bytes(uint64(len(d.b)))
	d.end()
	if d.err != nil {
		return Entry{}, fmt.Errorf("%s: %w", e.Kind, d.err)
	}
	if err := e.Validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return e, nil
}

// decodeKey sets a publish's topic from the record key, which must be a
// valid topic name; any other kind must have an empty key.
func (e *Entry) decodeKey(key []byte) error {
	if e.Kind != KindPublish {
		if len(key) != 0 {
			return fmt.Errorf("unexpected record key %.64q (only publishes have one)", key)
		}
		return nil
	}
	if len(key) > MaxStringLen {
		return fmt.Errorf("record key of %d bytes is too long for a topic", len(key))
	}
	if err := topic.ValidateName(string(key)); err != nil {
		return fmt.Errorf("record key %.64q is not a topic name: %w", key, err)
	}
	e.Publish.Topic = string(key)
	return nil
}

// version reads the value's version byte and refuses any but entryVersion.
func (d *decoder) version() {
	switch v := d.byte(); {
	case d.err != nil || v == entryVersion:
	case v == 1:
		d.fail("entry version 1 (time and topic inside the value) is an older format this release does not read")
	default:
		d.fail("unknown entry version %d", v)
	}
}

func (e *Entry) appendBody(b []byte) []byte {
	switch e.Kind {
	case KindPublish:
		return e.appendPublish(b)
	case KindSubscribe:
		return appendSubscriptions(b, e.Subscriptions)
	case KindUnsubscribe:
		b = appendUvarint(b, uint64(len(e.Filters)))
		for _, f := range e.Filters {
			b = appendString(b, f)
		}
		return b
	case KindSessionConnect:
		return e.Connect.append(b)
	case KindSessionDisconnect:
		return e.Disconnect.append(b)
	case KindAck:
		return appendAcks(b, e.Acks)
	case KindQoS2Release:
		return appendUvarint(b, uint64(e.PacketID))
	case KindKeyRevoke:
		return appendString(b, e.KeyID)
	case KindConsumerCommit:
		return e.Consumer.append(b)
	case KindConsumerDelete:
		return appendString(b, e.Consumer.Name)
	}
	return b // KindSessionExpire has no body
}

func (e *Entry) decodeBody(d *decoder) {
	switch e.Kind {
	case KindPublish:
		e.decodePublish(d)
	case KindSubscribe:
		e.Subscriptions = decodeSubscriptions(d)
	case KindUnsubscribe:
		n := d.count()
		for range n {
			e.Filters = append(e.Filters, d.string(MaxStringLen))
		}
	case KindSessionConnect:
		e.Connect.decode(d)
	case KindSessionDisconnect:
		e.Disconnect.decode(d)
	case KindAck:
		e.Acks = decodeAcks(d)
	case KindQoS2Release:
		e.PacketID = uint16(d.uvarintMax(0xFFFF, "packet id"))
	case KindKeyRevoke:
		e.KeyID = d.string(MaxKeyIDLen)
	case KindConsumerCommit:
		e.Consumer.decode(d)
	case KindConsumerDelete:
		e.Consumer.Name = d.string(MaxConsumerNameLen)
	}
}

func (e *Entry) appendPublish(b []byte) []byte {
	p := &e.Publish
	b = appendUvarint(b, uint64(e.PacketID))
	flags := p.QoS
	if p.Retain {
		flags |= pubRetain
	}
	if p.Will {
		flags |= pubWill
	}
	b = append(b, flags)
	b = appendBytes(b, p.Payload)
	return p.Props.append(b)
}

func (e *Entry) decodePublish(d *decoder) {
	p := &e.Publish
	e.PacketID = uint16(d.uvarintMax(0xFFFF, "packet id"))
	flags := d.byte()
	if flags&^(3|pubRetain|pubWill) != 0 {
		d.fail("unknown publish flags %#x", flags)
	}
	p.QoS, p.Retain, p.Will = flags&3, flags&pubRetain != 0, flags&pubWill != 0
	p.Payload = d.bytes(maxPayloadLen)
	p.Props.decode(d)
}

func (p *Properties) append(b []byte) []byte {
	var present byte
	for bit, set := range [...]bool{p.PayloadFormat != 0, p.HasExpiry, p.ContentType != "",
		p.ResponseTopic != "", len(p.CorrelationData) > 0, len(p.User) > 0} {
		if set {
			present |= 1 << bit
		}
	}
	b = append(b, present)
	if p.PayloadFormat != 0 {
		b = append(b, p.PayloadFormat)
	}
	if p.HasExpiry {
		b = appendUvarint(b, uint64(p.MessageExpirySeconds))
	}
	if p.ContentType != "" {
		b = appendString(b, p.ContentType)
	}
	if p.ResponseTopic != "" {
		b = appendString(b, p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		b = appendBytes(b, p.CorrelationData)
	}
	if len(p.User) > 0 {
		b = appendUvarint(b, uint64(len(p.User)))
		for _, u := range p.User {
			b = appendString(appendString(b, u.Name), u.Value)
		}
	}
	return b
}

// decode reads properties; a present field must not hold its absent value,
// so that re-encoding is byte-identical.
func (p *Properties) decode(d *decoder) {
	present := d.byte()
	if present&^propAll != 0 {
		d.fail("unknown property bits %#x", present)
		return
	}
	if present&propFormat != 0 {
		if p.PayloadFormat = d.byte(); p.PayloadFormat == 0 {
			d.fail("payload format indicator present but 0")
		}
	}
	if present&propExpiry != 0 {
		p.HasExpiry = true
		p.MessageExpirySeconds = uint32(d.uvarintMax(maxUint32, "message expiry"))
	}
	p.ContentType = decodePresentString(d, present&propContentType != 0)
	p.ResponseTopic = decodePresentString(d, present&propResponse != 0)
	if present&propCorrelation != 0 {
		if p.CorrelationData = d.bytes(MaxStringLen); p.CorrelationData == nil {
			d.fail("empty property present")
		}
	}
	if present&propUser != 0 {
		p.User = decodeUserProperties(d)
	}
}

func decodePresentString(d *decoder, present bool) string {
	if !present {
		return ""
	}
	s := d.string(MaxStringLen)
	if s == "" {
		d.fail("empty property present")
	}
	return s
}

func decodeUserProperties(d *decoder) []UserProperty {
	n := d.count()
	if n == 0 {
		d.fail("empty user properties present")
		return nil
	}
	user := make([]UserProperty, 0, n)
	for range n {
		user = append(user, UserProperty{Name: d.string(MaxStringLen), Value: d.string(MaxStringLen)})
	}
	return user
}

func appendSubscriptions(b []byte, subs []Subscription) []byte {
	b = appendUvarint(b, uint64(len(subs)))
	for _, s := range subs {
		b = appendString(b, s.Filter)
		b = append(b, s.Options.flags())
		b = appendUvarint(b, uint64(s.Options.ID))
	}
	return b
}

func (o SubOptions) flags() byte {
	f := o.QoS | o.RetainHandling<<4
	if o.NoLocal {
		f |= subNoLocal
	}
	if o.RetainAsPublished {
		f |= subRAP
	}
	if o.OffsetProperty {
		f |= subOffset
	}
	return f
}

func decodeSubOptions(d *decoder) SubOptions {
	f := d.byte()
	if f&0x80 != 0 {
		d.fail("unknown subscription option bits %#x", f)
	}
	return SubOptions{
		QoS: f & 3, NoLocal: f&subNoLocal != 0, RetainAsPublished: f&subRAP != 0,
		RetainHandling: f >> 4 & 3, ID: uint32(d.uvarintMax(MaxSubscriptionID, "subscription id")),
		OffsetProperty: f&subOffset != 0,
	}
}

func decodeSubscriptions(d *decoder) []Subscription {
	n := d.count()
	var subs []Subscription
	for range n {
		f := d.string(MaxStringLen)
		subs = append(subs, Subscription{Filter: f, Options: decodeSubOptions(d)})
	}
	return subs
}

func (c *Connect) append(b []byte) []byte {
	var flags byte
	if c.CleanStart {
		flags |= connClean
	}
	if w := c.Will; w != nil {
		flags |= connWill | w.QoS<<2
		if w.Retain {
			flags |= connWillRetain
		}
	}
	b = append(b, flags)
	b = appendUvarint(b, uint64(c.ExpirySeconds))
	b = append(b, c.ProtocolVersion)
	b = appendString(b, c.Node)
	if w := c.Will; w != nil {
		b = appendString(b, w.Topic)
		b = appendBytes(b, w.Payload)
		b = w.Props.append(b)
		b = appendUvarint(b, uint64(w.DelaySeconds))
	}
	return b
}

func (c *Connect) decode(d *decoder) {
	flags := d.byte()
	if flags&0xE0 != 0 || flags&connWill == 0 && flags&^connClean != 0 {
		d.fail("bad connect flags %#x", flags)
	}
	c.CleanStart = flags&connClean != 0
	c.ExpirySeconds = uint32(d.uvarintMax(maxUint32, "session expiry"))
	c.ProtocolVersion = d.byte()
	c.Node = d.string(MaxStringLen)
	if flags&connWill == 0 || d.err != nil {
		return
	}
	w := &Will{}
	w.QoS, w.Retain = flags>>2&3, flags&connWillRetain != 0
	w.Topic = d.string(MaxStringLen)
	w.Payload = d.bytes(maxPayloadLen)
	w.Props.decode(d)
	w.DelaySeconds = uint32(d.uvarintMax(maxUint32, "will delay"))
	c.Will = w
}

func (x *Disconnect) append(b []byte) []byte {
	b = append(b, byte(x.Reason))
	b = appendBool(b, x.HasExpiry)
	b = appendUvarint(b, uint64(x.Since))
	if x.HasExpiry {
		b = appendUvarint(b, uint64(x.ExpirySeconds))
	}
	return b
}

func (x *Disconnect) decode(d *decoder) {
	x.Reason = DisconnectReason(d.byte())
	x.HasExpiry = d.bool()
	x.Since = log.Offset(d.uvarint())
	if x.HasExpiry {
		x.ExpirySeconds = uint32(d.uvarintMax(maxUint32, "session expiry"))
	}
}

func appendAcks(b []byte, acks []Ack) []byte {
	b = appendUvarint(b, uint64(len(acks)))
	for _, a := range acks {
		b = appendUvarint(b, uint64(a.Offset))
		b = append(b, byte(a.Kind))
	}
	return b
}

func decodeAcks(d *decoder) []Ack {
	n := d.count()
	var acks []Ack
	for range n {
		off := log.Offset(d.uvarint())
		acks = append(acks, Ack{Offset: off, Kind: AckKind(d.byte())})
	}
	return acks
}
