// Package housekeeping is the cluster's policy for time: on the leader, it
// proposes what falls due (a will whose delay elapsed or whose session
// ended, a session whose expiry elapsed) and ends the sessions held by
// nodes that are lost (unreachable for NodeLostAfter, or removed), so their
// wills are published by the surviving cluster.
//
// It runs on its own goroutine, driven by the views (fsm.View.Due,
// NextDeadline, Sessions) and a clock; it is never called from the apply
// path. Apply only nudges it (Nudge never blocks) when an entry's effects
// name wills due now. Proposing a due entry twice is harmless: the second
// one applies as stale. docs/threads.md lists its goroutine.
package housekeeping
