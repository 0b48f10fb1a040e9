package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

var (
	// ErrRemoved is Applying's and Health's error on a node that was a
	// member of the cluster and has been removed from it: it no longer
	// receives the log, so it can neither admit clients nor serve reads.
	ErrRemoved = errors.New("replication: this node was removed from the cluster (strata cluster remove); join it again with serve --join, or stop it")
	// ErrNotMember is Remove's error for an id that is not a member.
	ErrNotMember = errors.New("replication: not a member of the cluster")
)

// removalWatch notices that this node was removed from the cluster: the
// latest configuration it holds is not empty and lacks it. (A follower
// that is removed gets the configuration without it from the leader, then
// no more heartbeats; raft keeps running and would say nothing.) A new
// node has an empty configuration until it joins, and the one it joins
// with holds it, so only a removed node (also one restarted since) is
// flagged; joining again clears it. Safe for concurrent use.
type removalWatch struct {
	removed atomic.Bool
	toldAt  atomic.Uint64 // raft's last index when the leader said so (MarkRemoved); 0: not told
}

// removalCheckInterval is how often the configuration is looked at: cheap
// (raft answers from memory) and an operator waits for no more than this.
const removalCheckInterval = 500 * time.Millisecond

// checkRemoved looks at the latest configuration once, logging the change
// at warn when this node left it and at info when it is back.
func (n *Node) checkRemoved() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	member := false
	for _, s := range servers {
		member = member || s.ID == raft.ServerID(n.o.NodeID)
	}
	w := &n.removal
	switch {
	case member && w.toldAt.Load() != 0 && n.raft.LastIndex() <= w.toldAt.Load():
		// Told by the leader, which has stopped sending entries: the
		// configuration without this node never came.
	case member:
		w.toldAt.Store(0)
		if w.removed.Swap(false) {
			n.logger.Info().Msg("a member of the cluster again")
		}
	case len(servers) > 0 && !w.removed.Swap(true):
		n.logger.Warn().Msg("removed from the cluster: not ready, refusing MQTT clients; join it again with serve --join, or stop it")
	}
}

// Removed reports whether this node was removed from the cluster (and not
// joined again since): the broker sends its clients elsewhere.
func (n *Node) Removed() bool { return n.removal.removed.Load() }

// removedErr is ErrRemoved once this node was removed, else nil.
func (n *Node) removedErr() error {
	if n.removal.removed.Load() {
		return ErrRemoved
	}
	return nil
}

// MarkRemoved is the removed node's side of Options.NotifyRemoved: the
// leader says it removed id, which must be this node. It is flagged as
// removed (Applying, Health) until entries come from a leader again.
func (n *Node) MarkRemoved(id string) error {
	if id != n.o.NodeID {
		return fmt.Errorf("replication: told that %q was removed, but this is %q", id, n.o.NodeID)
	}
	n.removal.toldAt.Store(max(n.raft.LastIndex(), 1))
	if !n.removal.removed.Swap(true) {
		n.logger.Warn().Msg("removed from the cluster (the leader says so): not ready, refusing MQTT clients; join it again with serve --join, or stop it")
	}
	return nil
}

// notifyRemoved tells the removed node at addr (best effort, bounded: the
// removal is done either way).
func (n *Node) notifyRemoved(id, addr string) {
	if n.o.NotifyRemoved == nil || addr == "" || id == n.o.NodeID {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.o.NotifyRemoved(ctx, addr, id); err != nil {
		n.logger.Info().Err(err).Str("removed", id).Msg("could not tell the removed node; it notices if it got the new configuration")
	}
}
