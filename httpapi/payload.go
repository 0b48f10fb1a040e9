package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// PayloadAuto "payload_encoding". It writes into b directly (no copy of
// the payload per record, as EncodePayload would make).
func appendNDJSONPayload(b, p []byte, mode Payload) []byte {
	switch mode {
	case PayloadText:
		b = append(b, `,"payload":`...)
		return appendJSONString(b, string(p))
	case PayloadHex:
		b = append(b, `,"payload":"`...)
		b = hex.AppendEncode(b, p)
		return append(b, '"')
	case PayloadAuto:
		return appendAutoPayload(b, p)
	}
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}

// appendAutoPayload is appendNDJSONPayload's PayloadAuto: a JSON value as
// payload_json (compacted), else text, else base64.
func appendAutoPayload(b, p []byte) []byte {
	if mayBeJSON(p) {
		buf := bytes.NewBuffer(append(b, `,"payload_json":`...))
		if json.Compact(buf, p) == nil { // on error buf is left as it was
			return append(buf.Bytes(), `,"payload_encoding":"json"`...)
		}
	}
	if utf8.Valid(p) {
		b = append(b, `,"payload":`...)
		b = appendJSONString(b, string(p))
		return append(b, `,"payload_encoding":"text"`...)
	}
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, `","payload_encoding":"base64"`...)
}

// mayBeJSON is a cheap first test: the first byte that is not white space
// can start a JSON value.
func mayBeJSON(p []byte) bool {
	t := bytes.TrimLeft(p, " \t\r\n")
	return len(t) > 0 && strings.IndexByte(`{["-0123456789tfn`, t[0]) >= 0
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
