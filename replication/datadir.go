package replication

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/stratamq/strata/internal/durable"
)

var (
	// ErrDataDirInUse is returned by New when another process (or another
	// Node in this one) holds the data directory's LOCK file.
	ErrDataDirInUse = errors.New("replication: data directory in use")
	// ErrWrongNode is returned by New when the data directory was made by a
	// node with another ID.
	ErrWrongNode = errors.New("replication: data directory belongs to another node")
)

// Names of the files New keeps at the top of a data directory (see
// docs/operations.md, "Node identity").
const (
	lockFile     = "LOCK"
	identityFile = "IDENTITY"
)

// dirLock is an exclusive flock on a data directory's LOCK file, held from
// New to Close. The kernel drops it when the process dies, so a crash
// leaves nothing to clean up.
type dirLock struct{ f *os.File }

// lockDataDir creates dir if needed and takes its lock without waiting: a
// held lock is an error naming the holder's pid, never a wait.
func lockDataDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("replication: data directory: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("replication: lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &markedError{is: ErrDataDirInUse,
				msg: fmt.Sprintf("replication: data directory %s is in use by another strata process (%s)", dir, holder(f))}
		}
		return nil, fmt.Errorf("replication: lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("replication: lock %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// holder describes the process named in a held LOCK file.
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return "pid unknown"
	}
	return "pid " + strconv.Itoa(pid)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// release drops the lock. The file stays: removing it would let a process
// that opened it meanwhile lock an unlinked file.
func (l *dirLock) release() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, l.f.Close())
}

// identity is what a data directory records about the node that made it.
type identity struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
}

// readIdentity returns the recorded identity; ok is false for a directory
// that has none yet (new, or made before identities were recorded).
func readIdentity(dir string) (id identity, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, os.ErrNotExist) {
		return identity{}, false, nil
	}
	if err != nil {
		return identity{}, false, fmt.Errorf("replication: read node identity: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil || id.NodeID == "" {
		if err == nil {
			err = errors.New("no node_id")
		}
		return identity{}, false, fmt.Errorf("replication: %s is damaged (want {\"node_id\": ..., \"raft_addr\": ...}): %w",
			filepath.Join(dir, identityFile), err)
	}
	return id, true, nil
}

// checkNodeID refuses a data directory made by another node: its Raft
// state names that node, and reusing it under a new name would make two
// members of one.
func checkNodeID(dir, nodeID string) (identity, bool, error) {
	id, ok, err := readIdentity(dir)
	if err != nil || !ok || id.NodeID == nodeID {
		return id, ok, err
	}
	return id, ok, &markedError{is: ErrWrongNode, msg: fmt.Sprintf("replication: data directory %s belongs to node %q, not %q: "+
		"start it with --node-id %s, or give node %q an empty data directory (a new node joins with an empty one)",
		dir, id.NodeID, nodeID, id.NodeID, nodeID)}
}

// markedError is a complete message that matches a sentinel with errors.Is
// without repeating the sentinel's text.
type markedError struct {
	msg string
	is  error
}

func (e *markedError) Error() string        { return e.msg }
func (e *markedError) Is(target error) bool { return target == e.is }

// writeIdentity records id crash-safely: a temporary file, fsync, rename,
// fsync of the directory. The file is private (0600).
func writeIdentity(dir string, id identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("replication: record node identity: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dir, identityFile), append(b, '\n'), fileMode); err != nil {
		return fmt.Errorf("replication: record node identity: %w", err)
	}
	return nil
}

// dataDir is a Node's hold on its data directory: the lock, and the
// identity recorded there. Safe for concurrent use.
type dataDir struct {
	path string
	lock *dirLock
	mu   struct {
		sync.Mutex
		recorded identity
		has      bool
	}
}

// openDataDir locks path before anything in it is opened, then refuses it
// if it was made by another node.
func openDataDir(path, nodeID string) (*dataDir, error) {
	lock, err := lockDataDir(path)
	if err != nil {
		return nil, err
	}
	id, ok, err := checkNodeID(path, nodeID)
	if err != nil {
		lock.release()
		return nil, err
	}
	d := &dataDir{path: path, lock: lock}
	d.mu.recorded, d.mu.has = id, ok
	return d, nil
}

func (d *dataDir) close() error { return d.lock.release() }

// record writes id unless the directory already says so.
func (d *dataDir) record(id identity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.has && d.mu.recorded == id {
		return nil
	}
	if err := writeIdentity(d.path, id); err != nil {
		return err
	}
	d.mu.recorded, d.mu.has = id, true
	return nil
}

// staleAddr returns the recorded Raft address when it is not addr.
func (d *dataDir) staleAddr(addr string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.mu.has || d.mu.recorded.RaftAddr == addr {
		return ""
	}
	return d.mu.recorded.RaftAddr
}

// adoptIdentity records the identity of a directory that has none yet, and
// logs a changed Raft address, which announce then applies through the
// membership (see readdress).
func (n *Node) adoptIdentity() error {
	self := identity{NodeID: n.o.NodeID, RaftAddr: n.raftAddr()}
	old := n.dir.staleAddr(self.RaftAddr)
	if old == "" {
		return n.dir.record(self)
	}
	n.logger.Warn().Str("was", old).Str("now", self.RaftAddr).
		Msg("raft address changed since this data directory was last used: applying it through the cluster membership")
	return nil
}

// raftAddr is the Raft address this node advertises.
func (n *Node) raftAddr() string { return string(n.o.Transport.LocalAddr()) }

// StaleRaftAddr returns the Raft address this node's data directory was
// last used with while the cluster may still know the node by it (its
// --raft-addr changed and the membership has not yet applied the new one);
// empty otherwise. Safe for concurrent use.
func (n *Node) StaleRaftAddr() string { return n.dir.staleAddr(n.raftAddr()) }
