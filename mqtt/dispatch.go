package mqtt

import (
	"context"
	"sync/atomic"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// Apply hands one applied entry's effects to this node's connections. The
// node calls it on its dispatcher goroutine, in offset order, before the
// futures of the entry's proposals resolve. It never blocks on the network
// or the cluster: it only queues to connections (each bounded by
// QueueLength, past which it reads back from the log) and wakes their
// writers. It proposes nothing; due wills are the housekeeping package's.
func (b *Broker) Apply(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
	if fx.Resume != nil && e.Kind == fsm.KindSessionConnect {
		if c := b.connByName(e.Connect.Node); c != nil {
			c.resumed(fx.Resume)
		}
	}
	for _, cl := range fx.Close {
		if c := b.connByName(cl.Node); c != nil {
			c.shutdown(packet.CodeSessionTakenOver, "another connection took over the session")
		}
	}
	if fx.Err == nil {
		b.sessionEvent(off, e)
	}
	if fx.Presence != nil && b.watches.n.Load() > 0 {
		b.presenceEvents(off, e, fx.Presence)
	}
	if fx.Unmatched && e.PacketID != 0 {
		b.noteUnmatched(off, e.ClientID) // answered 0x10 (publish.go)
	}
	if e.Kind == fsm.KindKeyRevoke {
		b.revokeKey(e.KeyID)
	}
	if e.Kind == fsm.KindSubscribe {
		b.deliverRetained(off, e, fx.Deliveries)
		return
	}
	msg := e
	if e.Kind != fsm.KindPublish {
		msg = nil
	}
	conns := b.connsOf(fx.Deliveries)
	alone := len(fx.Deliveries) == 1
	for i, c := range conns {
		if c != nil {
			c.deliver(off, msg, &fx.Deliveries[i], alone)
		}
	}
	clear(conns) // hold no connection past this entry
}

// connsOf looks up the connection of each delivery under one hold of
// Broker.mu (a fan-out to N subscribers costs one lock, not N), into a
// slice only Apply uses: Apply runs on one goroutine, in offset order.
func (b *Broker) connsOf(ds []fsm.Delivery) []*conn {
	b.applyConns = b.applyConns[:0]
	b.mu.Lock()
	for i := range ds {
		b.applyConns = append(b.applyConns, b.conns[ds[i].Node])
	}
	b.mu.Unlock()
	return b.applyConns
}

// deliverRetained hands the retained messages a Subscribe sends to its
// client's connection as one queue item, whatever their number: they are
// owed (QoS 1/2 are in flight in the session) and a queue bound must not
// drop them (issue 14).
func (b *Broker) deliverRetained(off log.Offset, e *fsm.Entry, ds []fsm.Delivery) {
	if len(ds) == 0 {
		return
	}
	if c := b.connByName(ds[0].Node); c != nil {
		c.deliverRetained(off, ds)
	}
}

// sessionEvent tells the client's local connection of a disconnect it did
// not make and of its subscribes (a replay may wait for its place).
func (b *Broker) sessionEvent(off log.Offset, e *fsm.Entry) {
	if e.Kind != fsm.KindSessionDisconnect && e.Kind != fsm.KindSubscribe {
		return
	}
	b.mu.Lock()
	c := b.clients[e.ClientID]
	b.mu.Unlock()
	switch {
	case c == nil:
	case e.Kind == fsm.KindSubscribe:
		c.markSubscribe(off, e)
	case c.connectOffset() == e.Disconnect.Since && !c.isClosing():
		// The session left this connection for a reason other than its own
		// close (a node-lost disconnect proposed by the leader, say).
		c.shutdown(packet.CodeAdministrativeAction, "session ended by the cluster")
	}
}

// ApplyHook forwards a node's applied entries to a Broker that may be
// created after the node (the node folds its log while starting, before the
// broker exists; nothing is connected then). Set it as the machine's
// OnApply; its zero value is ready.
type ApplyHook struct{ b atomic.Pointer[Broker] }

// Apply calls Broker.Apply once a broker is set.
func (h *ApplyHook) Apply(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
	if b := h.b.Load(); b != nil {
		b.Apply(off, e, fx)
	}
}

// Set makes b receive applied entries.
func (h *ApplyHook) Set(b *Broker) { h.b.Store(b) }

// propose encodes entries and proposes them as one proposal (consecutive
// offsets); an entry that cannot be encoded fails the whole proposal.
func (b *Broker) propose(es ...*fsm.Entry) *replication.Future {
	recs := make([]log.Record, len(es))
	for i, e := range es {
		rec, err := e.Record()
		if err != nil {
			b.logger.Error().Err(err).Str("kind", e.Kind.String()).Msg("entry cannot be encoded")
			return replication.Resolved(0, err)
		}
		recs[i] = rec
	}
	return b.o.Cluster.Propose(context.Background(), recs...)
}

// applying is nil unless the cluster node reports it cannot apply.
func (b *Broker) applying() error {
	if a, ok := b.o.Cluster.(Applying); ok {
		return a.Applying()
	}
	return nil
}
