package mqtt

import (
	"strings"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/mqtt/packet"
	"github.com/stratamq/strata/replication"
)

// background runs this node's periodic duties until Close: the sweep of
// sessions no connection holds, and $SYS statistics.
func (b *Broker) background() {
	tick := time.NewTicker(min(b.o.SweepInterval, cmpPositive(b.o.SysInterval, b.o.SweepInterval)))
	defer tick.Stop()
	var lastSys, lastSweep time.Time
	for {
		select {
		case <-b.stop:
			return
		case now := <-tick.C:
			if now.Sub(lastSweep) >= b.o.SweepInterval {
				lastSweep = now
				if !b.closeIfRemoved() { // a removed node's view is stale
					b.sweep(b.o.Views.View())
				}
			}
			if b.o.SysInterval > 0 && now.Sub(lastSys) >= b.o.SysInterval {
				lastSys = now
				b.publishSys(b.o.Views.View(), now)
			}
		}
	}
}

// closeIfRemoved closes every connection once the node was removed from
// the cluster (Removable), and reports whether it was: nothing reaches
// them any more, and their sessions resume on another node.
func (b *Broker) closeIfRemoved() bool {
	r, ok := b.o.Cluster.(Removable)
	if !ok || !r.Removed() {
		return false
	}
	b.mu.Lock()
	conns := make([]*conn, 0, len(b.conns))
	for _, c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	if len(conns) > 0 {
		b.logger.Warn().Int("connections", len(conns)).Msg("removed from the cluster: closing every connection (0x9C use another server)")
	}
	for _, c := range conns {
		c.shutdown(packet.CodeUseAnotherServer, "this node was removed from the cluster: connect to another node")
	}
	return true
}

func cmpPositive(d, or time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return or
}

// sweep ends sessions the log says are connected to this node but that no
// open connection holds: left over by a crash or a kill, or whose own
// disconnect failed to commit. A sweep racing a disconnect is harmless: the
// second one applies as stale.
func (b *Broker) sweep(v *fsm.View) {
	prefix := b.o.NodeID + "/"
	var lost []*fsm.Entry
	v.Sessions(func(s fsm.Session) bool {
		if s.Connected && strings.HasPrefix(s.Node, prefix) && b.connByName(s.Node) == nil {
			lost = append(lost, &fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: s.ClientID,
				Disconnect: fsm.Disconnect{Reason: fsm.ReasonNodeLost, Since: s.ConnectOffset}})
		}
		return true
	})
	if len(lost) > 0 {
		b.await("sweep", b.propose(lost...))
	}
}

// await waits for a background proposal, at most CommitTimeout or until
// Close; its outcome only matters to the log (a failed one is retried by
// the next round).
func (b *Broker) await(what string, f *replication.Future) {
	t := time.NewTimer(b.o.CommitTimeout)
	defer t.Stop()
	select {
	case <-f.Done():
		if _, err := f.Wait(); err != nil {
			b.logger.Debug().Err(err).Str("what", what).Msg("background proposal failed; the next round retries")
		}
	case <-t.C:
	case <-b.stop:
	}
}
