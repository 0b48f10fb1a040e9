package replication

import (
	"io"
	"sync"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// FSMMachine folds log records into an fsm.State: the StateMachine every
// Strata node runs. An entry's time is its record's Time (the leader stamps
// it; fsm.DecodeRecord reads it from there). Safe for concurrent use: Apply and Restore
// come from raft's FSM goroutine, Perform from the node's dispatcher; View
// and Digest from anywhere.
type FSMMachine struct {
	mu    sync.Mutex
	state *fsm.State
	// OnApply, if set, receives each entry and its effects on the node's
	// dispatcher goroutine, in offset order, after the fold (a View taken
	// there already has the entry). It must not block on the cluster:
	// never propose and wait.
	OnApply func(off log.Offset, e *fsm.Entry, eff fsm.Effects)
	// Undecodable counts records that are not fsm entries (skipped alike on
	// every replica). Written by Apply only.
	Undecodable int
}

// fsmEffect is FSMMachine's effect: the entry and what folding it produced.
type fsmEffect struct {
	Entry   fsm.Entry
	Effects fsm.Effects
}

// NewFSMMachine returns a machine with an empty state.
func NewFSMMachine() *FSMMachine { return &FSMMachine{state: fsm.New()} }

// Apply folds rec; its effect is the entry and its fsm.Effects (nil for an undecodable record).
func (m *FSMMachine) Apply(off log.Offset, rec *log.Record) any {
	e, err := fsm.DecodeRecord(*rec)
	if err != nil {
		m.Undecodable++
		return nil
	}
	m.mu.Lock()
	eff := m.state.Apply(off, &e)
	m.mu.Unlock()
	return &fsmEffect{Entry: e, Effects: eff}
}

// Perform hands an Apply's effect to OnApply.
func (m *FSMMachine) Perform(off log.Offset, effect any) {
	a, ok := effect.(*fsmEffect)
	if ok && m.OnApply != nil {
		m.OnApply(off, &a.Entry, a.Effects)
	}
}

func (m *FSMMachine) Capture() func(io.Writer) error {
	m.mu.Lock() // View clones B-trees, which writes to the source tree
	defer m.mu.Unlock()
	return m.state.View().Snapshot
}

func (m *FSMMachine) Restore(r io.Reader) error {
	s, err := fsm.Restore(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.state = s
	m.mu.Unlock()
	return nil
}

// View returns a consistent read-only copy of the state. It takes the
// write lock: cloning a copy-on-write B-tree marks the source tree too, so
// two Views at once would race.
func (m *FSMMachine) View() *fsm.View {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state.View()
}

// Digest hashes every view: equal on replicas that applied the same log.
func (m *FSMMachine) Digest() [32]byte { return m.View().Digest() }
