package packet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func readOne(raw []byte, version byte, maxSize uint32) (Packet, error) {
	return Read(bufio.NewReader(bytes.NewReader(raw)), version, maxSize)
}

func TestDecode(t *testing.T) {
	for _, tc := range tableCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOne(tc.raw, tc.version, 0)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Read error = %v, want %v", err, tc.err)
				}
				checkReasonWrapped(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Read =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

// checkReasonWrapped asserts that a non-I/O decode error carries a ReasonCode.
func checkReasonWrapped(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return
	}
	var code ReasonCode
	if !errors.As(err, &code) || !code.IsError() {
		t.Fatalf("error %v does not wrap a failure ReasonCode", err)
	}
	if !strings.HasPrefix(err.Error(), "packet: ") {
		t.Fatalf("error %q lacks the package prefix", err)
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range tableCases {
		if tc.err != nil || tc.decodeOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := Encode(prefix, tc.want, tc.version)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got[len(prefix):], tc.raw) || !bytes.Equal(got[:len(prefix)], prefix) {
				t.Fatalf("Encode =\n% x\nwant\n% x", got[len(prefix):], tc.raw)
			}
			size, err := Size(tc.want, tc.version)
			if err != nil || size != len(tc.raw) {
				t.Fatalf("Size = %d, %v; want %d", size, err, len(tc.raw))
			}
		})
	}
}

// TestDecodeMatchesRead checks Decode on a framed body gives what Read gives.
func TestDecodeMatchesRead(t *testing.T) {
	for _, tc := range tableCases {
		if tc.err != nil {
			continue
		}
		_, n, err := parseVarint(tc.raw[1:], false)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := Decode(tc.raw[0], tc.raw[1+n:], tc.version)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: Decode = %#v, %v", tc.name, got, err)
		}
	}
}

func TestReadSequence(t *testing.T) {
	var stream []byte
	var want []Packet
	for _, tc := range tableCases {
		if tc.err == nil && tc.version == Version5 {
			stream = append(stream, tc.raw...)
			want = append(want, tc.want)
		}
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	for i, w := range want {
		got, err := Read(r, Version5, 0)
		if err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("packet %d: Read = %#v, %v; want %#v", i, got, err, w)
		}
	}
	if _, err := Read(r, Version5, 0); err != io.EOF {
		t.Fatalf("Read at end = %v, want io.EOF", err)
	}
}

func TestReadMaxSize(t *testing.T) {
	raw := []byte{0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i'} // 9 bytes in all
	for _, tc := range []struct {
		maxSize uint32
		err     error
	}{{0, nil}, {9, nil}, {100, nil}, {8, ErrPacketTooLarge}, {1, ErrPacketTooLarge}} {
		_, err := readOne(raw, Version311, tc.maxSize)
		if !errors.Is(err, tc.err) {
			t.Errorf("maxSize %d: err = %v, want %v", tc.maxSize, err, tc.err)
		}
	}
}

// TestReadRejectsOversizeBeforeAllocating announces a 256 MiB packet and
// checks Read refuses it without reading or allocating the body.
func TestReadRejectsOversizeBeforeAllocating(t *testing.T) {
	raw := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readOne(raw, Version5, 1<<20)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("err = %v, want ErrPacketTooLarge", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("Read allocated %d bytes for a rejected packet", grew)
	}
}

func TestDecodeUnsupportedVersionReturnsConnect(t *testing.T) {
	raw := []byte{0, 4, 'M', 'Q', 'T', 'T', 7, 0x02, 0, 60, 0, 0}
	p, err := Decode(0x10, raw, 0)
	var code ReasonCode
	if !errors.As(err, &code) || code != CodeUnsupportedProtocolVersion {
		t.Fatalf("err = %v, want unsupported protocol version", err)
	}
	if c, ok := p.(*Connect); !ok || c.ProtocolVersion != 7 {
		t.Fatalf("packet = %#v, want the partial *Connect with level 7", p)
	}
}

// TestReadReasonCodeForErrorsAs shows how a connection layer picks its code.
func TestReadReasonCodeForErrorsAs(t *testing.T) {
	_, err := readOne([]byte{0x30, 7, 0, 1, 't', 3, 0x23, 0, 0}, Version5, 0)
	var code ReasonCode
	if !errors.As(err, &code) || code != CodeTopicAliasInvalid {
		t.Fatalf("errors.As(%v) = %v, want topic alias invalid", err, code)
	}
	if !strings.Contains(err.Error(), "[MQTT-3.3.2-8]") {
		t.Fatalf("error %q does not name the rule", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("x", MaxStringBytes+1)
	cases := []struct {
		name    string
		version byte
		p       Packet
	}{
		{"unknown version", 6, &Pingreq{}},
		{"version 0", 0, &Puback{PacketID: 1}},
		{"publish qos 3", 4, &Publish{QoS: 3, Topic: "t", PacketID: 1}},
		{"publish dup qos 0", 4, &Publish{Dup: true, Topic: "t"}},
		{"publish qos 1 packet id 0", 4, &Publish{QoS: 1, Topic: "t"}},
		{"publish qos 0 packet id", 4, &Publish{Topic: "t", PacketID: 1}},
		{"publish wildcard topic", 4, &Publish{Topic: "a/#"}},
		{"publish empty topic v3.1.1", 4, &Publish{}},
		{"publish empty topic without alias v5", 5, &Publish{}},
		{"publish topic too long", 4, &Publish{Topic: long}},
		{"publish session expiry", 5, &Publish{Topic: "t", Properties: Properties{SessionExpirySeconds: 1}}},
		{"publish topic alias 0 present", 5, &Publish{Topic: "t", Properties: Properties{Present: set(PropTopicAlias)}}},
		{"publish subscription id 0", 5, &Publish{Topic: "t", Properties: Properties{SubscriptionIDs: []uint32{0}}}},
		{"publish subscription id too big", 5, &Publish{Topic: "t", Properties: Properties{SubscriptionIDs: []uint32{MaxVarint + 1}}}},
		{"publish user property too long", 5, &Publish{Topic: "t", Properties: Properties{UserProperties: []UserProperty{{long, ""}}}}},
		{"publish content type too long", 5, &Publish{Topic: "t", Properties: Properties{ContentType: long}}},
		{"publish payload format 2", 5, &Publish{Topic: "t", Properties: Properties{PayloadFormat: 2}}},
		{"present holds user property id", 5, &Publish{Topic: "t", Properties: Properties{Present: set(PropUserProperty)}}},
		{"puback v3.1.1 reason code", 4, &Puback{PacketID: 1, ReasonCode: CodeUnspecifiedError}},
		{"puback v3.1.1 properties", 4, &Puback{PacketID: 1, Properties: Properties{ReasonString: "x"}}},
		{"pubrel v5 puback code", 5, &Pubrel{PacketID: 1, ReasonCode: CodeNoMatchingSubscribers}},
		{"connack v3.1.1 malformed code", 4, &Connack{ReasonCode: CodeMalformedPacket}},
		{"connack session present on failure", 5, &Connack{SessionPresent: true, ReasonCode: CodeNotAuthorized}},
		{"connack v3.1 session present", 3, &Connack{SessionPresent: true}},
		{"connack v5 code not for connack", 5, &Connack{ReasonCode: CodeGrantedQoS1}},
		{"connack topic alias", 5, &Connack{Properties: Properties{TopicAlias: 1}}},
		{"connack maximum qos 2", 5, &Connack{Properties: Properties{MaximumQoS: 2}}},
		{"connack receive maximum 0 present", 5, &Connack{Properties: Properties{Present: set(PropReceiveMaximum)}}},
		{"connack auth data without method", 5, &Connack{Properties: Properties{AuthData: []byte{1}}}},
		{"connect v3.1.1 password without user name", 4, &Connect{ProtocolVersion: 4, Password: []byte("p")}},
		{"connect will qos 3", 4, &Connect{ProtocolVersion: 4, Will: &Will{QoS: 3, Topic: "t"}}},
		{"connect will wildcard topic", 4, &Connect{ProtocolVersion: 4, Will: &Will{Topic: "+"}}},
		{"connect protocol name mismatch", 4, &Connect{ProtocolName: "MQIsdp", ProtocolVersion: 4}},
		{"connect will property not allowed", 5, &Connect{ProtocolVersion: 5, Will: &Will{Topic: "t", Properties: Properties{SessionExpirySeconds: 1}}}},
		{"connect client id too long", 4, &Connect{ProtocolVersion: 4, ClientID: long}},
		{"subscribe no filter", 4, &Subscribe{PacketID: 1}},
		{"subscribe packet id 0", 4, &Subscribe{Subscriptions: []Subscription{{Filter: "a"}}}},
		{"subscribe v3.1.1 no local", 4, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", NoLocal: true}}}},
		{"subscribe qos 3", 5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 3}}}},
		{"subscribe retain handling 3", 5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}},
		{"subscribe no local shared", 5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}}},
		{"subscribe two subscription ids", 5, &Subscribe{PacketID: 1, Properties: Properties{SubscriptionIDs: []uint32{1, 2}}, Subscriptions: []Subscription{{Filter: "a"}}}},
		{"suback no codes", 4, &Suback{PacketID: 1}},
		{"suback v5 code not for suback", 5, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{CodeNoMatchingSubscribers}}},
		{"suback v3.1.1 code 3", 4, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{3}}},
		{"unsubscribe no filter", 5, &Unsubscribe{PacketID: 1}},
		{"unsubscribe packet id 0", 4, &Unsubscribe{Filters: []string{"a"}}},
		{"unsuback v3.1.1 codes", 4, &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{0}}},
		{"unsuback v5 no codes", 5, &Unsuback{PacketID: 1}},
		{"disconnect v3.1.1 reason code", 4, &Disconnect{ReasonCode: CodeServerShuttingDown}},
		{"disconnect v5 code not for disconnect", 5, &Disconnect{ReasonCode: CodeGrantedQoS1}},
		{"disconnect assigned client id", 5, &Disconnect{Properties: Properties{AssignedClientID: "x"}}},
		{"auth v3.1.1", 4, &Auth{}},
		{"auth without method", 5, &Auth{ReasonCode: CodeContinueAuthentication}},
		{"auth code not for auth", 5, &Auth{ReasonCode: CodeGrantedQoS1, Properties: Properties{AuthMethod: "m"}}},
	}
	for _, tc := range cases {
		buf, err := Encode([]byte("keep"), tc.p, tc.version)
		if !errors.Is(err, ErrEncode) {
			t.Errorf("%s: Encode error = %v, want ErrEncode", tc.name, err)
		}
		if string(buf) != "keep" {
			t.Errorf("%s: Encode changed buf on error: %q", tc.name, buf)
		}
		if _, err := Size(tc.p, tc.version); !errors.Is(err, ErrEncode) {
			t.Errorf("%s: Size error = %v, want ErrEncode", tc.name, err)
		}
	}
}

func TestConnackReturnCodes(t *testing.T) {
	for rc := ReturnCode(0); rc <= ReturnNotAuthorized; rc++ {
		code, ok := rc.ReasonCode()
		back, ok2 := ReturnCodeOf(code)
		if !ok || !ok2 || back != rc {
			t.Errorf("return code %d -> %v -> %d", rc, code, back)
		}
		raw, err := Encode(nil, &Connack{ReasonCode: code}, Version311)
		if err != nil || raw[3] != byte(rc) {
			t.Errorf("Encode connack %v = % x, %v", code, raw, err)
		}
	}
	if _, ok := ReturnCode(6).ReasonCode(); ok {
		t.Error("return code 6 should be reserved")
	}
	for _, c := range []ReasonCode{CodeServerBusy, CodeBanned, CodeBadAuthenticationMethod} {
		if _, ok := ReturnCodeOf(c); !ok {
			t.Errorf("%v has no 3.1.1 return code", c)
		}
	}
}

func TestSubackV311MapsFailures(t *testing.T) {
	raw, err := Encode(nil, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{CodeGrantedQoS1, CodeNotAuthorized}}, Version311)
	want := []byte{0x90, 4, 0, 1, 1, 0x80}
	if err != nil || !bytes.Equal(raw, want) {
		t.Fatalf("Encode = % x, %v; want % x", raw, err, want)
	}
}

func TestReasonCodeNames(t *testing.T) {
	named := 0
	for c := 0; c < 256; c++ {
		s := ReasonCode(c).String()
		if !strings.HasPrefix(s, "reason code 0x") {
			named++
		}
		if ReasonCode(c).Error() != s {
			t.Fatalf("Error and String differ for %#x", c)
		}
	}
	if named != 43 {
		t.Fatalf("%d named reason codes, want the 43 of MQTT 5.0", named)
	}
	if got := ReasonCode(0x03).String(); got != "reason code 0x03" {
		t.Fatalf("String(0x03) = %q", got)
	}
}

func TestPropertyTable(t *testing.T) {
	ids := 0
	for id := range propTable {
		info := propTable[id]
		if info.kind == kindNone {
			continue
		}
		ids++
		pid := PropertyID(id)
		if pid.String() != info.name || info.allowed == 0 {
			t.Errorf("property %#x: %q allowed %b", id, pid, info.allowed)
		}
		var p Properties
		ok := p.bytePtr(pid) != nil || p.uint16Ptr(pid) != nil || p.uint32Ptr(pid) != nil ||
			p.stringPtr(pid) != nil || p.binaryPtr(pid) != nil
		if single := info.kind != kindVarint && info.kind != kindPair; ok != single {
			t.Errorf("property %v: field lookup %v, single-valued %v", pid, ok, single)
		}
	}
	if ids != 27 {
		t.Fatalf("%d properties, want the 27 of MQTT 5.0", ids)
	}
}

// TestVarint: the encoder uses the fewest bytes (varintLen), and the 5.0
// decoder refuses a longer encoding as malformed [MQTT-1.5.5-1] (5.0).
func TestVarint(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxVarint} {
		b := appendVarint(nil, v)
		got, n, err := parseVarint(b, true)
		if err != nil || got != v || n != len(b) || n != varintLen(v) {
			t.Errorf("varint %d: % x -> %d, %d, %v", v, b, got, n, err)
		}
	}
	for _, b := range [][]byte{{0x80}, {0xFF, 0xFF, 0xFF, 0xFF, 0x01}, {0x80, 0x80, 0x80, 0x80}} {
		if _, _, err := parseVarint(b, false); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: err = %v, want malformed", b, err)
		}
	}
	if _, _, err := parseVarint([]byte{0x80, 0x00}, false); err != nil {
		t.Errorf("non-minimal accepted without the 5.0 rule: %v", err)
	}
	if _, _, err := parseVarint([]byte{0x81, 0x80, 0x00}, true); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-minimal 3-byte varint: err = %v, want malformed", err)
	}
}

func TestValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true}, {"abc", true}, {"€", true}, {"\uFEFF", true}, {"\U0010FFFF", true},
		{"a\x00b", false}, {"\xed\xa0\x80", false}, {"\xc0\xaf", false}, {"\xff", false},
		{"\xe2\x82", false}, {"\xf4\x90\x80\x80", false},
	} {
		if got := validUTF8([]byte(tc.s)); got != tc.want {
			t.Errorf("validUTF8(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestPropertiesHas(t *testing.T) {
	p := Properties{Present: set(PropMaximumQoS), ReasonString: "r", UserProperties: []UserProperty{{"a", "b"}}}
	for id, want := range map[PropertyID]bool{
		PropMaximumQoS: true, PropReasonString: true, PropUserProperty: true,
		PropSubscriptionID: false, PropTopicAlias: false,
	} {
		if p.Has(id) != want {
			t.Errorf("Has(%v) = %v, want %v", id, !want, want)
		}
	}
}

func ExampleEncode() {
	buf, err := Encode(nil, &Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("hi")}, Version311)
	fmt.Printf("% x %v\n", buf, err)
	// Output: 32 09 00 03 61 2f 62 00 07 68 69 <nil>
}

// TestPublishPayloadAliasesBody checks the read path copies the payload only
// once: Decode hands out a slice of the body, not a copy.
func TestPublishPayloadAliasesBody(t *testing.T) {
	body := []byte{0, 1, 't', 0, 'p', 'a', 'y'}
	p, err := Decode(0x30, body, Version5)
	if err != nil {
		t.Fatal(err)
	}
	payload := p.(*Publish).Payload
	if string(payload) != "pay" || &payload[0] != &body[4] || cap(payload) != 3 {
		t.Fatalf("payload %q does not alias the body tail", payload)
	}
}

// TestLargePublish covers a four-byte Remaining Length.
func TestLargePublish(t *testing.T) {
	p := &Publish{Topic: "big", Payload: bytes.Repeat([]byte{0xA5}, 2_100_000)}
	raw, err := Encode(nil, p, Version311)
	if err != nil || raw[1]&0x80 == 0 || raw[4]&0x80 != 0 {
		t.Fatalf("Encode: header % x, %v", raw[:5], err)
	}
	got, err := readOne(raw, Version311, uint32(len(raw)))
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Read: %v", err)
	}
	if _, err := readOne(raw, Version311, uint32(len(raw)-1)); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("Read with maxSize one short: %v", err)
	}
}
