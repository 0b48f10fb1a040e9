// Package replication runs hashicorp/raft over the broker log: proposals in,
// committed batches out.
//
// Proposals from many goroutines are coalesced by a batcher into one Raft
// entry (group commit); the records of one Propose call stay consecutive in
// one entry, and one caller's proposals commit in the order made (on a
// follower they are forwarded to the leader, one batch at a time). When an
// entry commits, every node's FSM adapter appends its records to the segment
// log as one frame tagged with the Raft index, then folds each record into
// the StateMachine in offset order (Apply: pure, returns an effect).
//
// Effects are performed off raft's FSM goroutine: the adapter hands each
// entry's effects, with the offset the fold reached, to the node's
// dispatcher, which calls Perform in offset order and then advances the
// applied watermark (Node.Applied). A proposal's Future resolves only once
// the watermark passes its records: committed, applied and performed on
// this node. A proposal cut off by a leadership change or shutdown gets an
// error, never a false success.
//
// The segment log is the state: on restart the StateMachine is restored from
// the latest snapshot and the log's records after it are folded again; Raft
// entries whose index is at or below the log's last tag are already in the
// log and are skipped, never written twice. Snapshots sync the segment log
// first, then carry the StateMachine and the segment files, so Restore brings
// a new or lagging node's log fully up to date. Readers use Node.Reader,
// which follows the log a Restore may replace.
//
// Goroutines (docs/threads.md): raft's own (run loop, FSM apply, snapshots,
// transport); the batcher's, with one await per entry in flight; the
// dispatcher's; the leader watch, liveness, announce, recovery and scrub
// loops. All are owned by Node and stopped by Close.
package replication
