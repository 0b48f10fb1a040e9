package replication

import (
	"math/rand/v2"
	"testing"

	"github.com/stratamq/strata/log"
)

// TestWaitHeapOrder: the typed heap pops waiters by end, smallest first,
// whatever the order of pushes, interleaved with pops.
func TestWaitHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h waitHeap
	last := log.Offset(0)
	for round := range 2000 {
		h.push(waiter{end: last + log.Offset(r.IntN(50))})
		if round%3 == 2 {
			w := h.pop()
			if w.end < last {
				t.Fatalf("popped %d after %d", w.end, last)
			}
			last = w.end
		}
	}
	for len(h) > 0 {
		w := h.pop()
		if w.end < last {
			t.Fatalf("popped %d after %d", w.end, last)
		}
		last = w.end
	}
}
