package packet

import (
	"bytes"
	"fmt"
	"testing"
)

// sharedEncoding is how a broker sends one encoding to many receivers:
// the head encoded once under a placeholder identifier, the identifier
// patched per receiver, the payload appended.
func sharedEncoding(t *testing.T, p Publish, version byte) []byte {
	t.Helper()
	id := p.PacketID
	if p.QoS > 0 {
		p.PacketID = 0xffff // the placeholder: any valid id
	}
	head, err := AppendPublishHead(nil, &p, version)
	if err != nil {
		t.Fatalf("AppendPublishHead: %v", err)
	}
	out := append([]byte(nil), head...)
	if at := PublishIDAt(head); p.QoS > 0 {
		if at < 0 {
			t.Fatalf("no identifier found in % x", head)
		}
		out[at], out[at+1] = byte(id>>8), byte(id)
	} else if at != -1 {
		t.Fatalf("QoS 0 head % x: identifier at %d", head, at)
	}
	return append(out, p.Payload...)
}

func headCases() []Publish {
	props := Properties{PayloadFormat: 1, MessageExpirySeconds: 30, ContentType: "text/plain",
		ResponseTopic: "re/ply", CorrelationData: []byte{1, 2},
		UserProperties: []UserProperty{{"a", "b"}, {"offset", "42"}}, SubscriptionIDs: []uint32{7, 300}}
	props.Present.Add(PropMessageExpiry)
	var cases []Publish
	for _, qos := range []byte{0, 1, 2} {
		for _, retain := range []bool{false, true} {
			for _, dup := range []bool{false, true} {
				if dup && qos == 0 {
					continue
				}
				for _, payload := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("y"), 200)} {
					p := Publish{QoS: qos, Retain: retain, Dup: dup, Topic: "a/b", Payload: payload}
					if qos > 0 {
						p.PacketID = 0x1234
					}
					cases = append(cases, p)
					p.Properties = props
					cases = append(cases, p)
				}
			}
		}
	}
	return cases
}

// TestPublishHeadSharedEqualsEncode: a shared head with its identifier
// patched, then the payload, is byte for byte what Encode produces for
// the receiver's own packet, for 3.1, 3.1.1 and 5.0, QoS 0/1/2, retain,
// dup, with and without properties.
func TestPublishHeadSharedEqualsEncode(t *testing.T) {
	for _, version := range []byte{Version31, Version311, Version5} {
		for i, p := range headCases() {
			if version != Version5 && !p.Properties.empty() {
				continue
			}
			t.Run(fmt.Sprintf("v%d/%d", version, i), func(t *testing.T) {
				want, err := Encode(nil, &p, version)
				if err != nil {
					t.Fatal(err)
				}
				if got := sharedEncoding(t, p, version); !bytes.Equal(got, want) {
					t.Fatalf("shared % x\nEncode % x", got, want)
				}
			})
		}
	}
}

// TestPublishHeadErrors: a head is refused for what Encode refuses.
func TestPublishHeadErrors(t *testing.T) {
	for _, p := range []Publish{{QoS: 1, Topic: "a"}, {Topic: "a/#"}, {QoS: 3, PacketID: 1, Topic: "a"}} {
		if _, err := AppendPublishHead(nil, &p, Version311); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
	if at := PublishIDAt([]byte{0x32, 5, 0, 9}); at != -1 {
		t.Errorf("truncated head: identifier at %d", at)
	}
}

// FuzzPublishHead compares the shared encoding with Encode for arbitrary
// publishes that Encode accepts.
func FuzzPublishHead(f *testing.F) {
	f.Add("a/b", []byte("hi"), byte(0x0b), uint16(7), "k", "v", uint32(5), true)
	f.Add("t", []byte{}, byte(0x02), uint16(1), "", "", uint32(0), false)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, flags byte, id uint16, key, value string,
		expiry uint32, v5 bool) {
		p := Publish{Topic: topic, Payload: payload, QoS: flags >> 1 & 3, Retain: flags&1 != 0,
			Dup: flags&8 != 0, PacketID: id}
		version := byte(Version311)
		if v5 {
			version = Version5
			p.Properties.PayloadFormat = flags >> 4 & 1
			if key != "" {
				p.Properties.UserProperties = []UserProperty{{key, value}}
			}
			if flags&0x20 != 0 {
				p.Properties.MessageExpirySeconds = expiry
				p.Properties.Present.Add(PropMessageExpiry)
			}
		}
		want, err := Encode(nil, &p, version)
		if err != nil {
			if _, herr := AppendPublishHead(nil, &p, version); herr == nil {
				t.Fatalf("Encode refused (%v), AppendPublishHead did not", err)
			}
			return
		}
		if got := sharedEncoding(t, p, version); !bytes.Equal(got, want) {
			t.Fatalf("shared % x\nEncode % x", got, want)
		}
	})
}
