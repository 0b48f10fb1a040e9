package fsm

import (
	"errors"
	"fmt"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// Kind identifies an entry's schema. It is also the log record's Kind byte,
// whose whole space is declared here, in one place: 1..11 are fsm entries,
// KindMember is replication's record, every other value is unassigned
// (kinds from 0xF0 up are reserved for replication). Every kind has a name
// in kindNames, whose keyed literal refuses two kinds with one value at
// compile time; kinds_test.go checks that every constant is named there and
// internal/lint that records are built only with declared kinds. The values
// are part of the on-disk format; never renumber, only append.
type Kind uint8

const (
	KindPublish           Kind = 1  // an application message (also a client's will)
	KindSubscribe         Kind = 2  // one SUBSCRIBE packet: filters and options
	KindUnsubscribe       Kind = 3  // one UNSUBSCRIBE packet: filters
	KindSessionConnect    Kind = 4  // a CONNECT accepted by a node
	KindSessionDisconnect Kind = 5  // a network connection ended
	KindSessionExpire     Kind = 6  // a disconnected session's expiry interval elapsed
	KindAck               Kind = 7  // batched delivery acknowledgements from one client
	KindQoS2Release       Kind = 8  // an inbound PUBREL: frees a QoS 2 packet id
	KindKeyRevoke         Kind = 9  // a signed key revoked: every node refuses it from here on
	KindConsumerCommit    Kind = 10 // a named HTTP consumer's cursor committed (or reset)
	KindConsumerDelete    Kind = 11 // a named HTTP consumer's cursor deleted

	// KindMember is replication's member record (replication.KindMember): a
	// node's HTTP address. Not an entry: Valid is false, DecodeRecord
	// refuses it, and replication folds it itself.
	KindMember Kind = 0xF0
)

var kindNames = [...]string{
	KindPublish: "publish", KindSubscribe: "subscribe", KindUnsubscribe: "unsubscribe",
	KindSessionConnect: "connect", KindSessionDisconnect: "disconnect",
	KindSessionExpire: "expire", KindAck: "ack", KindQoS2Release: "release",
	KindKeyRevoke: "revoke", KindConsumerCommit: "consumer-commit",
	KindConsumerDelete: "consumer-delete",
	KindMember:         "member",
}

// Valid reports whether k is an entry kind (one Apply folds).
func (k Kind) Valid() bool { return k >= KindPublish && k <= KindConsumerDelete }

// Declared reports whether k is a declared record kind: an entry kind or
// KindMember.
func (k Kind) Declared() bool { return int(k) < len(kindNames) && kindNames[k] != "" }

func (k Kind) String() string {
	if !k.Declared() {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// Errors. Match with errors.Is.
var (
	// ErrCorrupt is wrapped by every decoding error of entries and snapshots.
	ErrCorrupt = errors.New("fsm: corrupt")
	// ErrInvalid is wrapped by Entry.Validate errors: an entry that cannot be encoded.
	ErrInvalid = errors.New("fsm: invalid entry")
	// ErrStale is reported in Effects.Err for an entry that no longer applies
	// (an old connection's disconnect, a cancelled will, an early expiry).
	ErrStale = errors.New("fsm: stale entry")
	// ErrNoSession is reported in Effects.Err when the entry's client has no session.
	ErrNoSession = errors.New("fsm: no session")
	// ErrApplied is reported in Effects.Err when the offset was already applied.
	ErrApplied = errors.New("fsm: offset already applied")
)

// Protocol limits enforced by Validate and by the decoder.
const (
	MaxStringLen       = 65535     // topics, filters, client ids, property strings [MQTT-1.5.4]
	MaxSubscriptionID  = 268435455 // [MQTT-3.3.2.3.8] 1..268,435,455
	NeverExpire        = 0xFFFFFFFF
	maxPayloadLen      = 268435455 // the largest MQTT packet
	payloadFormatUTF8  = 1
	secondNanos        = int64(1e9)
	openGap            = ^log.Offset(0) // Range.To of a gap still open (session offline)
	maxRetainHandling  = 2
	maxQoS             = 2
	maxProtocolVersion = 5
	// MaxKeyIDLen bounds a revoked key's id (auth makes 32 hex digits).
	MaxKeyIDLen = 64
)

// Entry is one replicated event. Only the fields of its Kind are encoded;
// the others must be zero. Entries are values: not safe for concurrent
// mutation, safe to share read-only.
type Entry struct {
	Kind Kind
	// Time is the commit time (unix ns) the leader stamps on every record
	// of a batch (replication's batcher, non-decreasing along the log); the
	// value a proposer sets is ignored. Apply reads no other clock.
	Time int64
	// ClientID is the session the entry belongs to (the publisher for publishes).
	ClientID string
	// PacketID: for KindPublish the publisher's packet id (QoS > 0), for
	// KindQoS2Release the id being released.
	PacketID uint16

	Publish       Publish        // KindPublish
	Subscriptions []Subscription // KindSubscribe
	Filters       []string       // KindUnsubscribe
	Connect       Connect        // KindSessionConnect
	Disconnect    Disconnect     // KindSessionDisconnect
	Acks          []Ack          // KindAck
	// KeyID is the id of the signed key a KindKeyRevoke revokes.
	KeyID string
	// Consumer is the cursor of a KindConsumerCommit (every field) or the
	// name of a KindConsumerDelete (Name only).
	Consumer ConsumerCommit

	// Extensions is the forward-compatibility area: a sequence of
	// (uvarint tag, uvarint length, bytes) fields written by newer versions.
	// This version applies none of them and re-encodes them verbatim.
	Extensions []byte
}

// Message is an application message: the content of a publish or a will.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	Props   Properties
}

// Properties are the MQTT 5 properties that travel with a message to its
// receivers. Per-connection properties (topic alias) and per-delivery ones
// (subscription identifiers) are not part of the message.
type Properties struct {
	PayloadFormat        byte   // 0 unspecified bytes, 1 UTF-8 [MQTT-3.3.2.3.2]
	HasExpiry            bool   // MessageExpirySeconds is present
	MessageExpirySeconds uint32 // lifetime from the entry's Time [MQTT-3.3.2-5]
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	User                 []UserProperty // ordered; duplicates allowed [MQTT-3.3.2-18]
}

// UserProperty is one name/value pair.
type UserProperty struct{ Name, Value string }

// Publish is the body of KindPublish.
type Publish struct {
	Message
	// Will marks the publication of ClientID's will message. It applies only
	// while that will is pending and due; otherwise Effects.Err is ErrStale.
	Will bool
}

// Subscription is one filter of a SUBSCRIBE and its options.
type Subscription struct {
	Filter  string // may be "$share/{group}/{filter}"
	Options SubOptions
}

// SubOptions are the MQTT 5 subscription options [MQTT-3.8.3.1].
type SubOptions struct {
	QoS               byte   // maximum QoS granted
	NoLocal           bool   // [MQTT-3.8.3-3]
	RetainAsPublished bool   // [MQTT-3.3.1-12], [MQTT-3.3.1-13]
	RetainHandling    byte   // 0 send, 1 send if new, 2 never [MQTT-3.3.1-9..11]
	ID                uint32 // subscription identifier, 0 for none
	// OffsetProperty asks for the user property "offset" (the message's log
	// offset) on this subscription's deliveries: a Strata extension, opt-in
	// because it alters the message's user properties [MQTT-3.3.2-17/18].
	OffsetProperty bool
}

// Connect is the body of KindSessionConnect.
type Connect struct {
	CleanStart      bool
	ExpirySeconds   uint32 // session expiry interval; NeverExpire for never
	ProtocolVersion byte   // 3, 4 or 5
	Node            string // the node holding the network connection
	Will            *Will  // nil without a will
}

// Will is a will message and its delay [MQTT-3.1.3.2.2].
type Will struct {
	Message
	DelaySeconds uint32
}

// DisconnectReason says why a network connection ended.
type DisconnectReason uint8

// Disconnect reasons; part of the on-disk format.
const (
	ReasonNormal   DisconnectReason = 0 // DISCONNECT 0x00: discard the will [MQTT-3.14.4-3]
	ReasonWithWill DisconnectReason = 1 // any other close: publish the will
	ReasonTakeover DisconnectReason = 2 // closed because another connection took over
	ReasonNodeLost DisconnectReason = 3 // the node holding it left the cluster
	maxReason                       = ReasonNodeLost
)

var reasonNames = [...]string{"normal", "will", "takeover", "lost"}

func (r DisconnectReason) String() string {
	if r > maxReason {
		return fmt.Sprintf("reason(%d)", uint8(r))
	}
	return reasonNames[r]
}

// Disconnect is the body of KindSessionDisconnect.
type Disconnect struct {
	Reason DisconnectReason
	// Since is the offset of the SessionConnect entry that opened the
	// connection now closing; a disconnect of an older connection is stale.
	Since log.Offset
	// HasExpiry and ExpirySeconds carry the DISCONNECT's session expiry
	// interval, which replaces the CONNECT's [MQTT-3.14.2.2.2].
	HasExpiry     bool
	ExpirySeconds uint32
}

// AckKind is the type of one delivery acknowledgement.
type AckKind uint8

// Ack kinds; part of the on-disk format.
const (
	AckComplete AckKind = 0 // PUBACK (QoS 1) or PUBCOMP (QoS 2): the delivery is done
	AckReceived AckKind = 1 // PUBREC (QoS 2): resend PUBREL, not PUBLISH, from now on
	AckThrough  AckKind = 2 // every owed message of the replay gaps below Offset is done
	maxAckKind          = AckThrough
)

var ackNames = [...]string{"complete", "received", "through"}

func (k AckKind) String() string {
	if k > maxAckKind {
		return fmt.Sprintf("ack(%d)", uint8(k))
	}
	return ackNames[k]
}

// Ack acknowledges the delivery of the message at Offset.
type Ack struct {
	Offset log.Offset
	Kind   AckKind
}

// Validate reports whether e can be encoded: a known kind, bounded strings,
// valid topics and filters, QoS ≤ 2. The error wraps ErrInvalid.
func (e *Entry) Validate() error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, e.Kind, err)
	}
	return nil
}

func (e *Entry) validate() error {
	if !e.Kind.Valid() {
		return errors.New("unknown kind")
	}
	if len(e.ClientID) > MaxStringLen {
		return errors.New("client id too long")
	}
	if err := e.validateUnused(); err != nil {
		return err
	}
	if err := checkExtensions(e.Extensions); err != nil {
		return err
	}
	switch e.Kind {
	case KindPublish:
		return e.Publish.Message.validate()
	case KindSubscribe:
		return validateSubscriptions(e.Subscriptions)
	case KindUnsubscribe:
		return validateFilters(e.Filters)
	case KindSessionConnect:
		return e.Connect.validate()
	case KindSessionDisconnect:
		return e.Disconnect.validate()
	case KindAck:
		return validateAcks(e.Acks)
	case KindKeyRevoke:
		return validateKeyID(e.KeyID)
	case KindConsumerCommit:
		return e.Consumer.validate()
	case KindConsumerDelete:
		if e.Consumer != (ConsumerCommit{Name: e.Consumer.Name}) {
			return errors.New("consumer delete with cursor fields")
		}
		return ValidateConsumerName(e.Consumer.Name)
	}
	return nil
}

func validateKeyID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("key id of %d bytes (want 1 to %d)", len(id), MaxKeyIDLen)
	}
	return nil
}

// validateUnused rejects fields set for another kind: they would be lost.
func (e *Entry) validateUnused() error {
	k := e.Kind
	switch {
	case k != KindPublish && !isZeroPublish(&e.Publish):
		return errors.New("publish fields set")
	case k != KindSubscribe && e.Subscriptions != nil,
		k != KindUnsubscribe && e.Filters != nil,
		k != KindAck && e.Acks != nil,
		k != KindKeyRevoke && e.KeyID != "",
		k != KindConsumerCommit && k != KindConsumerDelete && e.Consumer != (ConsumerCommit{}):
		return errors.New("fields of another kind set")
	case k != KindSessionConnect && !isZeroConnect(&e.Connect),
		k != KindSessionDisconnect && e.Disconnect != (Disconnect{}):
		return errors.New("session fields of another kind set")
	case k != KindPublish && k != KindQoS2Release && e.PacketID != 0:
		return errors.New("packet id set")
	}
	return nil
}

func isZeroPublish(p *Publish) bool {
	return !p.Will && isZeroMessage(&p.Message)
}

func isZeroMessage(m *Message) bool {
	pr := &m.Props
	return m.Topic == "" && len(m.Payload) == 0 && m.QoS == 0 && !m.Retain &&
		pr.PayloadFormat == 0 && !pr.HasExpiry && pr.MessageExpirySeconds == 0 &&
		pr.ContentType == "" && pr.ResponseTopic == "" && len(pr.CorrelationData) == 0 &&
		len(pr.User) == 0
}

func isZeroConnect(c *Connect) bool {
	return !c.CleanStart && c.ExpirySeconds == 0 && c.ProtocolVersion == 0 && c.Node == "" && c.Will == nil
}

func (m *Message) validate() error {
	if err := topic.ValidateName(m.Topic); err != nil {
		return err
	}
	if m.QoS > maxQoS {
		return errors.New("qos > 2")
	}
	if len(m.Payload) > maxPayloadLen {
		return errors.New("payload too long")
	}
	return m.Props.validate()
}

func (p *Properties) validate() error {
	switch {
	case p.PayloadFormat > payloadFormatUTF8:
		return errors.New("payload format indicator > 1")
	case !p.HasExpiry && p.MessageExpirySeconds != 0:
		return errors.New("message expiry set without HasExpiry")
	case len(p.ContentType) > MaxStringLen, len(p.ResponseTopic) > MaxStringLen,
		len(p.CorrelationData) > MaxStringLen:
		return errors.New("property too long")
	case p.ResponseTopic != "" && topic.ValidateName(p.ResponseTopic) != nil:
		return errors.New("response topic is not a valid topic name")
	}
	for _, u := range p.User {
		if len(u.Name) > MaxStringLen || len(u.Value) > MaxStringLen {
			return errors.New("user property too long")
		}
	}
	return nil
}

func validateSubscriptions(subs []Subscription) error {
	if len(subs) == 0 {
		return errors.New("no subscriptions")
	}
	for _, s := range subs {
		if err := topic.ValidateFilter(s.Filter); err != nil {
			return err
		}
		if err := s.Options.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (o SubOptions) validate() error {
	switch {
	case o.QoS > maxQoS:
		return errors.New("subscription qos > 2")
	case o.RetainHandling > maxRetainHandling:
		return errors.New("retain handling > 2")
	case o.ID > MaxSubscriptionID:
		return errors.New("subscription identifier out of range")
	}
	return nil
}

func validateFilters(filters []string) error {
	if len(filters) == 0 {
		return errors.New("no filters")
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return err
		}
	}
	return nil
}

func (c *Connect) validate() error {
	switch {
	case c.ProtocolVersion > maxProtocolVersion:
		return errors.New("unknown protocol version")
	case len(c.Node) > MaxStringLen:
		return errors.New("node id too long")
	case c.Will != nil:
		return c.Will.Message.validate()
	}
	return nil
}

func (d *Disconnect) validate() error {
	switch {
	case d.Reason > maxReason:
		return errors.New("unknown disconnect reason")
	case !d.HasExpiry && d.ExpirySeconds != 0:
		return errors.New("expiry set without HasExpiry")
	}
	return nil
}

func validateAcks(acks []Ack) error {
	if len(acks) == 0 {
		return errors.New("no acks")
	}
	for _, a := range acks {
		if a.Kind > maxAckKind {
			return errors.New("unknown ack kind")
		}
	}
	return nil
}
