package packet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Read reads one packet from r. version is the protocol level agreed in
// CONNECT, or 0 before it, when only CONNECT is accepted [MQTT-3.1.0-1].
// maxSize bounds the whole packet (fixed header included, as Maximum Packet
// Size does in section 3.1.2.11.4); 0 means the protocol limit. The limit is
// checked from the fixed header before the body is allocated, so a peer can
// never make Read allocate more than maxSize bytes.
//
// Errors: io.EOF when r ends cleanly before a packet; an error wrapping
// io.ErrUnexpectedEOF (or r's own error) when it ends inside one; otherwise an
// error wrapping a ReasonCode (ErrMalformed, ErrProtocolError,
// ErrPacketTooLarge, ...). The returned packet aliases one freshly allocated
// body buffer (Publish.Payload is not copied again) and owns it.
func Read(r *bufio.Reader, version byte, maxSize uint32) (Packet, error) {
	return read(r, version, maxSize, nil)
}

// ReadReusing is Read, except that a PUBLISH's body is read into *scratch
// (grown when it is too small) rather than a fresh buffer: the Publish's
// Payload and binary properties alias *scratch until the next call with the
// same scratch. A caller that copies what it keeps of a publish (as the
// encoding of a proposal's record does) reads a stream of them without an
// allocation per body. Other packets own their body, as with Read.
func ReadReusing(r *bufio.Reader, version byte, maxSize uint32, scratch *[]byte) (Packet, error) {
	return read(r, version, maxSize, scratch)
}

func read(r *bufio.Reader, version byte, maxSize uint32, scratch *[]byte) (Packet, error) {
	header, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if err := checkHeader(header, version); err != nil {
		return nil, err
	}
	size, n, err := readRemainingLength(r, version)
	if err != nil {
		return nil, err
	}
	if total := 1 + uint64(n) + uint64(size); maxSize != 0 && total > uint64(maxSize) {
		return nil, fmt.Errorf("packet: %w: %s of %d bytes exceeds maximum %d", ErrPacketTooLarge,
			Type(header>>4), total, maxSize)
	}
	body := bodyBuffer(Type(header>>4), int(size), scratch)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("packet: read %s body: %w", Type(header>>4), err)
	}
	return Decode(header, body, version)
}

// bodyBuffer returns a buffer of size bytes for a packet body: *scratch's
// for a PUBLISH when scratch is set, a fresh one otherwise.
func bodyBuffer(t Type, size int, scratch *[]byte) []byte {
	if scratch == nil || t != TypePublish {
		return make([]byte, size)
	}
	if cap(*scratch) < size {
		*scratch = make([]byte, size)
	}
	return (*scratch)[:size]
}

// readRemainingLength reads the Remaining Length of the fixed header and
// returns it with the number of bytes it took.
func readRemainingLength(r *bufio.Reader, version byte) (uint32, int, error) {
	var b [maxVarintBytes]byte
	for i := range b {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, fmt.Errorf("packet: read remaining length: %w", err)
		}
		b[i] = c
		if c&0x80 == 0 {
			v, n, err := parseVarint(b[:i+1], version == Version5)
			if err != nil {
				return 0, 0, fmt.Errorf("packet: remaining length: %w", err)
			}
			return v, n, nil
		}
	}
	return 0, 0, fmt.Errorf("packet: %w: remaining length longer than 4 bytes", ErrMalformed)
}

// checkHeader validates the first fixed-header byte for version before any of
// the body is read.
func checkHeader(header byte, version byte) error {
	t := Type(header >> 4)
	switch {
	case t == 0:
		return fmt.Errorf("packet: %w: reserved packet type 0", ErrMalformed)
	case version == 0 && t != TypeConnect:
		return fmt.Errorf("packet: %w: %s before CONNECT [MQTT-3.1.0-1]", ErrProtocolError, t)
	case version != 0 && !knownVersion(version):
		return fmt.Errorf("packet: %w: version %d", ErrUnsupportedProtocolVersion, version)
	case t == TypeAuth && version != Version5:
		return fmt.Errorf("packet: %w: AUTH is reserved before MQTT 5.0", ErrMalformed)
	}
	if want, fixed := fixedFlags(t); fixed && header&0x0f != want {
		// [MQTT-2.2.2-1] [MQTT-2.2.2-2]; 5.0 treats this as malformed [MQTT-2.1.3-1].
		return fmt.Errorf("packet: %w: %s fixed header flags %04b, want %04b [MQTT-2.2.2-2]",
			ErrMalformed, t, header&0x0f, want)
	}
	return nil
}

func knownVersion(v byte) bool { return v == Version31 || v == Version311 || v == Version5 }

// Decode decodes one packet from its first fixed-header byte and its body
// (the Remaining Length bytes that follow the fixed header). version is as
// for Read; CONNECT is decoded with the level it carries. The packet aliases
// body (Publish.Payload, binary fields), so the caller must not reuse body.
//
// Errors wrap a ReasonCode. For a CONNECT that fails with
// ErrUnsupportedProtocolVersion, or after its protocol level said 5, the
// partly decoded *Connect is returned too, so the caller can answer with a
// CONNACK of the right format and code (a 5.0 server MAY send CONNACK 0x81
// or 0x82 before closing, [MQTT-4.13.1-1]; 3.1.1 has no such code).
func Decode(header byte, body []byte, version byte) (Packet, error) {
	if err := checkHeader(header, version); err != nil {
		return nil, err
	}
	t := Type(header >> 4)
	d := decoder{buf: body, version: version}
	p := decodeBody(t, &d, header&0x0f)
	if d.err != nil {
		err := fmt.Errorf("packet: decode %s: %w", t, d.err)
		if c, ok := p.(*Connect); ok && (errors.Is(d.err, ErrUnsupportedProtocolVersion) ||
			d.version == Version5) {
			return c, err
		}
		return nil, err
	}
	return p, nil
}

// Encode appends the encoding of p for version to buf and returns the
// extended buffer; it allocates only when buf lacks capacity. A *Connect is
// encoded with its own ProtocolVersion when that is set. Errors wrap ErrEncode.
func Encode(buf []byte, p Packet, version byte) ([]byte, error) {
	version = encodeVersion(p, version)
	size, err := remainingLength(p, version)
	if err != nil {
		return buf, err
	}
	buf = append(buf, byte(p.Type())<<4|p.flags())
	buf = appendVarint(buf, uint32(size))
	start := len(buf)
	buf = p.appendBody(buf, version)
	if len(buf)-start != size {
		return buf[:start], fmt.Errorf("%w: %s body is %d bytes, measured %d", ErrEncode,
			p.Type(), len(buf)-start, size)
	}
	return buf, nil
}

// Size returns the number of bytes Encode would produce for p, so a sender
// can hold to the peer's Maximum Packet Size [MQTT-3.1.2-24] [MQTT-3.2.2-15]
// without encoding first. Errors are those of Encode.
func Size(p Packet, version byte) (int, error) {
	version = encodeVersion(p, version)
	size, err := remainingLength(p, version)
	if err != nil {
		return 0, err
	}
	return 1 + varintLen(uint32(size)) + size, nil
}

func encodeVersion(p Packet, version byte) byte {
	if c, ok := p.(*Connect); ok && c.ProtocolVersion != 0 {
		return c.ProtocolVersion
	}
	return version
}

// remainingLength measures p and checks it can be encoded in version.
func remainingLength(p Packet, version byte) (int, error) {
	if !knownVersion(version) {
		return 0, fmt.Errorf("%w: %s for unknown version %d", ErrEncode, p.Type(), version)
	}
	if p.Type() == TypeAuth && version != Version5 {
		return 0, fmt.Errorf("%w: AUTH requires MQTT 5.0", ErrEncode)
	}
	s := p.measure(version)
	if s.err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrEncode, p.Type(), s.err)
	}
	if s.n > MaxVarint {
		return 0, fmt.Errorf("%w: %s remaining length %d exceeds %d", ErrEncode, p.Type(), s.n, MaxVarint)
	}
	return s.n, nil
}
