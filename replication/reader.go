package replication

import (
	"github.com/stratamq/strata/log"
)

// Reader is a read-only view of a node's log, for mqtt and httpapi. Each
// method reads the log current at the call (a snapshot install or a
// recovery may replace it), so a Reader may be kept. Safe for concurrent
// use.
type Reader struct{ a *applier }

// Reader returns a read-only view of the node's log.
func (n *Node) Reader() *Reader { return &Reader{a: n.a} }

// LogReader is a Reader over l alone, with no node: for tools and
// benchmarks that read a log built directly.
func LogReader(l *log.Log) *Reader { return &Reader{a: &applier{log: l}} }

// FirstOffset is the oldest offset retained.
func (r *Reader) FirstOffset() log.Offset { return r.a.Log().FirstOffset() }

// NextOffset is the offset the next record appended here will get.
func (r *Reader) NextOffset() log.Offset { return r.a.Log().NextOffset() }

// Iter reads every record from offset from on; close the cursor when done.
func (r *Reader) Iter(from log.Offset) log.Cursor { return r.a.Log().Iter(from) }

// Read reads the records matching the topic filter between the bounds
// (log.Log.Read); close the cursor when done.
func (r *Reader) Read(filter string, from, to log.Bound) (log.Cursor, error) {
	it, err := r.a.Log().Read(filter, from, to)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return it, nil
}
