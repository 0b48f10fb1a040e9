package segment

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Options configure writers and readers. Start from DefaultOptions.
type Options struct {
	Codec Codec
	// IndexIntervalBytes: one sparse index entry per this many bytes of frames.
	IndexIntervalBytes int
	// ClusterGroupBytes bounds the raw bytes of one group in the clustered
	// layout; an offset-order scan of a clustered segment holds one group.
	ClusterGroupBytes int
	// ClusterFrameBytes is the target raw size of one clustered frame.
	ClusterFrameBytes int
	// Zstd is the shared encoder/decoder; nil uses a package-wide one.
	Zstd *ZstdCodec
}

// DefaultOptions returns zstd frames, a 4 KiB index interval, 8 MiB cluster
// groups and 8 KiB clustered frames (see docs/benchmarks.md for the choice).
func DefaultOptions() Options {
	return Options{
		Codec:              CodecZstd,
		IndexIntervalBytes: 4 << 10,
		ClusterGroupBytes:  8 << 20,
		ClusterFrameBytes:  8 << 10,
	}
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.Codec > CodecZstd:
		return fmt.Errorf("segment: unknown codec %d", o.Codec)
	case o.IndexIntervalBytes <= 0:
		return errors.New("segment: IndexIntervalBytes must be positive")
	case o.ClusterGroupBytes <= 0 || o.ClusterFrameBytes <= 0:
		return errors.New("segment: ClusterGroupBytes and ClusterFrameBytes must be positive")
	case o.ClusterFrameBytes > o.ClusterGroupBytes:
		return errors.New("segment: ClusterFrameBytes exceeds ClusterGroupBytes")
	}
	return nil
}

var defaultZstd = sync.OnceValues(NewZstdCodec)

// fill validates o and supplies the shared zstd codec.
func (o *Options) fill() error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Zstd == nil {
		z, err := defaultZstd()
		if err != nil {
			return err
		}
		o.Zstd = z
	}
	return nil
}

const fileNameDigits = 20

// FileName returns the .seg file name of a segment starting at base: the base
// offset in 20 decimal digits, so names sort in offset order.
func FileName(base Offset) string {
	return fmt.Sprintf("%020d.seg", uint64(base))
}

// IndexName returns the .idx path beside a .seg path.
func IndexName(segPath string) string { return strings.TrimSuffix(segPath, ".seg") + ".idx" }

// ParseFileName is the inverse of FileName.
func ParseFileName(name string) (Offset, bool) {
	digits, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(digits) != fileNameDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return Offset(v), true
}
