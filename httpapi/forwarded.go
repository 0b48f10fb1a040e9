package httpapi

import (
	"errors"
	"fmt"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// checkForwarded reports why a forwarded batch may not be proposed: each
// record must be one a follower forwards, well formed: an fsm entry that
// fsm.DecodeRecord accepts, or a member record (replication.KindMember,
// empty key) whose value decodes. The error names the first bad record's
// index in the batch.
func checkForwarded(recs []log.Record) error {
	for i := range recs {
		if err := checkRecord(&recs[i]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
	}
	return nil
}

func checkRecord(r *log.Record) error {
	k := fsm.Kind(r.Kind)
	switch {
	case k.Valid():
		_, err := fsm.DecodeRecord(*r)
		return err
	case r.Kind == replication.KindMember:
		if len(r.Key) != 0 {
			return errors.New("member record with a key")
		}
		_, _, err := replication.DecodeMember(r.Value)
		return err
	default:
		return fmt.Errorf("kind %#x (%s) is not one a follower forwards", r.Kind, k)
	}
}
