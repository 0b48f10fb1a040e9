package replication

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/stratamq/strata/internal/varint"
	"github.com/stratamq/strata/log"
)

// A Raft entry's data is one batch of records (part of the on-disk format of
// the Raft log; never renumber):
//
//	version byte (1) | uvarint count | count x record
//	record: kind byte | varint time (unix ns) | uvarint key length, key | uvarint value length, value
const batchVersion = 1

var errBatch = errors.New("replication: malformed batch")

func appendRecord(b []byte, r *log.Record) []byte {
	b = append(b, r.Kind)
	b = binary.AppendVarint(b, r.Time)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	return append(b, r.Value...)
}

func encodedSize(r *log.Record) int { return 1 + 3*binary.MaxVarintLen64 + len(r.Key) + len(r.Value) }

func encodeBatch(recs []log.Record) []byte {
	n := 1 + binary.MaxVarintLen64
	for i := range recs {
		n += encodedSize(&recs[i])
	}
	b := make([]byte, 0, n)
	b = append(b, batchVersion)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for i := range recs {
		b = appendRecord(b, &recs[i])
	}
	return b
}

// decodeBatch parses a batch; keys and values alias data.
func decodeBatch(data []byte) ([]log.Record, error) {
	if len(data) == 0 || data[0] != batchVersion {
		return nil, fmt.Errorf("%w: unknown version", errBatch)
	}
	p := data[1:]
	n, k, err := varint.Uvarint(p)
	if err != nil {
		return nil, fmt.Errorf("%w: count: %w", errBatch, err)
	}
	if n > uint64(len(p)) {
		return nil, fmt.Errorf("%w: count %d exceeds the %d bytes left", errBatch, n, len(p))
	}
	p = p[k:]
	recs := make([]log.Record, 0, n)
	for i := uint64(0); i < n; i++ {
		var r log.Record
		var err error
		if r, p, err = decodeRecord(p); err != nil {
			return nil, fmt.Errorf("%w: record %d: %w", errBatch, i, err)
		}
		recs = append(recs, r)
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBatch, len(p))
	}
	return recs, nil
}

func decodeRecord(p []byte) (log.Record, []byte, error) {
	var r log.Record
	if len(p) < 1 {
		return r, nil, errors.New("kind")
	}
	r.Kind, p = p[0], p[1:]
	t, k, err := varint.Varint(p)
	if err != nil {
		return r, nil, fmt.Errorf("time: %w", err)
	}
	r.Time, p = t, p[k:]
	if r.Key, p, err = field(p); err != nil {
		return r, nil, fmt.Errorf("key: %w", err)
	}
	if r.Value, p, err = field(p); err != nil {
		return r, nil, fmt.Errorf("value: %w", err)
	}
	return r, p, nil
}

// field reads a uvarint length and that many bytes, aliased. Varints are
// canonical (internal/varint), so every accepted batch re-encodes to the
// same bytes.
func field(p []byte) ([]byte, []byte, error) {
	n, k, err := varint.Uvarint(p)
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(p)-k) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(p)-k)
	}
	p = p[k:]
	return p[:n:n], p[n:], nil
}

// EncodeBatch encodes records in the Raft entry format; the forwarding wire
// format between nodes uses it too.
func EncodeBatch(recs []log.Record) []byte { return encodeBatch(recs) }

// DecodeBatch decodes what EncodeBatch wrote; keys and values alias data.
func DecodeBatch(data []byte) ([]log.Record, error) { return decodeBatch(data) }
