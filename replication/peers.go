package replication

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"

	"github.com/hashicorp/raft"

	"github.com/stratamq/strata/internal/durable"
)

// The member book (node ID -> HTTP address) is folded from the log, but a
// node that must repair a damaged segment before it can fold may need its
// peers' addresses first. So the applier also keeps the book in a small
// file beside the log, rewritten (atomically) whenever it changes, and
// loads it at start; the fold then brings it up to date.
const peersFile = "peers.json"

// loadPeers reads the member book saved by savePeersLocked; a missing or
// unreadable file gives an empty book (the fold rebuilds it).
func loadPeers(dataDir string) map[string]string {
	b, err := os.ReadFile(filepath.Join(dataDir, peersFile))
	if err != nil {
		return nil
	}
	var m map[string]string
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// savePeersLocked writes the member book if it changed since last saved.
// Failures are logged: the file only speeds up repairs.
func (a *applier) savePeersLocked() {
	if a.dataDir == "" || reflect.DeepEqual(a.members, a.savedPeers) {
		return
	}
	b, err := json.Marshal(a.members)
	if err == nil {
		err = durable.WriteFile(filepath.Join(a.dataDir, peersFile), b, fileMode)
	}
	if err != nil {
		a.logger.Warn().Err(err).Msg("saving the member book")
		return
	}
	a.savedPeers = make(map[string]string, len(a.members))
	for k, v := range a.members {
		a.savedPeers[k] = v
	}
}

// learnMembersLocked takes the member records of an entry this node cannot
// apply yet into the member book, so the recovery loop knows whom to fetch
// segments from. They are applied again, to the same effect, once it can.
func (a *applier) learnMembersLocked(l *raft.Log) {
	recs, err := decodeBatch(l.Data)
	if err != nil {
		return
	}
	for i := range recs {
		if recs[i].Kind == KindMember {
			a.foldRecord(0, &recs[i]) // member records never reach the machine
		}
	}
}
