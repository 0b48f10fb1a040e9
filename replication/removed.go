package replication

import (
	"errors"
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
// latest configuration it holds lacks it after it was in one. (A follower
// that is removed gets the configuration without it from the leader, then
// no more heartbeats; raft keeps running and would say nothing.) Joining
// again clears it. Safe for concurrent use.
type removalWatch struct {
	wasMember atomic.Bool
	removed   atomic.Bool
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
	case member:
		w.wasMember.Store(true)
		if w.removed.Swap(false) {
			n.logger.Info().Msg("a member of the cluster again")
		}
	case w.wasMember.Load() && len(servers) > 0 && !w.removed.Swap(true):
		n.logger.Warn().Msg("removed from the cluster: not ready, refusing MQTT clients; join it again with serve --join, or stop it")
	}
}

// removedErr is ErrRemoved once this node was removed, else nil.
func (n *Node) removedErr() error {
	if n.removal.removed.Load() {
		return ErrRemoved
	}
	return nil
}
