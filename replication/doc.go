// Package replication runs hashicorp/raft over the broker log: proposals in,
// committed batches out.
//
// Proposals from many goroutines are coalesced by a batcher into one Raft
// entry (group commit). When an entry commits, every node's FSM adapter
// appends its records to the segment log as one frame tagged with the Raft
// index, then folds each record into the StateMachine in offset order. A
// proposer learns its offset only after commit; a proposal cut off by a
// leadership change or shutdown gets an error, never a false success.
//
// The segment log is the state: on restart the StateMachine is restored from
// the latest snapshot and the log's records after it are folded again; Raft
// entries whose index is at or below the log's last tag are already in the
// log and are skipped, never written twice. Snapshots sync the segment log
// first, then carry the StateMachine and the segment files, so Restore brings
// a new or lagging node's log fully up to date.
//
// Goroutines: raft's own (run loop, FSM apply, snapshots, transport); the
// batcher's flush goroutine, owned by Node and stopped by Close.
package replication
