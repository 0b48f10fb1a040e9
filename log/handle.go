package log

import (
	"sync/atomic"

	"github.com/stratamq/strata/segment"
)

// handle is a reference-counted segment reader. The Log holds one reference
// while the reader is current; each iterator holds one while it reads. The
// last release runs onClose (closing the file), so a segment deleted by
// retention or replaced by its clustered rewrite stays readable until its
// last reader is done.
type handle struct {
	r       *segment.Reader
	refs    atomic.Int32
	onClose atomic.Pointer[func()]
}

func newHandle(r *segment.Reader, onClose func()) *handle {
	h := &handle{r: r}
	h.setOnClose(onClose)
	h.refs.Store(1)
	return h
}

func (h *handle) setOnClose(f func()) {
	if f != nil {
		h.onClose.Store(&f)
	}
}

// acquire takes a reference unless the handle is already released.
func (h *handle) acquire() bool {
	for {
		n := h.refs.Load()
		if n <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (h *handle) release() {
	if h.refs.Add(-1) == 0 {
		if f := h.onClose.Load(); f != nil {
			(*f)()
		}
	}
}

// seg is one segment of the log. Its current handle changes when the active
// segment is sealed and when a sealed one is clustered.
type seg struct {
	base Offset
	path string
	h    atomic.Pointer[handle]
}

// acquire returns the current handle with a reference taken, or nil if the
// segment was deleted.
func (s *seg) acquire() *handle {
	for {
		h := s.h.Load()
		if h.acquire() {
			return h
		}
		if s.h.Load() == h {
			return nil // released and not replaced: deleted by retention
		}
	}
}

// replace installs h and drops the log's reference to the previous handle.
func (s *seg) replace(h *handle) {
	if old := s.h.Swap(h); old != nil {
		old.release()
	}
}
