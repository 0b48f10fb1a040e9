package packet

import (
	"bufio"
	"bytes"
	"testing"
)

func benchPublish() *Publish {
	return &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-7/floor-3/temperature",
		Payload: bytes.Repeat([]byte{'x'}, 64)}
}

var benchVersions = []struct {
	name    string
	version byte
}{{"v4", Version311}, {"v5", Version5}}

// BenchmarkDecodePublish measures Read of a 64-byte-payload QoS 1 PUBLISH,
// including the one body allocation and payload copy of the real read path.
func BenchmarkDecodePublish(b *testing.B) {
	for _, bv := range benchVersions {
		b.Run(bv.name, func(b *testing.B) {
			raw, err := Encode(nil, benchPublish(), bv.version)
			if err != nil {
				b.Fatal(err)
			}
			src := bytes.NewReader(raw)
			r := bufio.NewReaderSize(src, 4096)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(raw)
				r.Reset(src)
				if _, err := Read(r, bv.version, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodePublishReusing is BenchmarkDecodePublish with the body
// read into a reused buffer (ReadReusing), as a connection's reader does.
func BenchmarkDecodePublishReusing(b *testing.B) {
	for _, bv := range benchVersions {
		b.Run(bv.name, func(b *testing.B) {
			raw, err := Encode(nil, benchPublish(), bv.version)
			if err != nil {
				b.Fatal(err)
			}
			src := bytes.NewReader(raw)
			r := bufio.NewReaderSize(src, 4096)
			var scratch []byte
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(raw)
				r.Reset(src)
				if _, err := ReadReusing(r, bv.version, 0, &scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodePublish measures Encode of the same PUBLISH into a reused buffer.
func BenchmarkEncodePublish(b *testing.B) {
	for _, bv := range benchVersions {
		b.Run(bv.name, func(b *testing.B) {
			p := benchPublish()
			buf, err := Encode(nil, p, bv.version)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = Encode(buf[:0], p, bv.version); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
