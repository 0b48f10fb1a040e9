package mqtt

import (
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// entryOf decodes a log record into an entry (its time and topic are the
// record's Time and Key). The entry shares no memory with the record.
func entryOf(rec log.Record) (*fsm.Entry, error) {
	e, err := fsm.DecodeRecord(rec)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// offsetReader reads records at increasing offsets with one iterator.
type offsetReader struct {
	l  LogReader
	it log.Cursor
	// the iterator's current record, if any
	cur   log.Record
	valid bool
}

func newOffsetReader(l LogReader) *offsetReader { return &offsetReader{l: l} }

func (r *offsetReader) close() {
	if r.it != nil {
		r.it.Close()
		r.it = nil
	}
}

// at returns the publish at off; nil, nil if the log no longer has it
// (retention deleted it) or it is no publish the fold could decode; a
// *logReadError if reading failed.
func (r *offsetReader) at(off log.Offset) (*fsm.Entry, error) {
	if r.it == nil || (r.valid && r.cur.Offset > off) || off < r.l.FirstOffset() {
		r.close()
		if off < r.l.FirstOffset() {
			return nil, nil
		}
		r.it = r.l.Iter(off)
		r.valid = false
	}
	for !r.valid || r.cur.Offset < off {
		if !r.it.Next() {
			err := r.it.Err()
			r.close() // reopen next time: the log may have grown
			if err != nil && off < r.l.FirstOffset() {
				return nil, nil // deleted meanwhile
			}
			if err != nil {
				return nil, &logReadError{off: off, exact: true, err: err}
			}
			return nil, nil
		}
		r.cur, r.valid = r.it.Record(), true
	}
	if r.cur.Offset != off || r.cur.Kind != uint8(fsm.KindPublish) {
		return nil, nil
	}
	e, err := entryOf(r.cur)
	if err != nil {
		return nil, nil // skipped alike by Apply: never owed
	}
	return e, nil
}
