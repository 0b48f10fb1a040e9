package segment

import (
	"errors"
	"fmt"
	"math"
)

// The times a damaged segment reports: unknown, so any time may lie in it.
// A time seek reaching it fails instead of skipping it.
const (
	damagedMinTime = math.MinInt64
	damagedMaxTime = math.MaxInt64
)

// OpenDamaged stands in for a sealed segment that Open refused with a
// *CorruptionError: a Reader that covers [base, next) as the neighbouring
// segments say it must, and returns cause from every read, so that a log
// holding it stays contiguous and no read skips the damaged range. Its
// times are unknown (see MinTime, MaxTime), its LastTag is 0 and its
// Checksum fails. The file is not held open. Replace it with a verified
// copy (from a peer) and Open that.
func OpenDamaged(path string, base, next Offset, cause error) (*Reader, error) {
	if !errors.Is(cause, ErrCorrupt) {
		return nil, fmt.Errorf("segment: %s is not damaged: %w", path, cause)
	}
	if next < base {
		return nil, fmt.Errorf("segment: damaged %s: next offset %d below base %d", path, next, base)
	}
	st := &state{size: fileHeaderSize, next: next, empty: next == base}
	r := &Reader{path: path, base: base, layout: layoutOrdered, st: st, shared: true, damaged: cause}
	r.closed.Store(true) // nothing to close
	return r, nil
}

// Damaged is the error OpenDamaged was given, nil for a readable segment.
func (r *Reader) Damaged() error { return r.damaged }
