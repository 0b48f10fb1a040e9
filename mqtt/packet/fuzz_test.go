package packet

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// fuzzMaxSize bounds what FuzzRead lets Read accept.
const fuzzMaxSize = 4096

var fuzzVersions = [...]byte{0, Version31, Version311, Version5}

// FuzzRead feeds arbitrary bytes to Read for every version. Read must never
// panic, must reject packets larger than maxSize, must fail only with an I/O
// error or a wrapped ReasonCode, and whatever decodes must re-encode to
// canonical bytes that decode to an equal packet and re-encode identically.
func FuzzRead(f *testing.F) {
	for _, tc := range tableCases {
		for i, v := range fuzzVersions {
			if v == tc.version {
				f.Add(tc.raw, byte(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, versionIndex byte) {
		version := fuzzVersions[int(versionIndex)%len(fuzzVersions)]
		p, err := Read(bufio.NewReader(bytes.NewReader(data)), version, fuzzMaxSize)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if total := declaredSize(data); total > fuzzMaxSize {
			t.Fatalf("Read accepted a %d-byte packet with maxSize %d", total, fuzzMaxSize)
		}
		if c, ok := p.(*Connect); ok {
			version = c.ProtocolVersion
		}
		checkReencode(t, p, version)
	})
}

func checkFuzzError(t *testing.T, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return
	}
	var code ReasonCode
	if !errors.As(err, &code) || !code.IsError() {
		t.Fatalf("error %v wraps neither io.EOF nor a failure ReasonCode", err)
	}
}

// declaredSize is the size of the first packet in data per its fixed header.
func declaredSize(data []byte) int {
	n, l, err := parseVarint(data[1:], false)
	if err != nil {
		return 0
	}
	return 1 + l + int(n)
}

func checkReencode(t *testing.T, p Packet, version byte) {
	raw, err := Encode(nil, p, version)
	if err != nil {
		t.Fatalf("decoded %#v does not encode: %v", p, err)
	}
	again, err := Read(bufio.NewReader(bytes.NewReader(raw)), version, 0)
	if err != nil {
		t.Fatalf("re-encoded % x does not decode: %v", raw, err)
	}
	if !reflect.DeepEqual(again, p) {
		t.Fatalf("re-decoded packet differs:\n%#v\n%#v", again, p)
	}
	raw2, err := Encode(nil, again, version)
	if err != nil || !bytes.Equal(raw, raw2) {
		t.Fatalf("canonical encoding unstable:\n% x\n% x (%v)", raw, raw2, err)
	}
}
