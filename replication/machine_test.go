package replication

import (
	"sync"
	"testing"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
)

// TestMachineConcurrentViews: Views taken from several goroutines while
// entries apply (cloning a B-tree writes to its source: run with -race).
func TestMachineConcurrentViews(t *testing.T) {
	m := NewFSMMachine()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := m.View()
				v.SessionCount()
				v.RetainedCount()
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		e := fsm.Entry{Kind: fsm.KindPublish, Time: int64(i + 1), ClientID: "c",
			Publish: fsm.Publish{Message: fsm.Message{Topic: "t", Payload: []byte("x"), Retain: true}}}
		rec, err := e.Record()
		if err != nil {
			t.Fatal(err)
		}
		rec.Time = e.Time
		m.Apply(log.Offset(i), &rec)
	}
	close(stop)
	wg.Wait()
	if got := m.View().NextOffset(); got != 2000 {
		t.Fatalf("next offset %d, want 2000", got)
	}
}
