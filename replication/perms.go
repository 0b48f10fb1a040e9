package replication

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	walsegment "github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
	"github.com/rs/zerolog"
)

// Modes of everything a node writes under its data directory: the log and
// Raft's files hold every message, IDENTITY and peers.json the membership,
// so only the service user may read them (docs/security.md).
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// walMetaName is raft-wal's metadata file (bbolt, which raft-wal opens
// 0644).
const walMetaName = "wal-meta.db"

// openWAL is raft-wal with private files: raft-wal creates its segment
// files and its metadata database 0644, and offers no option for the mode.
func openWAL(walDir string, logger hclog.Logger) (*raftwal.WAL, error) {
	if err := os.MkdirAll(walDir, dirMode); err != nil {
		return nil, err
	}
	filer := walsegment.NewFiler(walDir, privateVFS{walfs.New()})
	w, err := raftwal.Open(walDir, raftwal.WithLogger(logger), raftwal.WithSegmentFiler(filer))
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(walDir, walMetaName), fileMode); err != nil {
		w.Close()
		return nil, fmt.Errorf("private %s: %w", walMetaName, err)
	}
	return w, nil
}

// privateVFS is raft-wal's file system with segment files made 0600 as
// soon as they exist (their directory is 0700 meanwhile).
type privateVFS struct{ *walfs.FS }

func (v privateVFS) Create(dir, name string, size uint64) (waltypes.WritableFile, error) {
	f, err := v.FS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(dir, name), fileMode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// privateSnapshots is raft's FileSnapshotStore, which makes directories
// 0755 and files 0666 (less the umask), with each new snapshot's directory
// and files made private as soon as Create made them: its later writes
// (state, meta rewritten in place, rename) keep those modes.
type privateSnapshots struct {
	*raft.FileSnapshotStore
	base string // <data dir>/snapshots/snapshots, where raft keeps them
}

// openSnapshotStore opens <dataDir>/snapshots, creating its directories
// 0700 first (raft would make them 0755).
func openSnapshotStore(dataDir string, logger zerolog.Logger) (*privateSnapshots, error) {
	root := filepath.Join(dataDir, "snapshots")
	base := filepath.Join(root, "snapshots")
	if err := os.MkdirAll(base, dirMode); err != nil {
		return nil, err
	}
	s, err := raft.NewFileSnapshotStoreWithLogger(root, 2, raftLogger(logger, hclog.Warn))
	if err != nil {
		return nil, err
	}
	return &privateSnapshots{FileSnapshotStore: s, base: base}, nil
}

func (s *privateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, c raft.Configuration,
	ci uint64, t raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, c, ci, t)
	if err != nil {
		return nil, err
	}
	// raft names the directory of a snapshot being written <ID>.tmp.
	if err := privateTree(filepath.Join(s.base, sink.ID()+".tmp")); err != nil {
		sink.Cancel()
		return nil, fmt.Errorf("replication: snapshot %s: %w", sink.ID(), err)
	}
	return sink, nil
}

// privateTree sets dir and everything in it to dirMode and fileMode.
func privateTree(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(path, dirMode)
		case d.Type().IsRegular():
			return os.Chmod(path, fileMode)
		}
		return nil
	})
}

// looseModes walks a data directory and returns how many directories and
// regular files in it others than the owner may use, and the first few.
func looseModes(dir string) (n int, some []string, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o077 != 0 {
			n++
			if len(some) < 3 {
				some = append(some, fmt.Sprintf("%s (%v)", path, info.Mode().Perm()))
			}
		}
		return nil
	})
	return n, some, err
}

// warnLooseModes logs once, at start, when the data directory holds files
// or directories others may read. It changes nothing: a mode the operator
// set (a backup agent's group, say) is theirs to change.
func (n *Node) warnLooseModes() {
	count, some, err := looseModes(n.o.DataDir)
	if err != nil {
		n.logger.Warn().Err(err).Msg("could not check the data directory's file modes")
		return
	}
	if count > 0 {
		n.logger.Warn().Int("paths", count).Strs("for_example", some).Str("fix", "chmod -R go-rwx "+n.o.DataDir).
			Msg("the data directory holds files or directories that other users may read or enter; strata writes new ones 0600/0700")
	}
}
