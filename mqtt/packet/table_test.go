package packet

import "io"

// tableCase is one raw packet. The same table drives TestDecode (raw → want
// or err), TestEncode (want → raw, unless decodeOnly) and seeds FuzzRead.
type tableCase struct {
	name       string
	version    byte // connection version passed to Read; 0 = before CONNECT
	raw        []byte
	want       Packet // decoded packet when err is nil
	err        error  // the ReasonCode (or io error) the decode must wrap
	decodeOnly bool   // raw is valid but not the canonical encoding of want
}

// set builds a PropertySet for expected Properties.Present values.
func set(ids ...PropertyID) PropertySet {
	var s PropertySet
	for _, id := range ids {
		s.Add(id)
	}
	return s
}

var tableCases = []tableCase{
	// CONNECT ------------------------------------------------------------
	{
		name: "connect v3.1.1", version: 0,
		raw:  []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'z', 'e', 'n'},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, KeepAliveSeconds: 60, ClientID: "zen"},
	},
	{
		name: "connect v3.1 MQIsdp", version: 0,
		raw:  []byte{0x10, 16, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 30, 0, 2, 'c', '1'},
		want: &Connect{ProtocolName: "MQIsdp", ProtocolVersion: 3, CleanStart: true, KeepAliveSeconds: 30, ClientID: "c1"},
	},
	{
		name: "connect v3.1.1 will username password", version: 0,
		raw: []byte{0x10, 35, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xEE, 0, 10,
			0, 3, 'c', 'i', 'd', // client id
			0, 3, 'l', 'w', 't', // will topic
			0, 2, 'b', 'y', // will payload
			0, 4, 'u', 's', 'e', 'r', // user name
			0, 3, 'p', 'w', 'd'}, // password
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, KeepAliveSeconds: 10,
			ClientID: "cid", Will: &Will{QoS: 1, Retain: true, Topic: "lwt", Payload: []byte("by")},
			HasUsername: true, Username: "user", HasPassword: true, Password: []byte("pwd")},
	},
	{
		name: "connect v3.1.1 empty user name and password", version: 4,
		raw:  []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 4, HasUsername: true, HasPassword: true},
	},
	{
		name: "connect v5 properties", version: 0,
		raw: []byte{0x10, 30, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30,
			15,                 // property length
			0x11, 0, 0, 0, 120, // session expiry
			0x21, 0, 10, // receive maximum
			0x26, 0, 1, 'k', 0, 1, 'v', // user property
			0, 2, 'c', '5'},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAliveSeconds: 30,
			ClientID: "c5", Properties: Properties{Present: set(PropSessionExpiry, PropReceiveMaximum),
				SessionExpirySeconds: 120, ReceiveMaximum: 10, UserProperties: []UserProperty{{"k", "v"}}}},
	},
	{
		name: "connect v5 will properties", version: 0,
		raw: []byte{0x10, 27, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x06, 0, 0, 0,
			0, 1, 'w', // client id
			7, 0x01, 1, 0x18, 0, 0, 0, 5, // will properties
			0, 1, 't', 0, 0},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, ClientID: "w",
			Will: &Will{Topic: "t", Properties: Properties{Present: set(PropPayloadFormat, PropWillDelay),
				PayloadFormat: 1, WillDelaySeconds: 5}}},
	},
	{
		name: "connect v5 password without user name", version: 0,
		raw: []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x42, 0, 0, 0, 0, 1, 'p', 0, 2, 'p', 'w'},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, ClientID: "p",
			HasPassword: true, Password: []byte("pw")},
	},
	{
		name: "connect v5 auth method and data", version: 0,
		raw: []byte{0x10, 24, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0,
			11, 0x15, 0, 3, 'p', 'l', 'n', 0x16, 0, 2, 1, 2, 0, 0},
		want: &Connect{ProtocolName: "MQTT", ProtocolVersion: 5, Properties: Properties{
			Present: set(PropAuthMethod, PropAuthData), AuthMethod: "pln", AuthData: []byte{1, 2}}},
	},
	// [MQTT-3.1.2-3] (both versions)
	{name: "connect reserved flag", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x03, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.1.2-11] [MQTT-3.1.2-13]
	{name: "connect will qos without will", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x0A, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.1.2-11] [MQTT-3.1.2-15]
	{name: "connect will retain without will", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x22, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.1.2-14]; 5.0 [MQTT-3.1.2-12]
	{name: "connect will qos 3", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x1E, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.1.2-22]
	{name: "connect v3.1.1 password without user name", raw: []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x42, 0, 0, 0, 1, 'p', 0, 2, 'p', 'w', 0}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.1.2-18], [MQTT-3.1.2-20]: no user name or password without its flag.
	{name: "connect v3.1.1 user name without flag", raw: []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c', 0, 1, 'u'}, err: ErrMalformed},
	{name: "connect v3.1.1 password without flag", raw: []byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 60, 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'}, err: ErrMalformed},
	// 5.0 [MQTT-3.1.2-11], [MQTT-3.1.2-13]: no Will QoS or Will Retain without the Will Flag.
	{name: "connect v5 will qos without will", raw: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x0A, 0, 60, 0, 0, 1, 'c'}, err: ErrMalformed},
	{name: "connect v5 will retain without will", raw: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x22, 0, 60, 0, 0, 1, 'c'}, err: ErrMalformed},
	// 5.0 [MQTT-3.1.2-16], [MQTT-3.1.2-18]: no User Name or Password without its flag.
	{name: "connect v5 user name without flag", raw: []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 1, 'c', 0, 1, 'u'}, err: ErrMalformed},
	{name: "connect v5 password without flag", raw: []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x82, 0, 60, 0, 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'}, err: ErrMalformed},
	{name: "connect v3.1.1 will flag without will topic", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x06, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	{name: "connect user name flag without user name", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x82, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	// [MQTT-3.1.2-1] (both versions)
	{name: "connect bad protocol name", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrProtocolError},
	// [MQTT-3.1.2-2] (both versions)
	{name: "connect level 6", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 6, 0x02, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrUnsupportedProtocolVersion},
	{name: "connect MQIsdp level 4", raw: []byte{0x10, 15, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4, 0x02, 0, 30, 0, 1, 'c'}, err: ErrUnsupportedProtocolVersion},
	{name: "connect MQTT level 3", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 3, 0x02, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrUnsupportedProtocolVersion},
	{name: "connect truncated protocol name", raw: []byte{0x10, 5, 0, 4, 'M', 'Q', 'T'}, err: ErrMalformed},
	{name: "connect trailing byte", raw: []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'z', 'e', 'n', 0}, err: ErrMalformed},
	{name: "connect ill-formed utf-8", raw: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 0xC3, 0x28}, err: ErrMalformed},
	{name: "connect U+0000 in client id", raw: []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 0}, err: ErrMalformed},
	{name: "connect surrogate in client id", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 0xED, 0xA0, 0x80}, err: ErrMalformed},
	{name: "connect overlong utf-8", raw: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 0xC0, 0xAF}, err: ErrMalformed},
	// 5.0 [MQTT-2.1.3-1]; 3.1.1 [MQTT-2.2.2-1]
	{name: "connect fixed header flags", raw: []byte{0x11, 15, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'z', 'e', 'n'}, err: ErrMalformed},
	{name: "connect v5 auth data without method", raw: []byte{0x10, 17, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 4, 0x16, 0, 1, 'x', 0, 0}, err: ErrProtocolError},
	{name: "connect v5 topic alias not allowed", raw: []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 3, 0x23, 0, 1, 0, 0}, err: ErrMalformed},
	{name: "connect v5 duplicate session expiry", raw: []byte{0x10, 23, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 0}, err: ErrProtocolError},
	{name: "connect v5 second authentication method", raw: []byte{0x10, 23, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 10, 0x15, 0, 2, 'a', 'b', 0x15, 0, 2, 'c', 'd', 0, 0}, err: ErrProtocolError},
	{name: "connect v5 receive maximum 0", raw: []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 3, 0x21, 0, 0, 0, 0}, err: ErrProtocolError},
	{name: "connect v5 maximum packet size 0", raw: []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 5, 0x27, 0, 0, 0, 0, 0, 0}, err: ErrProtocolError},
	{name: "connect v5 request problem info 2", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 2, 0x17, 2, 0, 0}, err: ErrProtocolError},
	{name: "connect v5 unknown property", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 2, 0x05, 1, 0, 0}, err: ErrMalformed},
	{name: "connect v5 property length overruns", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 9, 0x17, 1, 0, 0}, err: ErrMalformed},
	{name: "connect v5 property value truncated", raw: []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 2, 0x21, 1, 0, 0}, err: ErrMalformed},
	// 5.0 [MQTT-1.5.5-1]
	{name: "connect v5 non-minimal property length", raw: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 0x80, 0, 0, 0}, err: ErrMalformed},
	{name: "connect v5 will topic wildcard", raw: []byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, '#', 0, 0}, err: ErrTopicNameInvalid},
	{name: "connect v5 session expiry in will", raw: []byte{0x10, 24, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x04, 0, 0, 0, 0, 0, 5, 0x11, 0, 0, 0, 1, 0, 1, 't', 0, 0}, err: ErrMalformed},
	// 5.0 [MQTT-1.5.7-1]
	{name: "connect v5 user property ill-formed", raw: []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 7, 0x26, 0, 1, 0xFF, 0, 1, 'v', 0, 0}, err: ErrMalformed},
	// 5.0 [MQTT-1.5.7-1]: the value half is checked too.
	{name: "connect v5 user property value ill-formed", raw: []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 5, 0, 0, 0, 7, 0x26, 0, 1, 'k', 0, 1, 0xFF, 0, 0}, err: ErrMalformed},

	// CONNACK ------------------------------------------------------------
	{name: "connack v3.1.1", version: 4, raw: []byte{0x20, 2, 0, 0}, want: &Connack{}},
	{name: "connack v3.1.1 session present", version: 4, raw: []byte{0x20, 2, 1, 0}, want: &Connack{SessionPresent: true}},
	{name: "connack v3.1.1 not authorized", version: 4, raw: []byte{0x20, 2, 0, 5}, want: &Connack{ReasonCode: CodeNotAuthorized}},
	{name: "connack v3.1.1 bad protocol version", version: 4, raw: []byte{0x20, 2, 0, 1}, want: &Connack{ReasonCode: CodeUnsupportedProtocolVersion}},
	{name: "connack v3.1", version: 3, raw: []byte{0x20, 2, 0, 2}, want: &Connack{ReasonCode: CodeClientIdentifierNotValid}},
	{name: "connack v3.1 session present bit", version: 3, raw: []byte{0x20, 2, 1, 0}, err: ErrMalformed},
	{name: "connack v3.1.1 reserved return code", version: 4, raw: []byte{0x20, 2, 0, 6}, err: ErrMalformed},
	{name: "connack v3.1.1 reserved flag", version: 4, raw: []byte{0x20, 2, 2, 0}, err: ErrMalformed},
	{name: "connack v3.1.1 session present on failure", version: 4, raw: []byte{0x20, 2, 1, 5}, err: ErrProtocolError},
	{name: "connack v3.1.1 too long", version: 4, raw: []byte{0x20, 3, 0, 0, 0}, err: ErrMalformed},
	{name: "connack v5", version: 5, raw: []byte{0x20, 3, 0, 0, 0}, want: &Connack{}},
	{name: "connack v5 not authorized", version: 5, raw: []byte{0x20, 3, 0, 0x87, 0}, want: &Connack{ReasonCode: CodeNotAuthorized}},
	{
		name: "connack v5 properties", version: 5,
		raw: []byte{0x20, 21, 1, 0, 18,
			0x12, 0, 3, 'a', 'b', 'c', // assigned client identifier
			0x13, 0, 30, // server keep alive
			0x24, 0, // maximum qos 0
			0x25, 0, // retain available 0
			0x27, 0, 0, 0x10, 0}, // maximum packet size 4096
		want: &Connack{SessionPresent: true, Properties: Properties{
			Present:          set(PropAssignedClientID, PropServerKeepAlive, PropMaximumQoS, PropRetainAvailable, PropMaximumPacketSize),
			AssignedClientID: "abc", ServerKeepAliveSeconds: 30, MaximumPacketSize: 4096}},
	},
	{name: "connack v5 reason code not for connack", version: 5, raw: []byte{0x20, 3, 0, 0x10, 0}, err: ErrMalformed},
	{name: "connack v5 maximum qos 2", version: 5, raw: []byte{0x20, 5, 0, 0, 2, 0x24, 2}, err: ErrProtocolError},
	{name: "connack v5 missing property length", version: 5, raw: []byte{0x20, 2, 0, 0}, err: ErrMalformed},
	{name: "connack v5 will delay not allowed", version: 5, raw: []byte{0x20, 8, 0, 0, 5, 0x18, 0, 0, 0, 1}, err: ErrMalformed},

	// PUBLISH ------------------------------------------------------------
	{name: "publish v3.1.1 qos 0", version: 4, raw: []byte{0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i'}, want: &Publish{Topic: "a/b", Payload: []byte("hi")}},
	{name: "publish v3.1 qos 0", version: 3, raw: []byte{0x30, 4, 0, 1, 'a', 'z'}, want: &Publish{Topic: "a", Payload: []byte("z")}},
	{
		name: "publish v3.1.1 qos 1 dup retain", version: 4,
		raw:  []byte{0x3B, 8, 0, 3, 'a', '/', 'b', 0, 7, 'x'},
		want: &Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 7, Payload: []byte("x")},
	},
	{name: "publish v3.1.1 qos 2 empty payload", version: 4, raw: []byte{0x34, 5, 0, 1, 't', 0, 1}, want: &Publish{QoS: 2, Topic: "t", PacketID: 1}},
	{name: "publish v3.1.1 utf-8 topic", version: 4, raw: []byte{0x30, 5, 0, 3, 0xE2, 0x82, 0xAC}, want: &Publish{Topic: "€"}},
	// 5.0 [MQTT-1.5.4-3]; 3.1.1 [MQTT-1.5.3-3]
	{name: "publish v3.1.1 byte order mark kept", version: 4, raw: []byte{0x30, 5, 0, 3, 0xEF, 0xBB, 0xBF}, want: &Publish{Topic: "\uFEFF"}},
	// 5.0 [MQTT-1.5.4-3]
	{name: "publish v5 byte order mark kept", version: 5, raw: []byte{0x30, 6, 0, 3, 0xEF, 0xBB, 0xBF, 0}, want: &Publish{Topic: "\uFEFF"}},
	{name: "publish v5 qos 0", version: 5, raw: []byte{0x30, 8, 0, 3, 'a', '/', 'b', 0, 'h', 'i'}, want: &Publish{Topic: "a/b", Payload: []byte("hi")}},
	{
		name: "publish v5 all properties", version: 5,
		raw: []byte{0x32, 46, 0, 1, 't', 0, 9, 38,
			0x01, 1, // payload format indicator
			0x02, 0, 0, 0, 60, // message expiry
			0x03, 0, 4, 't', 'e', 'x', 't', // content type
			0x08, 0, 1, 'r', // response topic
			0x09, 0, 2, 1, 2, // correlation data
			0x23, 0, 3, // topic alias
			0x0B, 5, // subscription identifier
			0x0B, 0x80, 0x01, // subscription identifier 128
			0x26, 0, 1, 'a', 0, 1, 'b', // user property
			'{', '}'},
		want: &Publish{QoS: 1, Topic: "t", PacketID: 9, Payload: []byte("{}"), Properties: Properties{
			Present: set(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
				PropCorrelationData, PropTopicAlias),
			PayloadFormat: 1, MessageExpirySeconds: 60, ContentType: "text", ResponseTopic: "r",
			CorrelationData: []byte{1, 2}, TopicAlias: 3, SubscriptionIDs: []uint32{5, 128},
			UserProperties: []UserProperty{{"a", "b"}}}},
	},
	{
		name: "publish v5 user properties keep order and duplicates", version: 5,
		raw: []byte{0x30, 25, 0, 1, 't', 21,
			0x26, 0, 1, 'b', 0, 1, '1',
			0x26, 0, 1, 'a', 0, 1, '2',
			0x26, 0, 1, 'b', 0, 1, '3'},
		want: &Publish{Topic: "t", Properties: Properties{UserProperties: []UserProperty{{"b", "1"}, {"a", "2"}, {"b", "3"}}}},
	},
	{
		name: "publish v5 message expiry 0 is present", version: 5,
		raw:  []byte{0x30, 9, 0, 1, 't', 5, 0x02, 0, 0, 0, 0},
		want: &Publish{Topic: "t", Properties: Properties{Present: set(PropMessageExpiry)}},
	},
	{
		name: "publish v5 properties out of order", version: 5, decodeOnly: true,
		raw:  []byte{0x30, 10, 0, 1, 't', 5, 0x23, 0, 1, 0x01, 1, 'x'},
		want: &Publish{Topic: "t", Payload: []byte("x"), Properties: Properties{Present: set(PropTopicAlias, PropPayloadFormat), TopicAlias: 1, PayloadFormat: 1}},
	},
	{
		name: "publish v5 empty topic with alias", version: 5,
		raw:  []byte{0x30, 7, 0, 0, 3, 0x23, 0, 7, 'x'},
		want: &Publish{Payload: []byte("x"), Properties: Properties{Present: set(PropTopicAlias), TopicAlias: 7}},
	},
	{
		name: "publish v3.1.1 non-minimal remaining length", version: 4, decodeOnly: true,
		raw:  []byte{0x30, 0x83, 0x00, 0, 1, 't'},
		want: &Publish{Topic: "t"},
	},
	// 5.0 [MQTT-1.5.5-1]
	{name: "publish v5 non-minimal remaining length", version: 5, raw: []byte{0x30, 0x84, 0x00, 0, 1, 't', 0}, err: ErrMalformed},
	{name: "publish v5 empty topic without alias", version: 5, raw: []byte{0x30, 3, 0, 0, 0}, err: ErrProtocolError},
	{name: "publish v3.1.1 empty topic", version: 4, raw: []byte{0x30, 2, 0, 0}, err: ErrTopicNameInvalid},
	{name: "publish v3.1.1 wildcard topic", version: 4, raw: []byte{0x30, 5, 0, 3, 'a', '/', '+'}, err: ErrTopicNameInvalid},
	{name: "publish v5 wildcard topic", version: 5, raw: []byte{0x30, 6, 0, 3, 'a', '/', '#', 0}, err: ErrTopicNameInvalid},
	{name: "publish qos 3", version: 4, raw: []byte{0x36, 5, 0, 1, 't', 0, 1}, err: ErrMalformed},
	{name: "publish dup with qos 0", version: 4, raw: []byte{0x38, 3, 0, 1, 't'}, err: ErrMalformed},
	{name: "publish v5 dup with qos 0", version: 5, raw: []byte{0x38, 4, 0, 1, 't', 0}, err: ErrMalformed},
	{name: "publish qos 1 packet id 0", version: 4, raw: []byte{0x32, 5, 0, 1, 't', 0, 0}, err: ErrProtocolError},
	{name: "publish qos 1 missing packet id", version: 4, raw: []byte{0x32, 4, 0, 1, 't', 0}, err: ErrMalformed},
	{name: "publish topic longer than body", version: 4, raw: []byte{0x30, 3, 0, 5, 't'}, err: ErrMalformed},
	{name: "publish ill-formed topic", version: 4, raw: []byte{0x30, 3, 0, 1, 0x80}, err: ErrMalformed},
	{name: "publish U+0000 in topic", version: 5, raw: []byte{0x30, 5, 0, 2, 'a', 0, 0}, err: ErrMalformed},
	{name: "publish v5 topic alias 0", version: 5, raw: []byte{0x30, 7, 0, 1, 't', 3, 0x23, 0, 0}, err: ErrTopicAliasInvalid},
	{name: "publish v5 subscription id 0", version: 5, raw: []byte{0x30, 6, 0, 1, 't', 2, 0x0B, 0}, err: ErrProtocolError},
	{name: "publish v5 subscription id 5 bytes", version: 5, raw: []byte{0x30, 10, 0, 1, 't', 6, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, err: ErrMalformed},
	{name: "publish v5 session expiry not allowed", version: 5, raw: []byte{0x30, 9, 0, 1, 't', 5, 0x11, 0, 0, 0, 1}, err: ErrMalformed},
	{name: "publish v5 duplicate message expiry", version: 5, raw: []byte{0x30, 14, 0, 1, 't', 10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1}, err: ErrProtocolError},
	{name: "publish v5 duplicate topic alias", version: 5, raw: []byte{0x30, 10, 0, 1, 't', 6, 0x23, 0, 1, 0x23, 0, 1}, err: ErrProtocolError},
	{name: "publish v5 payload format 2", version: 5, raw: []byte{0x30, 6, 0, 1, 't', 2, 0x01, 2}, err: ErrProtocolError},
	{name: "publish v5 missing property length", version: 5, raw: []byte{0x30, 3, 0, 1, 't'}, err: ErrMalformed},
	{name: "publish remaining length 5 bytes", version: 4, raw: []byte{0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, err: ErrMalformed},
	{name: "publish remaining length truncated", version: 4, raw: []byte{0x30, 0x80}, err: io.ErrUnexpectedEOF},
	{name: "publish body truncated", version: 4, raw: []byte{0x30, 10, 0, 1, 't'}, err: io.ErrUnexpectedEOF},
	{name: "publish before connect", version: 0, raw: []byte{0x30, 3, 0, 1, 't'}, err: ErrProtocolError},

	// PUBACK, PUBREC, PUBREL, PUBCOMP --------------------------------------
	{name: "puback v3.1.1", version: 4, raw: []byte{0x40, 2, 0, 7}, want: &Puback{PacketID: 7}},
	{name: "pubrec v3.1.1", version: 4, raw: []byte{0x50, 2, 0, 7}, want: &Pubrec{PacketID: 7}},
	{name: "pubrel v3.1.1", version: 4, raw: []byte{0x62, 2, 0, 7}, want: &Pubrel{PacketID: 7}},
	{name: "pubcomp v3.1.1", version: 4, raw: []byte{0x70, 2, 0, 7}, want: &Pubcomp{PacketID: 7}},
	{name: "pubrel v3.1", version: 3, raw: []byte{0x62, 2, 1, 0}, want: &Pubrel{PacketID: 256}},
	// 5.0 [MQTT-2.1.3-1]; 3.1.1 [MQTT-2.2.2-1]
	{name: "pubrel flags 0000", version: 4, raw: []byte{0x60, 2, 0, 7}, err: ErrMalformed},
	{name: "pubrel v5 flags 0000", version: 5, raw: []byte{0x60, 2, 0, 7}, err: ErrMalformed},
	// 5.0 [MQTT-2.1.3-1]; 3.1.1 [MQTT-2.2.2-1]
	{name: "puback flags 0010", version: 4, raw: []byte{0x42, 2, 0, 7}, err: ErrMalformed},
	{name: "pubrec flags 0001", version: 5, raw: []byte{0x51, 2, 0, 7}, err: ErrMalformed},
	{name: "puback v3.1.1 reason code", version: 4, raw: []byte{0x40, 3, 0, 7, 0}, err: ErrMalformed},
	{name: "puback truncated", version: 4, raw: []byte{0x40, 1, 0}, err: ErrMalformed},
	{name: "puback v5 short", version: 5, raw: []byte{0x40, 2, 0, 7}, want: &Puback{PacketID: 7}},
	{name: "puback v5 reason only", version: 5, raw: []byte{0x40, 3, 0, 7, 0x10}, want: &Puback{PacketID: 7, ReasonCode: CodeNoMatchingSubscribers}},
	{name: "puback v5 success reason only", version: 5, decodeOnly: true, raw: []byte{0x40, 3, 0, 7, 0}, want: &Puback{PacketID: 7}},
	{name: "puback v5 success empty properties", version: 5, decodeOnly: true, raw: []byte{0x40, 4, 0, 7, 0, 0}, want: &Puback{PacketID: 7}},
	{
		name: "puback v5 reason string", version: 5,
		raw:  []byte{0x40, 9, 0, 7, 0x80, 5, 0x1F, 0, 2, 'n', 'o'},
		want: &Puback{PacketID: 7, ReasonCode: CodeUnspecifiedError, Properties: Properties{Present: set(PropReasonString), ReasonString: "no"}},
	},
	{name: "pubrec v5 quota exceeded", version: 5, raw: []byte{0x50, 3, 0, 8, 0x97}, want: &Pubrec{PacketID: 8, ReasonCode: CodeQuotaExceeded}},
	{name: "pubrel v5 packet id not found", version: 5, raw: []byte{0x62, 3, 0, 7, 0x92}, want: &Pubrel{PacketID: 7, ReasonCode: CodePacketIdentifierNotFound}},
	{
		name: "pubcomp v5 user property", version: 5,
		raw:  []byte{0x70, 11, 0, 7, 0, 7, 0x26, 0, 1, 'k', 0, 1, 'v'},
		want: &Pubcomp{PacketID: 7, Properties: Properties{UserProperties: []UserProperty{{"k", "v"}}}},
	},
	{name: "pubrec v5 reason code for pubrel", version: 5, raw: []byte{0x50, 3, 0, 7, 0x92}, err: ErrMalformed},
	{name: "pubrel v5 reason code for puback", version: 5, raw: []byte{0x62, 3, 0, 7, 0x10}, err: ErrMalformed},
	{name: "puback v5 message expiry not allowed", version: 5, raw: []byte{0x40, 9, 0, 7, 0, 5, 0x02, 0, 0, 0, 1}, err: ErrMalformed},
	{name: "puback v5 duplicate reason string", version: 5, raw: []byte{0x40, 12, 0, 7, 0, 8, 0x1F, 0, 1, 'a', 0x1F, 0, 1, 'b'}, err: ErrProtocolError},

	// SUBSCRIBE ------------------------------------------------------------
	{
		name: "subscribe v3.1.1", version: 4,
		raw:  []byte{0x82, 12, 0, 10, 0, 3, 'a', '/', 'b', 1, 0, 1, 'c', 2},
		want: &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/b", QoS: 1}, {Filter: "c", QoS: 2}}},
	},
	{
		name: "subscribe v5 options and identifier", version: 5,
		raw: []byte{0x82, 24, 0, 11, 2, 0x0B, 42,
			0, 3, 'a', '/', '#', 0x1E,
			0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x21},
		want: &Subscribe{PacketID: 11, Properties: Properties{SubscriptionIDs: []uint32{42}}, Subscriptions: []Subscription{
			{Filter: "a/#", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1},
			{Filter: "$share/g/x", QoS: 1, RetainHandling: 2}}},
	},
	{name: "subscribe no filter", version: 4, raw: []byte{0x82, 2, 0, 10}, err: ErrProtocolError},
	{name: "subscribe v5 no filter", version: 5, raw: []byte{0x82, 3, 0, 10, 0}, err: ErrProtocolError},
	// [MQTT-3.8.1-1] (both versions)
	{name: "subscribe flags 0000", version: 4, raw: []byte{0x80, 6, 0, 10, 0, 1, 'a', 0}, err: ErrMalformed},
	{name: "subscribe packet id 0", version: 4, raw: []byte{0x82, 6, 0, 0, 0, 1, 'a', 0}, err: ErrProtocolError},
	// 3.1.1 [MQTT-3.8.3-4]
	{name: "subscribe v3.1.1 reserved option bits", version: 4, raw: []byte{0x82, 6, 0, 10, 0, 1, 'a', 0x04}, err: ErrMalformed},
	// 3.1.1 [MQTT-3.8.3-4]
	{name: "subscribe v3.1.1 qos 3", version: 4, raw: []byte{0x82, 6, 0, 10, 0, 1, 'a', 3}, err: ErrMalformed},
	{name: "subscribe missing options", version: 4, raw: []byte{0x82, 5, 0, 10, 0, 1, 'a'}, err: ErrMalformed},
	{name: "subscribe ill-formed filter", version: 4, raw: []byte{0x82, 6, 0, 10, 0, 1, 0xFE, 0}, err: ErrMalformed},
	// 5.0 [MQTT-3.8.3-5]
	{name: "subscribe v5 reserved option bits", version: 5, raw: []byte{0x82, 7, 0, 10, 0, 0, 1, 'a', 0x40}, err: ErrMalformed},
	{name: "subscribe v5 qos 3", version: 5, raw: []byte{0x82, 7, 0, 10, 0, 0, 1, 'a', 0x03}, err: ErrProtocolError},
	{name: "subscribe v5 retain handling 3", version: 5, raw: []byte{0x82, 7, 0, 10, 0, 0, 1, 'a', 0x30}, err: ErrProtocolError},
	{name: "subscribe v5 no local on shared", version: 5, raw: []byte{0x82, 15, 0, 10, 0, 0, 9, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 0x04}, err: ErrProtocolError},
	{name: "subscribe v5 two subscription ids", version: 5, raw: []byte{0x82, 11, 0, 10, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0}, err: ErrProtocolError},
	{name: "subscribe v5 subscription id 0", version: 5, raw: []byte{0x82, 9, 0, 10, 2, 0x0B, 0, 0, 1, 'a', 0}, err: ErrProtocolError},
	{name: "subscribe v5 reason string not allowed", version: 5, raw: []byte{0x82, 11, 0, 10, 4, 0x1F, 0, 1, 'r', 0, 1, 'a', 0}, err: ErrMalformed},

	// SUBACK ---------------------------------------------------------------
	{name: "suback v3.1.1", version: 4, raw: []byte{0x90, 5, 0, 10, 0, 1, 0x80}, want: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{0, 1, 0x80}}},
	{name: "suback v3.1.1 reserved code", version: 4, raw: []byte{0x90, 3, 0, 10, 3}, err: ErrMalformed},
	{name: "suback v3.1.1 no code", version: 4, raw: []byte{0x90, 2, 0, 10}, err: ErrProtocolError},
	{
		name: "suback v5 reason string", version: 5,
		raw: []byte{0x90, 11, 0, 11, 5, 0x1F, 0, 2, 'o', 'k', 0x02, 0xA2, 0x8F},
		want: &Suback{PacketID: 11, Properties: Properties{Present: set(PropReasonString), ReasonString: "ok"},
			ReasonCodes: []ReasonCode{CodeGrantedQoS2, CodeWildcardSubscriptionsNotSupported, CodeTopicFilterInvalid}},
	},
	{name: "suback v5 code not for suback", version: 5, raw: []byte{0x90, 4, 0, 11, 0, 0x04}, err: ErrMalformed},
	{name: "suback flags", version: 5, raw: []byte{0x92, 4, 0, 11, 0, 0}, err: ErrMalformed},

	// UNSUBSCRIBE ------------------------------------------------------------
	{name: "unsubscribe v3.1.1", version: 4, raw: []byte{0xA2, 10, 0, 12, 0, 3, 'a', '/', 'b', 0, 1, '#'}, want: &Unsubscribe{PacketID: 12, Filters: []string{"a/b", "#"}}},
	{
		name: "unsubscribe v5 user property", version: 5,
		raw:  []byte{0xA2, 13, 0, 13, 7, 0x26, 0, 1, 'k', 0, 1, 'v', 0, 1, 'x'},
		want: &Unsubscribe{PacketID: 13, Filters: []string{"x"}, Properties: Properties{UserProperties: []UserProperty{{"k", "v"}}}},
	},
	// [MQTT-3.10.3-2] (both versions)
	{name: "unsubscribe no filter", version: 4, raw: []byte{0xA2, 2, 0, 12}, err: ErrProtocolError},
	// [MQTT-3.10.1-1] (both versions)
	{name: "unsubscribe flags 0000", version: 4, raw: []byte{0xA0, 5, 0, 12, 0, 1, 'a'}, err: ErrMalformed},
	// 5.0 [MQTT-3.10.1-1], [MQTT-3.10.3-2]
	{name: "unsubscribe v5 flags 0000", version: 5, raw: []byte{0xA0, 6, 0, 12, 0, 0, 1, 'a'}, err: ErrMalformed},
	{name: "unsubscribe v5 no filter", version: 5, raw: []byte{0xA2, 3, 0, 12, 0}, err: ErrProtocolError},
	{name: "unsubscribe packet id 0", version: 5, raw: []byte{0xA2, 6, 0, 0, 0, 0, 1, 'a'}, err: ErrProtocolError},
	{name: "unsubscribe truncated filter", version: 4, raw: []byte{0xA2, 5, 0, 12, 0, 2, 'a'}, err: ErrMalformed},
	{name: "unsubscribe v5 subscription id not allowed", version: 5, raw: []byte{0xA2, 8, 0, 12, 2, 0x0B, 1, 0, 1, 'a'}, err: ErrMalformed},

	// UNSUBACK ---------------------------------------------------------------
	{name: "unsuback v3.1.1", version: 4, raw: []byte{0xB0, 2, 0, 12}, want: &Unsuback{PacketID: 12}},
	{name: "unsuback v3.1.1 trailing", version: 4, raw: []byte{0xB0, 3, 0, 12, 0}, err: ErrMalformed},
	{name: "unsuback v5", version: 5, raw: []byte{0xB0, 5, 0, 13, 0, 0x00, 0x11}, want: &Unsuback{PacketID: 13, ReasonCodes: []ReasonCode{CodeSuccess, CodeNoSubscriptionExisted}}},
	{name: "unsuback v5 no code", version: 5, raw: []byte{0xB0, 3, 0, 13, 0}, err: ErrProtocolError},
	{name: "unsuback v5 code not for unsuback", version: 5, raw: []byte{0xB0, 4, 0, 13, 0, 0x10}, err: ErrMalformed},

	// PINGREQ, PINGRESP ------------------------------------------------------
	{name: "pingreq v3.1.1", version: 4, raw: []byte{0xC0, 0}, want: &Pingreq{}},
	{name: "pingreq v5", version: 5, raw: []byte{0xC0, 0}, want: &Pingreq{}},
	{name: "pingresp v3.1", version: 3, raw: []byte{0xD0, 0}, want: &Pingresp{}},
	{name: "pingresp v5", version: 5, raw: []byte{0xD0, 0}, want: &Pingresp{}},
	// 5.0 [MQTT-2.1.3-1]; 3.1.1 [MQTT-2.2.2-1]
	{name: "pingreq flags", version: 4, raw: []byte{0xC1, 0}, err: ErrMalformed},
	{name: "pingreq body", version: 5, raw: []byte{0xC0, 1, 0}, err: ErrMalformed},

	// DISCONNECT -------------------------------------------------------------
	{name: "disconnect v3.1.1", version: 4, raw: []byte{0xE0, 0}, want: &Disconnect{}},
	{name: "disconnect v3.1.1 body", version: 4, raw: []byte{0xE0, 1, 0}, err: ErrMalformed},
	// [MQTT-3.14.1-1] (both versions)
	{name: "disconnect flags", version: 4, raw: []byte{0xE2, 0}, err: ErrMalformed},
	{name: "disconnect v5 normal", version: 5, raw: []byte{0xE0, 0}, want: &Disconnect{}},
	{name: "disconnect v5 reason only", version: 5, raw: []byte{0xE0, 1, 0x8E}, want: &Disconnect{ReasonCode: CodeSessionTakenOver}},
	{name: "disconnect v5 success reason only", version: 5, decodeOnly: true, raw: []byte{0xE0, 1, 0}, want: &Disconnect{}},
	{
		name: "disconnect v5 server reference", version: 5,
		raw:  []byte{0xE0, 14, 0x9C, 12, 0x11, 0, 0, 0, 0, 0x1C, 0, 4, 'h', 'o', 's', 't'},
		want: &Disconnect{ReasonCode: CodeUseAnotherServer, Properties: Properties{Present: set(PropSessionExpiry, PropServerReference), ServerReference: "host"}},
	},
	{name: "disconnect v5 code not for disconnect", version: 5, raw: []byte{0xE0, 1, 0x19}, err: ErrMalformed},
	{name: "disconnect v5 topic alias not allowed", version: 5, raw: []byte{0xE0, 5, 0, 3, 0x23, 0, 1}, err: ErrMalformed},

	// AUTH -------------------------------------------------------------------
	{name: "auth v5 empty", version: 5, raw: []byte{0xF0, 0}, want: &Auth{}},
	{
		name: "auth v5 continue", version: 5,
		raw: []byte{0xF0, 15, 0x18, 13, 0x15, 0, 5, 'S', 'C', 'R', 'A', 'M', 0x16, 0, 2, 1, 2},
		want: &Auth{ReasonCode: CodeContinueAuthentication, Properties: Properties{
			Present: set(PropAuthMethod, PropAuthData), AuthMethod: "SCRAM", AuthData: []byte{1, 2}}},
	},
	{name: "auth v5 without method", version: 5, raw: []byte{0xF0, 2, 0x18, 0}, err: ErrProtocolError},
	{name: "auth v5 code not for auth", version: 5, raw: []byte{0xF0, 2, 0x01, 0}, err: ErrMalformed},
	// 5.0 [MQTT-3.15.1-1]
	{name: "auth v5 flags", version: 5, raw: []byte{0xF1, 0}, err: ErrMalformed},
	{name: "auth v3.1.1 reserved type", version: 4, raw: []byte{0xF0, 0}, err: ErrMalformed},

	// Reserved type ------------------------------------------------------------
	{name: "reserved type 0", version: 4, raw: []byte{0x00, 0}, err: ErrMalformed},
	{name: "reserved type 0 v5", version: 5, raw: []byte{0x00, 0}, err: ErrMalformed},
}
