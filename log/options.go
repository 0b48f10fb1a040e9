package log

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/segment"
)

// Options configure a Log. Start from DefaultOptions.
type Options struct {
	FS      segment.FS
	Segment segment.Options
	// SegmentBytes rolls the active segment once it holds this many bytes.
	SegmentBytes int64
	// SegmentAge rolls the active segment when a batch's first record time is
	// this far past the segment's lowest record time; 0 disables it.
	SegmentAge time.Duration
	// RetentionBytes deletes oldest segments while the log is larger; 0 keeps all.
	RetentionBytes int64
	// RetentionAge deletes segments whose newest record is this much older
	// than the log's newest record; 0 keeps all.
	RetentionAge time.Duration
	// Cluster rewrites sealed segments into the clustered layout.
	Cluster bool
	Logger  zerolog.Logger

	// ObserveSync, if set, gets the duration of every fsync of the active
	// segment (Sync); OnRetention the size of every segment retention
	// deleted. For metrics: they must be cheap and safe for concurrent use.
	ObserveSync func(time.Duration)
	OnRetention func(segmentBytes int64)
}

// DefaultOptions: OS files, zstd, 64 MiB segments rolled at least hourly,
// unlimited retention, clustering on.
func DefaultOptions() Options {
	return Options{
		FS:           segment.OSFS(),
		Segment:      segment.DefaultOptions(),
		SegmentBytes: 64 << 20,
		SegmentAge:   time.Hour,
		Cluster:      true,
		Logger:       zerolog.Nop(),
	}
}

// Validate reports the first invalid field.
func (o Options) Validate() error {
	switch {
	case o.FS == nil:
		return fmt.Errorf("%w: FS is nil", ErrInvalid)
	case o.SegmentBytes <= 0:
		return fmt.Errorf("%w: SegmentBytes must be positive", ErrInvalid)
	case o.SegmentAge < 0 || o.RetentionAge < 0 || o.RetentionBytes < 0:
		return fmt.Errorf("%w: SegmentAge, RetentionAge and RetentionBytes must not be negative", ErrInvalid)
	}
	if err := o.Segment.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}
