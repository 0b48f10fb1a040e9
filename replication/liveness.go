package replication

import (
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// liveness follows the leader's heartbeats to its peers (raft observations)
// so the MQTT layer can tell when a node holding sessions is gone and
// publish their wills.
type liveness struct {
	mu      sync.Mutex
	failing map[string]time.Time // peer id -> last contact (or first failure)
	ch      chan raft.Observation
	obs     *raft.Observer
	stop    chan struct{}
	done    chan struct{}
}

func newLiveness(r *raft.Raft) *liveness {
	l := &liveness{failing: map[string]time.Time{}, ch: make(chan raft.Observation, 64),
		stop: make(chan struct{}), done: make(chan struct{})}
	l.obs = raft.NewObserver(l.ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.LeaderObservation, raft.PeerObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(l.obs)
	go l.run()
	return l
}

func (l *liveness) run() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case o := <-l.ch:
			l.mu.Lock()
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				if _, ok := l.failing[string(d.PeerID)]; !ok {
					since := d.LastContact
					if since.IsZero() {
						since = time.Now()
					}
					l.failing[string(d.PeerID)] = since
				}
			case raft.ResumedHeartbeatObservation:
				delete(l.failing, string(d.PeerID))
			case raft.LeaderObservation:
				clear(l.failing) // a new term: the new leader observes afresh
			case raft.PeerObservation:
				if d.Removed {
					delete(l.failing, string(d.Peer.ID))
				}
			}
			l.mu.Unlock()
		}
	}
}

func (l *liveness) close(r *raft.Raft) {
	r.DeregisterObserver(l.obs)
	close(l.stop)
	<-l.done
}

// Unreachable lists, on the leader, the peers it has failed to heartbeat for
// longer than after, in id order; elsewhere it is empty. Raft reports a
// failure only after its own retries, so a short pause is not a loss.
func (n *Node) Unreachable(after time.Duration) []string {
	if !n.IsLeader() {
		return nil
	}
	n.live.mu.Lock()
	defer n.live.mu.Unlock()
	var out []string
	for id, since := range n.live.failing {
		if time.Since(since) > after {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Members lists the ids of the cluster's servers.
func (n *Node) Members() []string {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		out = append(out, string(s.ID))
	}
	sort.Strings(out)
	return out
}
