package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Payload is how a history record's payload is written (GET /v1/messages
// payload=, strata history and strata log dump --payload). The zero value
// is base64, what every version wrote before the choice existed.
type Payload uint8

const (
	// PayloadBase64: "payload" is the payload in standard base64.
	PayloadBase64 Payload = iota
	// PayloadText: "payload" is the payload as a string; bytes that are not
	// valid UTF-8 become U+FFFD, so this is lossy for binary payloads.
	PayloadText
	// PayloadHex: "payload" is the payload in lower-case hex.
	PayloadHex
	// PayloadAuto: a JSON payload is the JSON value "payload_json" (NDJSON;
	// compacted to one line), other valid UTF-8 is text, anything else
	// base64; "payload_encoding" says which ("json", "text", "base64").
	PayloadAuto
)

var payloadNames = []string{"base64", "text", "hex", "auto"}

func (p Payload) String() string { return payloadNames[p] }

// ParsePayload reads a payload mode's name; "" is base64.
func ParsePayload(s string) (Payload, error) {
	if s == "" {
		return PayloadBase64, nil
	}
	for i, n := range payloadNames {
		if s == n {
			return Payload(i), nil
		}
	}
	return 0, fmt.Errorf("httpapi: payload %q: want %s", s, strings.Join(payloadNames, ", "))
}

// EncodePayload returns p as mode writes it: a string s, or with
// PayloadAuto and a JSON payload the compacted JSON value js (s is then
// empty); enc names the form: "base64", "text", "hex" or "json".
func EncodePayload(p []byte, mode Payload) (s string, js []byte, enc string) {
	switch mode {
	case PayloadText:
		return string(p), nil, "text"
	case PayloadHex:
		return hex.EncodeToString(p), nil, "hex"
	case PayloadAuto:
		if js := compactJSON(p); js != nil {
			return "", js, "json"
		}
		if utf8.Valid(p) {
			return string(p), nil, "text"
		}
	}
	return base64.StdEncoding.EncodeToString(p), nil, "base64"
}

// compactJSON is p compacted to one line if p is one JSON value, else nil.
func compactJSON(p []byte) []byte {
	if len(p) == 0 || !json.Valid(p) {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, p) != nil {
		return nil
	}
	return b.Bytes()
}

// appendNDJSONPayload appends the payload's members of an NDJSON record,
// starting with a comma: "payload" (or "payload_json"), and with
// PayloadAuto "payload_encoding".
func appendNDJSONPayload(b, p []byte, mode Payload) []byte {
	if mode == PayloadBase64 {
		b = append(b, `,"payload":"`...)
		b = base64.StdEncoding.AppendEncode(b, p)
		return append(b, '"')
	}
	s, js, enc := EncodePayload(p, mode)
	if js != nil {
		b = append(b, `,"payload_json":`...)
		b = append(b, js...)
	} else {
		b = append(b, `,"payload":`...)
		b = appendJSONString(b, s)
	}
	if mode == PayloadAuto {
		b = append(b, `,"payload_encoding":`...)
		b = strconv.AppendQuote(b, enc)
	}
	return b
}

// appendCSVPayload appends the payload column of a CSV row: in auto mode
// JSON is text too (a CSV cell holds strings only).
func appendCSVPayload(b, p []byte, mode Payload) []byte {
	if mode == PayloadBase64 {
		return base64.StdEncoding.AppendEncode(b, p)
	}
	s, js, _ := EncodePayload(p, mode)
	if js != nil {
		s = string(p)
	}
	return appendCSVField(b, strings.ToValidUTF8(s, "\uFFFD"))
}

// csvPayloadEncoding is the auto mode's extra last column.
func csvPayloadEncoding(p []byte) string {
	if utf8.Valid(p) {
		return "text"
	}
	return "base64"
}
