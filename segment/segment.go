package segment

import (
	"errors"
	"fmt"
)

// Offset is a record's position in the log: dense, starts at 0, never reused.
type Offset uint64

// Record is one log record. Key is the topic for publishes; Kind is opaque here.
//
// Records returned by iterators may alias internal buffers: Key and Value are valid
// until the iterator's next call to Next. Copy them to keep them.
type Record struct {
	Offset Offset
	Time   int64 // unix nanoseconds
	Kind   uint8
	Key    []byte
	Value  []byte
}

// Codec is the compression applied to one frame's body.
// Part of the on-disk format; never renumber.
type Codec uint8

const (
	CodecNone Codec = 0
	CodecS2   Codec = 1
	CodecZstd Codec = 2
)

var (
	// ErrCorrupt is matched (errors.Is) by every *CorruptionError.
	ErrCorrupt = errors.New("segment: corrupt")
	// ErrOutOfRange is returned when an offset is not in a segment.
	ErrOutOfRange = errors.New("segment: offset out of range")
	// ErrSealed is returned by OpenWriter for a segment in the clustered layout.
	ErrSealed = errors.New("segment: sealed")
	// ErrClosed is returned by operations on a closed Writer or Reader.
	ErrClosed = errors.New("segment: closed")
	// ErrFormatVersion is matched by the error for a segment written in
	// another format version (an older Strata's files). It is not ErrCorrupt:
	// the bytes are intact, this build cannot read them.
	ErrFormatVersion = errors.New("segment: unsupported format version")
)

// CorruptionError reports a checksum or structure failure inside data that was
// expected to be intact. It is never silently repaired.
type CorruptionError struct {
	Path string
	Pos  int64 // byte position in the file of the damaged frame or index entry
	Err  error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("segment: corrupt %s at byte %d: %v", e.Path, e.Pos, e.Err)
}
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
func (e *CorruptionError) Unwrap() error        { return e.Err }
