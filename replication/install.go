package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/segment"
)

// SegmentFetcher copies the segment file name, as peerHTTP holds it now,
// into w. cmd/strata supplies one over the HTTP API.
type SegmentFetcher func(ctx context.Context, peerHTTP, name string, w io.Writer) error

// errNoCopy reports that no peer served a verified copy of a segment.
var errNoCopy = errors.New("replication: no peer has a verified copy")

// installLocked makes the local log hold a snapshot's segments. Files
// already here with the same records are kept; the others are fetched
// from peers (the leader first) into temporary files and verified before
// anything local changes. Only then is the log closed, the new files
// renamed into place, the files the manifest does not name removed, and
// the log reopened. A failed fetch leaves the local log as it was.
func (a *applier) installLocked(manifest []manifestEntry) error {
	local := map[string]log.SegmentInfo{}
	if infos, err := a.log.Manifest(); err == nil {
		for _, s := range infos {
			local[filepath.Base(s.Path)] = s
		}
	}
	fetched := map[string]string{} // name -> verified temporary file
	defer func() {
		for _, tmp := range fetched {
			a.logOpts.FS.Remove(tmp)
		}
	}()
	for _, m := range manifest {
		if s, ok := local[m.Name]; ok && holds(s, m) {
			continue
		}
		tmp, err := a.fetchLocked(m)
		if err != nil {
			return err
		}
		fetched[m.Name] = tmp
	}
	return a.swapInLocked(manifest, fetched)
}

// holds reports whether a local segment has every record m names.
func holds(s log.SegmentInfo, m manifestEntry) bool {
	if s.Base != m.Base {
		return false
	}
	if !m.Sealed {
		return s.NextOffset >= m.Next
	}
	return s.NextOffset == m.Next && (m.LastTag == 0 || s.LastTag == m.LastTag) // 0: unknown
}

// fetchLocked gets a verified copy of m from the first peer that has one,
// into <name>.fetch.tmp.
func (a *applier) fetchLocked(m manifestEntry) (string, error) {
	tmp := filepath.Join(a.logDir, m.Name+".fetch.tmp")
	return tmp, a.fetcher().fetchAny(a.peersLocked(), m.Name, tmp, func(path string) error {
		_, err := verifyCopy(a.logOpts, path, m)
		return err
	})
}

func (a *applier) fetcher() segmentFetch {
	return segmentFetch{fs: a.logOpts.FS, fetch: a.fetch, timeout: a.fetchTimeout, logger: a.logger}
}

// segmentFetch copies segments from peers: snapshot installs, repairs of
// sealed segments and of the active one all go through fetchAny.
type segmentFetch struct {
	fs      segment.FS
	fetch   SegmentFetcher
	timeout time.Duration
	logger  zerolog.Logger
}

// fetchAny copies segment name from the first of peers (HTTP addresses)
// whose copy verify accepts, into tmp; on failure tmp is removed and the
// error names every peer's reason.
func (f segmentFetch) fetchAny(peers []string, name, tmp string, verify func(path string) error) error {
	if f.fetch == nil {
		return fmt.Errorf("%w of %s: no segment fetcher configured", errNoCopy, name)
	}
	var errs []error
	for _, peer := range peers {
		err := f.toFile(peer, name, tmp)
		if err == nil {
			err = verify(tmp)
		}
		if err == nil {
			f.logger.Info().Str("segment", name).Str("peer", peer).Msg("fetched a verified copy of a segment from a peer")
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", peer, err))
	}
	f.fs.Remove(tmp)
	if len(errs) == 0 {
		return fmt.Errorf("%w of %s: no peer known", errNoCopy, name)
	}
	return fmt.Errorf("%w of %s: %w", errNoCopy, name, errors.Join(errs...))
}

// toFile copies segment name from peer into the file tmp (created or
// truncated) and makes it durable; the caller verifies it.
func (f segmentFetch) toFile(peer, name, tmp string) error {
	file, err := f.fs.Create(tmp)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	err = f.fetch(ctx, peer, name, file)
	cancel()
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// verifyCopy reads a copied file whole and checks it holds m's records.
func verifyCopy(o log.Options, path string, m manifestEntry) (segment.Info, error) {
	info, err := segment.Verify(o.FS, path, o.Segment)
	if err != nil {
		return info, err
	}
	got := log.SegmentInfo{Base: info.Base, NextOffset: info.NextOffset, LastTag: info.LastTag}
	if !holds(got, m) {
		return info, fmt.Errorf("copy of %s holds [%d, %d) tag %d; the snapshot names [%d, %d) tag %d",
			m.Name, info.Base, info.NextOffset, info.LastTag, m.Base, m.Next, m.LastTag)
	}
	return info, nil
}

// peersLocked lists the HTTP addresses to fetch from: the leader first.
func (a *applier) peersLocked() []string {
	lead := ""
	if a.leaderID != nil {
		lead = a.leaderID()
	}
	var out []string
	if addr := a.members[lead]; addr != "" && lead != a.self {
		out = append(out, addr)
	}
	for id, addr := range a.members {
		if id != lead && id != a.self && addr != "" {
			out = append(out, addr)
		}
	}
	return out
}

// swapInLocked closes the log, renames the fetched files into place,
// removes segments the manifest does not name, and reopens the log.
func (a *applier) swapInLocked(manifest []manifestEntry, fetched map[string]string) error {
	fsys, dir := a.logOpts.FS, a.logDir
	if err := a.log.Close(); err != nil {
		a.logger.Warn().Err(err).Msg("closing the log before installing a snapshot's segments")
	}
	named := map[string]bool{}
	for _, m := range manifest {
		named[m.Name] = true
		if tmp, ok := fetched[m.Name]; ok {
			final := filepath.Join(dir, m.Name)
			fsys.Remove(segment.IndexName(final)) // describes the old file, if any
			if err := fsys.Rename(tmp, final); err != nil {
				return a.reopenAfter(fmt.Errorf("replication: install %s: %w", m.Name, err))
			}
			delete(fetched, m.Name)
		}
	}
	if err := removeUnnamed(fsys, dir, named); err != nil {
		return a.reopenAfter(err)
	}
	return a.reopenAfter(fsys.SyncDir(dir))
}

// reopenAfter reopens the log whatever happened before, returning the
// first error.
func (a *applier) reopenAfter(err error) error {
	l, oerr := log.Open(a.logDir, a.logOpts)
	if oerr != nil {
		return errors.Join(err, fmt.Errorf("replication: reopen the log: %w", oerr))
	}
	a.log = l
	a.logger.Info().Uint64("first_offset", uint64(l.FirstOffset())).Uint64("next_offset", uint64(l.NextOffset())).
		Msg("log installed from snapshot")
	return err
}

// removeUnnamed deletes the segment files (and their indexes) that a
// manifest does not name.
func removeUnnamed(fsys segment.FS, dir string, named map[string]bool) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("replication: list %s: %w", dir, err)
	}
	for _, e := range entries {
		n := e.Name()
		seg := n
		if stem, ok := strings.CutSuffix(n, ".idx"); ok {
			seg = stem + ".seg"
		}
		if _, ok := segment.ParseFileName(seg); !ok || named[seg] {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("replication: remove %s: %w", n, err)
		}
	}
	return nil
}

// WriteSegment writes the segment file name as this node holds it now to
// w: a sealed segment whole, the active one up to its last complete frame.
// It is the serving side of SegmentFetcher.
func (n *Node) WriteSegment(name string, w io.Writer) error {
	if _, ok := segment.ParseFileName(name); !ok {
		return fmt.Errorf("replication: %q is not a segment name", name)
	}
	l := n.Log()
	for _, s := range l.Segments() {
		if filepath.Base(s.Path) != name {
			continue
		}
		f, err := l.FS().Open(s.Path)
		if err != nil {
			return fmt.Errorf("replication: open %s: %w", name, err)
		}
		defer f.Close()
		size := s.Size
		if s.Sealed { // may have been clustered since it was listed: take it whole
			if size, err = f.Size(); err != nil {
				return err
			}
		}
		_, err = io.Copy(w, io.NewSectionReader(f, 0, size))
		return err
	}
	return fmt.Errorf("replication: segment %s: %w", name, ErrNoSegment)
}

// ErrNoSegment reports that this node does not hold a requested segment.
var ErrNoSegment = errors.New("not held by this node")
