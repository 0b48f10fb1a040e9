package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// File layout constants. Part of the on-disk format; never renumber.
const (
	fileMagic      = "STRATSEG"
	formatVersion  = 2 // 2: the frame CRC leaves out the node-local sync point
	fileHeaderSize = 32
	frameHeaderSz  = 64

	layoutOrdered   = 1
	layoutClustered = 2

	flagCodecMask  = 0x03
	flagClustered  = 0x04 // records carry explicit offset deltas, not in offset order
	flagGroupStart = 0x08 // first frame of a clustered group
	flagsKnown     = flagCodecMask | flagClustered | flagGroupStart

	// maxFrameBody bounds one frame's stored and raw body, so a damaged length
	// can never make a reader allocate more.
	maxFrameBody = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecS2:
		return "s2"
	case CodecZstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// fileHeader is the first 32 bytes of a .seg file:
//
//	0  magic "STRATSEG"  8 bytes
//	8  version           uint16
//	10 layout            uint8 (1 ordered, 2 clustered)
//	11 reserved          5 bytes, zero
//	16 base offset       uint64
//	24 reserved          4 bytes, zero
//	28 crc32c            uint32 over bytes 0..28
type fileHeader struct {
	layout uint8
	base   Offset
}

func (h fileHeader) encode() []byte {
	b := make([]byte, fileHeaderSize)
	copy(b, fileMagic)
	binary.LittleEndian.PutUint16(b[8:], formatVersion)
	b[10] = h.layout
	binary.LittleEndian.PutUint64(b[16:], uint64(h.base))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

func decodeFileHeader(b []byte) (fileHeader, error) {
	if len(b) < fileHeaderSize {
		return fileHeader{}, errors.New("file header truncated")
	}
	if string(b[:8]) != fileMagic {
		return fileHeader{}, errors.New("bad magic")
	}
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return fileHeader{}, errors.New("file header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != formatVersion {
		return fileHeader{}, versionError(v)
	}
	h := fileHeader{layout: b[10], base: Offset(binary.LittleEndian.Uint64(b[16:]))}
	if h.layout != layoutOrdered && h.layout != layoutClustered {
		return fileHeader{}, fmt.Errorf("unknown layout %d", h.layout)
	}
	return h, nil
}

// versionError explains a file header version this build cannot read.
func versionError(v uint16) error {
	if v < formatVersion {
		return fmt.Errorf("%w: format version %d is older than this build's version %d "+
			"(written by an earlier Strata; there is no in-place upgrade)", ErrFormatVersion, v, formatVersion)
	}
	return fmt.Errorf("%w: format version %d is newer than this build's version %d", ErrFormatVersion, v, formatVersion)
}

// frameHeader is the 64-byte header before every frame body (little endian):
//
//	0  crc32c          uint32 over header bytes 4..56 then the body (the
//	                   sync point is node-local and left out)
//	4  bodyLen         uint32 stored (compressed) body length
//	8  version         uint8
//	9  flags           uint8: bits 0-1 codec, bit 2 clustered, bit 3 group start
//	10 reserved        uint16, zero
//	12 count           uint32 records, >= 1
//	16 base            uint64 lowest record offset in the frame
//	24 maxDelta        uint32 highest record offset - base
//	28 rawLen          uint32 uncompressed body length
//	32 tag             uint64 opaque, set by the writer's caller
//	40 minTime         int64 unix ns
//	48 maxTime         int64 unix ns
//	56 synced          uint64 file size covered by the writer's last completed
//	                   Sync before this frame was written (0 in clustered files)
type frameHeader struct {
	bodyLen  uint32
	flags    uint8
	count    uint32
	base     Offset
	maxDelta uint32
	rawLen   uint32
	tag      uint64
	minTime  int64
	maxTime  int64
	synced   uint64
}

func (h *frameHeader) codec() Codec     { return Codec(h.flags & flagCodecMask) }
func (h *frameHeader) clustered() bool  { return h.flags&flagClustered != 0 }
func (h *frameHeader) next() Offset     { return h.base + Offset(h.maxDelta) + 1 }
func (h *frameHeader) frameSize() int64 { return frameHeaderSz + int64(h.bodyLen) }

func (h *frameHeader) put(b []byte) {
	binary.LittleEndian.PutUint32(b[4:], h.bodyLen)
	b[8] = formatVersion
	b[9] = h.flags
	b[10], b[11] = 0, 0
	binary.LittleEndian.PutUint32(b[12:], h.count)
	binary.LittleEndian.PutUint64(b[16:], uint64(h.base))
	binary.LittleEndian.PutUint32(b[24:], h.maxDelta)
	binary.LittleEndian.PutUint32(b[28:], h.rawLen)
	binary.LittleEndian.PutUint64(b[32:], h.tag)
	binary.LittleEndian.PutUint64(b[40:], uint64(h.minTime))
	binary.LittleEndian.PutUint64(b[48:], uint64(h.maxTime))
	binary.LittleEndian.PutUint64(b[56:], h.synced)
}

// parseFrameHeader decodes and sanity-checks a header; the checksum is
// verified separately, once the body is read.
func parseFrameHeader(b []byte) (frameHeader, error) {
	if len(b) < frameHeaderSz {
		return frameHeader{}, errors.New("frame header truncated")
	}
	h := frameHeader{
		bodyLen:  binary.LittleEndian.Uint32(b[4:]),
		flags:    b[9],
		count:    binary.LittleEndian.Uint32(b[12:]),
		base:     Offset(binary.LittleEndian.Uint64(b[16:])),
		maxDelta: binary.LittleEndian.Uint32(b[24:]),
		rawLen:   binary.LittleEndian.Uint32(b[28:]),
		tag:      binary.LittleEndian.Uint64(b[32:]),
		minTime:  int64(binary.LittleEndian.Uint64(b[40:])),
		maxTime:  int64(binary.LittleEndian.Uint64(b[48:])),
		synced:   binary.LittleEndian.Uint64(b[56:]),
	}
	switch {
	case b[8] != formatVersion:
		return h, fmt.Errorf("unsupported frame version %d", b[8])
	case h.flags&^flagsKnown != 0 || b[10] != 0 || b[11] != 0:
		return h, errors.New("unknown frame flags")
	case h.codec() > CodecZstd:
		return h, fmt.Errorf("unknown codec %d", h.codec())
	case h.count == 0 || h.maxDelta < h.count-1:
		return h, errors.New("bad record count")
	case !h.clustered() && h.maxDelta != h.count-1:
		return h, errors.New("ordered frame offsets not dense")
	case h.bodyLen > maxFrameBody || h.rawLen > maxFrameBody:
		return h, errors.New("frame too large")
	case h.minTime > h.maxTime:
		return h, errors.New("min time after max time")
	case h.clustered() && h.synced != 0:
		return h, errors.New("sync point in a clustered frame")
	}
	return h, nil
}

// syncPointAt is where a frame header's sync point starts. The sync point is
// node-local (each node fsyncs at its own moments), so the frame checksum
// leaves it out: sealed segments then checksum alike on every node.
const syncPointAt = 56

func frameChecksum(hdr, body []byte) uint32 {
	c := crc32.Update(0, castagnoli, hdr[4:syncPointAt])
	return crc32.Update(c, castagnoli, body)
}

func checksumOK(hdr, body []byte) bool {
	return frameChecksum(hdr, body) == binary.LittleEndian.Uint32(hdr[:4])
}

// ZstdCodec is one shared zstd encoder/decoder pair; EncodeAll and DecodeAll
// are safe for concurrent use, so one serves a whole log.
type ZstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewZstdCodec makes an encoder (default level) and a decoder whose output is
// bounded by the frame size limit.
func NewZstdCodec() (*ZstdCodec, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("segment: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxFrameBody))
	if err != nil {
		return nil, fmt.Errorf("segment: zstd decoder: %w", err)
	}
	return &ZstdCodec{enc: enc, dec: dec}, nil
}

// compress appends the encoding of raw to dst.
func compress(c Codec, z *ZstdCodec, dst, raw []byte) []byte {
	switch c {
	case CodecS2:
		return append(dst, s2.Encode(nil, raw)...)
	case CodecZstd:
		return z.enc.EncodeAll(raw, dst)
	}
	return append(dst, raw...)
}

// decompress returns the raw body, which must be exactly rawLen bytes.
func decompress(c Codec, z *ZstdCodec, dst, body []byte, rawLen int) ([]byte, error) {
	var out []byte
	var err error
	switch c {
	case CodecNone:
		out = body
	case CodecS2:
		n, derr := s2.DecodedLen(body)
		if derr != nil {
			return nil, fmt.Errorf("s2 body length: %w", derr)
		}
		if n != rawLen {
			return nil, fmt.Errorf("s2 body length %d, header says %d", n, rawLen)
		}
		out, err = s2.Decode(dst[:cap(dst)], body)
	case CodecZstd:
		out, err = z.dec.DecodeAll(body, dst[:0])
	}
	if err != nil {
		return nil, err
	}
	if len(out) != rawLen {
		return nil, fmt.Errorf("raw body is %d bytes, header says %d", len(out), rawLen)
	}
	return out, nil
}
