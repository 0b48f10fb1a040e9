package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stratamq/strata/log"
)

// b concatenates bytes and strings into a raw test vector.
func b(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			out = append(out, byte(v))
		case string:
			out = append(out, v...)
		case []byte:
			out = append(out, v...)
		}
	}
	return out
}

// head is version 2, client id "c1".
var head = b(2, 2, "c1")

// entryCases: the raw values are what Record writes; the time travels in the
// record's Time, the kind in its Kind and a publish's topic in its Key.
var entryCases = []struct {
	name string
	e    Entry
	raw  []byte // the record value
}{
	{"publish minimal", Entry{Kind: KindPublish, Time: 1, ClientID: "c1",
		Publish: Publish{Message: Message{Topic: "a/b", Payload: []byte("x")}}},
		b(head, 0, 0, 1, "x", 0, 0)},
	{"publish full", Entry{Kind: KindPublish, Time: 1, ClientID: "c1", PacketID: 300,
		Publish: Publish{Will: true, Message: Message{Topic: "t", QoS: 2, Retain: true, Props: Properties{
			PayloadFormat: 1, HasExpiry: true, MessageExpirySeconds: 60, ContentType: "j",
			ResponseTopic: "r", CorrelationData: []byte{9},
			User: []UserProperty{{"k", "v"}, {"k", "w"}}}}}, Extensions: []byte{1, 1, 0xFF}},
		b(head, 0xAC, 0x02, 0x0E, 0, 0x3F, 1, 60, 1, "j", 1, "r", 1, 9, 2, 1, "k", 1, "v", 1, "k", 1, "w",
			3, 1, 1, 0xFF)},
	{"publish expiry zero", Entry{Kind: KindPublish, Time: -1, Publish: Publish{Message: Message{
		Topic: "t", Props: Properties{HasExpiry: true}}}},
		b(2, 0, 0, 0, 0, 0x02, 0, 0)},
	{"subscribe", Entry{Kind: KindSubscribe, Time: 1, ClientID: "c1", Subscriptions: []Subscription{
		{Filter: "a/+", Options: SubOptions{QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 7}},
		{Filter: "$share/g/t"}}},
		b(head, 2, 3, "a/+", 0x2D, 7, 10, "$share/g/t", 0, 0, 0)},
	// Bit 6 is the offset user property (opt-in); entries written before it
	// existed have it clear and decode with OffsetProperty false.
	{"subscribe offset property", Entry{Kind: KindSubscribe, Time: 1, ClientID: "c1", Subscriptions: []Subscription{
		{Filter: "a", Options: SubOptions{QoS: 2, OffsetProperty: true}}}},
		b(head, 1, 1, "a", 0x42, 0, 0)},
	{"unsubscribe", Entry{Kind: KindUnsubscribe, Time: 1, ClientID: "c1", Filters: []string{"a/#"}},
		b(head, 1, 3, "a/#", 0)},
	{"connect with will", Entry{Kind: KindSessionConnect, Time: 1, ClientID: "c1", Connect: Connect{
		CleanStart: true, ExpirySeconds: NeverExpire, ProtocolVersion: 5, Node: "n1",
		Will: &Will{Message: Message{Topic: "w", Payload: []byte("bye"), QoS: 1, Retain: true}, DelaySeconds: 10}}},
		b(head, 0x17, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 5, 2, "n1", 1, "w", 3, "bye", 0, 10, 0)},
	{"connect plain", Entry{Kind: KindSessionConnect, Time: 1 << 62, ClientID: "c1", Connect: Connect{ProtocolVersion: 4}},
		b(head, 0, 0, 4, 0, 0)},
	{"disconnect", Entry{Kind: KindSessionDisconnect, Time: 1, ClientID: "c1", Disconnect: Disconnect{
		Reason: ReasonWithWill, Since: 5, HasExpiry: true, ExpirySeconds: 30}},
		b(head, 1, 1, 5, 30, 0)},
	{"disconnect normal", Entry{Kind: KindSessionDisconnect, Time: 1, ClientID: "c1"},
		b(head, 0, 0, 0, 0)},
	{"expire", Entry{Kind: KindSessionExpire, Time: 1, ClientID: "c1"}, b(head, 0)},
	{"ack", Entry{Kind: KindAck, Time: 1, ClientID: "c1", Acks: []Ack{
		{Offset: 5}, {Offset: 6, Kind: AckReceived}, {Offset: 200, Kind: AckThrough}}},
		b(head, 3, 5, 0, 6, 1, 0xC8, 0x01, 2, 0)},
	{"release", Entry{Kind: KindQoS2Release, Time: 1, ClientID: "c1", PacketID: 7}, b(head, 7, 0)},
	{"revoke", Entry{Kind: KindKeyRevoke, Time: 1, KeyID: "k1"}, b(2, 0, 2, "k1", 0)},
	{"consumer commit", Entry{Kind: KindConsumerCommit, Time: 1, Consumer: ConsumerCommit{
		Name: "etl", Filter: "s/#", Next: 300}}, b(2, 0, 3, "etl", 3, "s/#", 0xAC, 0x02, 0, 0)},
	{"consumer reset", Entry{Kind: KindConsumerCommit, Time: 1, Consumer: ConsumerCommit{
		Name: "etl", Filter: "s/#", Reset: true}}, b(2, 0, 3, "etl", 3, "s/#", 0, 1, 0)},
	{"consumer delete", Entry{Kind: KindConsumerDelete, Time: 1, Consumer: ConsumerCommit{Name: "etl"}},
		b(2, 0, 3, "etl", 0)},
}

// TestEntryEncoding: Record writes the raw value, the kind, the time and (for
// a publish only) the topic as key; DecodeRecord gives the entry back.
func TestEntryEncoding(t *testing.T) {
	for _, tc := range entryCases {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := tc.e.Record()
			if err != nil {
				t.Fatalf("record: %v", err)
			}
			if !bytes.Equal(rec.Value, tc.raw) {
				t.Fatalf("value:\n got % x\nwant % x", rec.Value, tc.raw)
			}
			if rec.Kind != uint8(tc.e.Kind) || rec.Time != tc.e.Time || string(rec.Key) != keyOf(tc.e) {
				t.Fatalf("record header: kind %d time %d key %q", rec.Kind, rec.Time, rec.Key)
			}
			dec, err := DecodeRecord(rec)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(dec, tc.e) {
				t.Fatalf("decode:\n got %+v\nwant %+v", dec, tc.e)
			}
		})
	}
}

func keyOf(e Entry) string {
	if e.Kind == KindPublish {
		return e.Publish.Topic
	}
	return ""
}

// TestDecodeTakesTimeAndTopicFromRecord: the record's Time and Key are the
// only copies, so changing them changes the entry.
func TestDecodeTakesTimeAndTopicFromRecord(t *testing.T) {
	rec, err := entryCases[0].e.Record()
	if err != nil {
		t.Fatal(err)
	}
	rec.Time, rec.Key = 42, []byte("other/topic")
	e, err := DecodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if e.Time != 42 || e.Publish.Topic != "other/topic" {
		t.Fatalf("time %d topic %q, want 42 other/topic", e.Time, e.Publish.Topic)
	}
	rec.Key[0] = 'X' // the entry shares no memory with the record
	if e.Publish.Topic != "other/topic" {
		t.Fatalf("topic changed with the key: %q", e.Publish.Topic)
	}
}

func TestDecodeErrors(t *testing.T) {
	pub := entryCases[0].raw
	cases := []struct {
		name string
		kind uint8
		key  string
		raw  []byte
		want string // in the error message, if set
	}{
		{"empty", 1, "t", nil, ""},
		{"unknown kind", 12, "", pub, "unknown entry kind 12"},
		{"kind zero", 0, "t", pub, ""},
		{"version 1", 1, "t", b(1, pub[1:]), "entry version 1"},
		{"version 1 with time", 1, "t", b(1, 2, 2, "c1", 0, 0, 1, "t", 1, "x", 0, 0), "entry version 1"},
		{"unknown version", 1, "t", b(3, pub[1:]), "unknown entry version 3"},
		{"truncated", 1, "t", pub[:len(pub)-1], ""},
		{"trailing", 1, "t", b(pub, 0), "trailing"},
		{"publish without key", 1, "", pub, "not a topic name"},
		{"wildcard key", 1, "a/#", pub, "not a topic name"},
		{"key too long", 1, strings.Repeat("k", MaxStringLen+1), pub, "too long"},
		{"key on subscribe", 2, "a", b(head, 1, 1, "a", 0, 0, 0), "unexpected record key"},
		{"key on expire", 6, "a", b(head, 0), "unexpected record key"},
		{"non-minimal varint", 8, "", b(2, 0x82, 0x00, "c1", 7, 0), "non-minimal"},
		{"packet id too big", 8, "", b(head, 0x80, 0x80, 0x04, 0), ""},
		{"qos 3", 1, "t", b(head, 0, 3, 0, 0, 0), ""},
		{"unknown publish flag", 1, "t", b(head, 0, 0x10, 0, 0, 0), ""},
		{"length past end", 1, "t", b(head, 0, 0, 9, "t", 0, 0), ""},
		{"present empty content type", 1, "t", b(head, 0, 0, 0, 0x04, 0, 0), ""},
		{"payload format 0 present", 1, "t", b(head, 0, 0, 0, 0x01, 0, 0), ""},
		{"unknown property bit", 1, "t", b(head, 0, 0, 0, 0x40, 0), ""},
		{"no subscriptions", 2, "", b(head, 0, 0), ""},
		{"bad filter", 2, "", b(head, 1, 3, "a/#/b", 0, 0, 0), ""},
		{"retain handling 3", 2, "", b(head, 1, 1, "a", 0x30, 0, 0), ""},
		{"unknown subscription option bit", 2, "", b(head, 1, 1, "a", 0x80, 0, 0), "option bits"},
		{"huge count", 3, "", b(head, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F), ""},
		{"connect flags without will", 4, "", b(head, 0x10, 0, 5, 0, 0), ""},
		{"bad boolean", 5, "", b(head, 0, 2, 0, 0), ""},
		{"unknown reason", 5, "", b(head, 9, 0, 0, 0), ""},
		{"unknown ack kind", 7, "", b(head, 1, 5, 3, 0), ""},
		{"malformed extension", 6, "", b(head, 2, 1, 5), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := log.Record{Kind: tc.kind, Key: []byte(tc.key), Value: tc.raw}
			_, err := DecodeRecord(rec)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord(%d, %.20q, % x) = %v, want ErrCorrupt", tc.kind, tc.key, tc.raw, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		e    Entry
	}{
		{"unknown kind", Entry{Kind: 0}},
		{"publish without topic", Entry{Kind: KindPublish}},
		{"fields of another kind", Entry{Kind: KindSessionExpire, Filters: []string{"a"}}},
		{"publish fields on ack", Entry{Kind: KindAck, Acks: []Ack{{}}, Publish: Publish{Will: true}}},
		{"revoke without key id", Entry{Kind: KindKeyRevoke}},
		{"key id on publish", Entry{Kind: KindPublish, KeyID: "k", Publish: Publish{Message: Message{Topic: "t"}}}},
		{"packet id on connect", Entry{Kind: KindSessionConnect, PacketID: 1}},
		{"expiry without flag", Entry{Kind: KindPublish, Publish: Publish{Message: Message{Topic: "t",
			Props: Properties{MessageExpirySeconds: 1}}}}},
		{"subscription id too big", Entry{Kind: KindSubscribe, Subscriptions: []Subscription{
			{Filter: "a", Options: SubOptions{ID: MaxSubscriptionID + 1}}}}},
		{"bad will topic", Entry{Kind: KindSessionConnect, Connect: Connect{Will: &Will{}}}},
		{"consumer without name", Entry{Kind: KindConsumerCommit, Consumer: ConsumerCommit{Filter: "a"}}},
		{"consumer name with a slash", Entry{Kind: KindConsumerCommit, Consumer: ConsumerCommit{Name: "a/b", Filter: "a"}}},
		{"consumer of a shared filter", Entry{Kind: KindConsumerCommit, Consumer: ConsumerCommit{Name: "a", Filter: "$share/g/a"}}},
		{"consumer delete with a filter", Entry{Kind: KindConsumerDelete, Consumer: ConsumerCommit{Name: "a", Filter: "a"}}},
		{"consumer fields on revoke", Entry{Kind: KindKeyRevoke, KeyID: "k", Consumer: ConsumerCommit{Name: "a"}}},
	}
	for _, tc := range cases {
		if err := tc.e.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tc.name, err)
		}
		if _, err := tc.e.Record(); err == nil {
			t.Errorf("%s: Record accepted an invalid entry", tc.name)
		}
	}
}
