package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// KindMember is the log record kind replication uses for cluster metadata:
// a node's HTTP address, so followers can forward proposals to the leader.
// Declared with every other record kind in fsm (fsm.KindMember); part of the
// on-disk format. Member records have an empty key, so topic-filtered reads
// never return them.
const KindMember = uint8(fsm.KindMember)

// memberRecord encodes (id, httpAddr) as: uvarint len, id, uvarint len, addr.
func memberRecord(id, httpAddr string) log.Record {
	v := binary.AppendUvarint(nil, uint64(len(id)))
	v = append(v, id...)
	v = binary.AppendUvarint(v, uint64(len(httpAddr)))
	return log.Record{Kind: KindMember, Value: append(v, httpAddr...)}
}

var errMember = errors.New("replication: malformed member record")

// DecodeMember decodes a KindMember record's value: the node's ID and HTTP
// address. It is how the leader checks member records a follower forwards.
func DecodeMember(v []byte) (id, httpAddr string, err error) { return decodeMember(v) }

func decodeMember(v []byte) (id, addr string, err error) {
	f1, rest, err := field(v)
	if err != nil {
		return "", "", fmt.Errorf("%w: node id: %w", errMember, err)
	}
	f2, rest, err := field(rest)
	if err != nil {
		return "", "", fmt.Errorf("%w: http address: %w", errMember, err)
	}
	if len(rest) != 0 {
		return "", "", fmt.Errorf("%w: %d trailing bytes", errMember, len(rest))
	}
	return string(f1), string(f2), nil
}

// foldRecord applies one record: member records update the address book,
// everything else goes to the machine, whose effect it returns (nil for a
// member record). Called with a.mu held.
func (a *applier) foldRecord(off log.Offset, rec *log.Record) (effect any) {
	if rec.Kind == KindMember {
		if id, addr, err := decodeMember(rec.Value); err == nil {
			if a.members == nil {
				a.members = map[string]string{}
			}
			a.members[id] = addr
			a.savePeersLocked()
		}
		return nil
	}
	return a.m.Apply(off, rec)
}

// memberAddr returns a node's HTTP address as recorded in the log.
func (a *applier) memberAddr(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.members[id]
}

// encodeMembers and decodeMembers carry the address book in snapshots.
func encodeMembers(m map[string]string) []byte {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	b := binary.AppendUvarint(nil, uint64(len(ids)))
	for _, id := range ids {
		rec := memberRecord(id, m[id])
		b = binary.AppendUvarint(b, uint64(len(rec.Value)))
		b = append(b, rec.Value...)
	}
	return b
}

// announce makes sure the log records this node's HTTP address, proposing
// (or forwarding) it until it is there, and that the membership has this
// node's current Raft address (readdress). One goroutine, stopped by Close,
// which also cuts a proposal it is waiting for.
func (n *Node) announce(stop <-chan struct{}) {
	defer close(n.announced)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		httpDone := n.announceHTTP(ctx)
		if n.readdress() && httpDone {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// announceHTTP proposes this node's HTTP address once, unless the log
// already has it; it reports whether it does.
func (n *Node) announceHTTP(ctx context.Context) bool {
	if n.o.HTTPAddr == "" || n.a.memberAddr(n.o.NodeID) == n.o.HTTPAddr {
		return true
	}
	if id, _ := n.Leader(); id != "" {
		pctx, cancel := context.WithTimeout(ctx, n.o.ApplyTimeout)
		wait(pctx, n.Propose(pctx, memberRecord(n.o.NodeID, n.o.HTTPAddr)))
		cancel()
	}
	return false
}

// readdress applies a changed Raft address through the membership: once
// the configuration has it, the data directory records it. The leader
// applies it itself (AddVoter with the same ID and a new address updates the
// server); on a follower the leader does it when the node joins with --join
// (cmd/strata refuses a start that would leave the change to nobody). It
// reports whether nothing is left to do.
func (n *Node) readdress() bool {
	self := n.raftAddr()
	if n.dir.staleAddr(self) == "" {
		return true
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	current := true // a node not in the configuration joins at its new address
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == n.o.NodeID {
			current = string(s.Address) == self
		}
	}
	if current {
		return n.recordIdentity(self)
	}
	if n.IsLeader() {
		if err := n.raft.AddVoter(raft.ServerID(n.o.NodeID), raft.ServerAddress(self), 0, n.o.MembershipTimeout).Error(); err != nil {
			n.logger.Warn().Err(err).Msg("applying the new raft address")
		}
	}
	return false
}

func (n *Node) recordIdentity(addr string) bool {
	if err := n.dir.record(identity{NodeID: n.o.NodeID, RaftAddr: addr}); err != nil {
		n.logger.Error().Err(err).Msg("recording the new raft address")
		return false
	}
	n.logger.Info().Str("raft_addr", addr).Msg("the cluster membership has the new raft address")
	return true
}

// MemberHTTP returns a member's HTTP address as recorded in the log (empty
// if none). Safe for concurrent use.
func (n *Node) MemberHTTP(id string) string { return n.a.memberAddr(id) }
