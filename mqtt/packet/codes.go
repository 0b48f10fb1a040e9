package packet

// ReasonCode is an MQTT 5.0 reason code (section 2.4). It implements error so
// that decode failures can carry the code a connection must answer with:
// errors.Is(err, ErrMalformed) or errors.As(err, &code) pick it out of a
// wrapped error. The same value space describes MQTT 3.1.1 CONNACK return
// codes and SUBACK return codes; the codec maps them per version (see
// ReturnCode). ReasonCode is a plain value, safe for concurrent use.
type ReasonCode byte

// MQTT 5.0 reason codes (section 2.4). Part of the wire protocol; never renumber.
const (
	CodeSuccess                             ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	CodeGrantedQoS1                         ReasonCode = 0x01
	CodeGrantedQoS2                         ReasonCode = 0x02
	CodeDisconnectWithWill                  ReasonCode = 0x04
	CodeNoMatchingSubscribers               ReasonCode = 0x10
	CodeNoSubscriptionExisted               ReasonCode = 0x11
	CodeContinueAuthentication              ReasonCode = 0x18
	CodeReauthenticate                      ReasonCode = 0x19
	CodeUnspecifiedError                    ReasonCode = 0x80
	CodeMalformedPacket                     ReasonCode = 0x81
	CodeProtocolError                       ReasonCode = 0x82
	CodeImplementationSpecificError         ReasonCode = 0x83
	CodeUnsupportedProtocolVersion          ReasonCode = 0x84
	CodeClientIdentifierNotValid            ReasonCode = 0x85
	CodeBadUsernameOrPassword               ReasonCode = 0x86
	CodeNotAuthorized                       ReasonCode = 0x87
	CodeServerUnavailable                   ReasonCode = 0x88
	CodeServerBusy                          ReasonCode = 0x89
	CodeBanned                              ReasonCode = 0x8A
	CodeServerShuttingDown                  ReasonCode = 0x8B
	CodeBadAuthenticationMethod             ReasonCode = 0x8C
	CodeKeepAliveTimeout                    ReasonCode = 0x8D
	CodeSessionTakenOver                    ReasonCode = 0x8E
	CodeTopicFilterInvalid                  ReasonCode = 0x8F
	CodeTopicNameInvalid                    ReasonCode = 0x90
	CodePacketIdentifierInUse               ReasonCode = 0x91
	CodePacketIdentifierNotFound            ReasonCode = 0x92
	CodeReceiveMaximumExceeded              ReasonCode = 0x93
	CodeTopicAliasInvalid                   ReasonCode = 0x94
	CodePacketTooLarge                      ReasonCode = 0x95
	CodeMessageRateTooHigh                  ReasonCode = 0x96
	CodeQuotaExceeded                       ReasonCode = 0x97
	CodeAdministrativeAction                ReasonCode = 0x98
	CodePayloadFormatInvalid                ReasonCode = 0x99
	CodeRetainNotSupported                  ReasonCode = 0x9A
	CodeQoSNotSupported                     ReasonCode = 0x9B
	CodeUseAnotherServer                    ReasonCode = 0x9C
	CodeServerMoved                         ReasonCode = 0x9D
	CodeSharedSubscriptionsNotSupported     ReasonCode = 0x9E
	CodeConnectionRateExceeded              ReasonCode = 0x9F
	CodeMaximumConnectTime                  ReasonCode = 0xA0
	CodeSubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	CodeWildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

// Decode errors. Every error returned by Read and Decode (other than I/O
// errors) wraps exactly one of these, so a connection can answer with the
// matching DISCONNECT or CONNACK reason code.
const (
	ErrMalformed                  = CodeMalformedPacket
	ErrProtocolError              = CodeProtocolError
	ErrPacketTooLarge             = CodePacketTooLarge
	ErrUnsupportedProtocolVersion = CodeUnsupportedProtocolVersion
	ErrTopicNameInvalid           = CodeTopicNameInvalid
	ErrTopicAliasInvalid          = CodeTopicAliasInvalid
)

var reasonNames = [256]string{
	CodeSuccess:                             "success",
	CodeGrantedQoS1:                         "granted qos 1",
	CodeGrantedQoS2:                         "granted qos 2",
	CodeDisconnectWithWill:                  "disconnect with will message",
	CodeNoMatchingSubscribers:               "no matching subscribers",
	CodeNoSubscriptionExisted:               "no subscription existed",
	CodeContinueAuthentication:              "continue authentication",
	CodeReauthenticate:                      "re-authenticate",
	CodeUnspecifiedError:                    "unspecified error",
	CodeMalformedPacket:                     "malformed packet",
	CodeProtocolError:                       "protocol error",
	CodeImplementationSpecificError:         "implementation specific error",
	CodeUnsupportedProtocolVersion:          "unsupported protocol version",
	CodeClientIdentifierNotValid:            "client identifier not valid",
	CodeBadUsernameOrPassword:               "bad user name or password",
	CodeNotAuthorized:                       "not authorized",
	CodeServerUnavailable:                   "server unavailable",
	CodeServerBusy:                          "server busy",
	CodeBanned:                              "banned",
	CodeServerShuttingDown:                  "server shutting down",
	CodeBadAuthenticationMethod:             "bad authentication method",
	CodeKeepAliveTimeout:                    "keep alive timeout",
	CodeSessionTakenOver:                    "session taken over",
	CodeTopicFilterInvalid:                  "topic filter invalid",
	CodeTopicNameInvalid:                    "topic name invalid",
	CodePacketIdentifierInUse:               "packet identifier in use",
	CodePacketIdentifierNotFound:            "packet identifier not found",
	CodeReceiveMaximumExceeded:              "receive maximum exceeded",
	CodeTopicAliasInvalid:                   "topic alias invalid",
	CodePacketTooLarge:                      "packet too large",
	CodeMessageRateTooHigh:                  "message rate too high",
	CodeQuotaExceeded:                       "quota exceeded",
	CodeAdministrativeAction:                "administrative action",
	CodePayloadFormatInvalid:                "payload format invalid",
	CodeRetainNotSupported:                  "retain not supported",
	CodeQoSNotSupported:                     "qos not supported",
	CodeUseAnotherServer:                    "use another server",
	CodeServerMoved:                         "server moved",
	CodeSharedSubscriptionsNotSupported:     "shared subscriptions not supported",
	CodeConnectionRateExceeded:              "connection rate exceeded",
	CodeMaximumConnectTime:                  "maximum connect time",
	CodeSubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	CodeWildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

// String returns the specification's name of c in lower case, or
// "reason code 0x.." for a value the specification does not define.
func (c ReasonCode) String() string {
	if name := reasonNames[c]; name != "" {
		return name
	}
	const hex = "0123456789abcdef"
	return "reason code 0x" + string([]byte{hex[c>>4], hex[c&15]})
}

// Error implements error; it is the same as String.
func (c ReasonCode) Error() string { return c.String() }

// IsError reports whether c signals a failure (0x80 and above) [MQTT-2.4].
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// codeSet is a set of reason codes, one bit per value.
type codeSet [4]uint64

func newCodeSet(codes ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each MQTT 5.0 packet may carry (sections 3.2.2.2, 3.4.2.1,
// 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
var (
	connackCodes = newCodeSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F)
	pubackCodes  = newCodeSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99) // PUBACK, PUBREC
	pubrelCodes  = newCodeSet(0x00, 0x92)                                           // PUBREL, PUBCOMP
	subackCodes  = newCodeSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	unsubackCode = newCodeSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	disconnCodes = newCodeSet(0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
		0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
		0xA0, 0xA1, 0xA2)
	authCodes = newCodeSet(0x00, 0x18, 0x19)
	// MQTT 3.1.1 SUBACK return codes [MQTT-3.9.3-2].
	subackCodesV4 = newCodeSet(0x00, 0x01, 0x02, 0x80)
)

// ReturnCode is an MQTT 3.1 / 3.1.1 CONNACK return code (3.1.1 section
// 3.2.2.3). Connack always holds a ReasonCode; the codec converts with
// ReturnCodeOf and ReturnCode.ReasonCode when the version is 3 or 4.
type ReturnCode byte

// MQTT 3.1.1 CONNACK return codes. Part of the wire protocol; never renumber.
const (
	ReturnAccepted                    ReturnCode = 0x00
	ReturnUnacceptableProtocolVersion ReturnCode = 0x01
	ReturnIdentifierRejected          ReturnCode = 0x02
	ReturnServerUnavailable           ReturnCode = 0x03
	ReturnBadUsernameOrPassword       ReturnCode = 0x04
	ReturnNotAuthorized               ReturnCode = 0x05
)

var returnToReason = [...]ReasonCode{
	ReturnAccepted:                    CodeSuccess,
	ReturnUnacceptableProtocolVersion: CodeUnsupportedProtocolVersion,
	ReturnIdentifierRejected:          CodeClientIdentifierNotValid,
	ReturnServerUnavailable:           CodeServerUnavailable,
	ReturnBadUsernameOrPassword:       CodeBadUsernameOrPassword,
	ReturnNotAuthorized:               CodeNotAuthorized,
}

// ReasonCode returns the MQTT 5.0 reason code with the same meaning as r, and
// false when r is one of the reserved values 6..255.
func (r ReturnCode) ReasonCode() (ReasonCode, bool) {
	if int(r) >= len(returnToReason) {
		return 0, false
	}
	return returnToReason[r], true
}

// String returns the 3.1.1 name of r.
func (r ReturnCode) String() string {
	if c, ok := r.ReasonCode(); ok {
		return c.String()
	}
	return "reserved return code"
}

// ReturnCodeOf returns the MQTT 3.1.1 CONNACK return code a CONNACK carrying
// c is encoded with. Failure codes without a 3.1.1 equivalent map to the
// closest one (e.g. Server busy to Server unavailable, Banned to Not
// authorized). It returns false for codes that have no 3.1.1 CONNACK at all
// (e.g. Malformed Packet): a 3.1.1 server then closes the connection without
// a CONNACK [MQTT-3.2.2-6].
func ReturnCodeOf(c ReasonCode) (ReturnCode, bool) {
	switch c {
	case CodeSuccess:
		return ReturnAccepted, true
	case CodeUnsupportedProtocolVersion:
		return ReturnUnacceptableProtocolVersion, true
	case CodeClientIdentifierNotValid:
		return ReturnIdentifierRejected, true
	case CodeUnspecifiedError, CodeImplementationSpecificError, CodeServerUnavailable,
		CodeServerBusy, CodeQuotaExceeded, CodeUseAnotherServer, CodeServerMoved,
		CodeConnectionRateExceeded:
		return ReturnServerUnavailable, true
	case CodeBadUsernameOrPassword, CodeBadAuthenticationMethod:
		return ReturnBadUsernameOrPassword, true
	case CodeNotAuthorized, CodeBanned:
		return ReturnNotAuthorized, true
	}
	return 0, false
}
