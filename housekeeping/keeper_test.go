package housekeeping_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/housekeeping"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/replication"
)

// fold is a one-node cluster in memory: proposals fold straight into an
// fsm.State with the fake clock's time.
type fold struct {
	mu          sync.Mutex
	state       *fsm.State
	next        log.Offset
	now         time.Time
	leader      bool
	members     []string
	unreachable []string
	proposed    []fsm.Entry
}

func newFold() *fold {
	return &fold{state: fsm.New(), now: time.Unix(1_700_000_000, 0), leader: true, members: []string{"n1", "n2"}}
}

func (f *fold) Propose(_ context.Context, recs ...log.Record) *replication.Future {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.next
	for _, rec := range recs {
		rec.Time = f.now.UnixNano()
		e, err := fsm.DecodeRecord(rec)
		if err != nil {
			return replication.Resolved(0, err)
		}
		f.proposed = append(f.proposed, e)
		f.state.Apply(f.next, &e)
		f.next++
	}
	return replication.Resolved(first, nil)
}

func (f *fold) apply(t *testing.T, e fsm.Entry) {
	t.Helper()
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Propose(context.Background(), rec).Wait(); err != nil {
		t.Fatal(err)
	}
}

func (f *fold) IsLeader() bool    { f.mu.Lock(); defer f.mu.Unlock(); return f.leader }
func (f *fold) Members() []string { f.mu.Lock(); defer f.mu.Unlock(); return f.members }
func (f *fold) Unreachable(time.Duration) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unreachable
}
func (f *fold) View() *fsm.View         { f.mu.Lock(); defer f.mu.Unlock(); return f.state.View() }
func (f *fold) Now() time.Time          { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fold) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }
func (f *fold) took() []fsm.Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fsm.Entry(nil), f.proposed...)
}
func (f *fold) count(k fsm.Kind) (n int) {
	for _, e := range f.took() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func keeper(t *testing.T, f *fold) *housekeeping.Keeper {
	t.Helper()
	o := housekeeping.DefaultOptions()
	o.NodeID, o.Cluster, o.Views, o.Clock = "n1", f, f, f
	o.SweepInterval, o.NodeLostAfter = time.Second, time.Second
	k, err := housekeeping.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func connect(node, client string, will *fsm.Will) fsm.Entry {
	return fsm.Entry{Kind: fsm.KindSessionConnect, ClientID: client,
		Connect: fsm.Connect{ExpirySeconds: 60, ProtocolVersion: 5, Node: node, Will: will}}
}

// A delayed will is proposed once its delay elapsed on the clock, not
// before, and only by the leader.
func TestDelayedWillFallsDue(t *testing.T) {
	f := newFold()
	k := keeper(t, f)
	will := &fsm.Will{Message: fsm.Message{Topic: "wills/a", Payload: []byte("gone")}, DelaySeconds: 30}
	f.apply(t, connect("n1/x-1", "a", will))
	f.apply(t, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "a", Disconnect: fsm.Disconnect{Reason: fsm.ReasonWithWill}})
	f.advance(29 * time.Second)
	k.Round()
	if n := f.count(fsm.KindPublish); n != 0 {
		t.Fatalf("%d wills proposed before the delay elapsed", n)
	}
	f.mu.Lock()
	f.leader = false
	f.mu.Unlock()
	f.advance(2 * time.Second)
	k.Round()
	if n := f.count(fsm.KindPublish); n != 0 {
		t.Fatalf("a follower proposed %d wills", n)
	}
	f.mu.Lock()
	f.leader = true
	f.mu.Unlock()
	k.Round()
	if n := f.count(fsm.KindPublish); n != 1 {
		t.Fatalf("%d will publishes proposed after the delay, want 1", n)
	}
	if _, ok := f.View().PendingWill("a"); ok {
		t.Fatal("the will is still pending after its publish applied")
	}
	k.Round() // nothing due any more
	if n := f.count(fsm.KindPublish); n != 1 {
		t.Fatalf("%d will publishes after a second round, want 1", n)
	}
}

// Sessions held by a node that is unreachable or no longer a member end
// (their wills follow); this node's own sessions never do.
func TestLostNodeSessionsEnd(t *testing.T) {
	f := newFold()
	k := keeper(t, f)
	f.apply(t, connect("n1/x-1", "mine", nil))
	f.apply(t, connect("n2/y-1", "theirs", nil))
	f.apply(t, connect("n3/z-1", "removed", nil))
	f.mu.Lock()
	f.unreachable = []string{"n2"}
	f.mu.Unlock()
	k.Round()
	v := f.View()
	for client, want := range map[string]bool{"mine": true, "theirs": false, "removed": false} {
		s, ok := v.Session(client)
		if !ok || s.Connected != want {
			t.Errorf("session %s: present %v connected %v, want connected %v", client, ok, s.Connected, want)
		}
	}
}

// Nudge runs a round at once, from any goroutine, without blocking.
func TestNudgeRunsARound(t *testing.T) {
	f := newFold()
	o := housekeeping.DefaultOptions()
	o.NodeID, o.Cluster, o.Views, o.Clock, o.Interval = "n1", f, f, f, time.Hour
	k, err := housekeeping.New(o)
	if err != nil {
		t.Fatal(err)
	}
	will := &fsm.Will{Message: fsm.Message{Topic: "wills/b", Payload: []byte("now")}}
	f.apply(t, connect("n1/x-1", "b", will))
	f.apply(t, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "b", Disconnect: fsm.Disconnect{Reason: fsm.ReasonWithWill}})
	k.Start()
	defer k.Close()
	for range 3 {
		k.Nudge() // never blocks, even while a round runs
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.count(fsm.KindPublish) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no will proposed after a nudge")
		}
		time.Sleep(time.Millisecond) // poll under a deadline
	}
}

// A disconnected session is expired once its expiry elapsed on the clock.
func TestSessionExpires(t *testing.T) {
	f := newFold()
	k := keeper(t, f)
	f.apply(t, connect("n1/x-1", "c", nil)) // expiry 60 s
	f.apply(t, fsm.Entry{Kind: fsm.KindSessionDisconnect, ClientID: "c", Disconnect: fsm.Disconnect{Reason: fsm.ReasonNormal}})
	f.advance(59 * time.Second)
	k.Round()
	if _, ok := f.View().Session("c"); !ok || f.count(fsm.KindSessionExpire) != 0 {
		t.Fatal("the session expired early")
	}
	f.advance(2 * time.Second)
	k.Round()
	if _, ok := f.View().Session("c"); ok || f.count(fsm.KindSessionExpire) != 1 {
		t.Fatalf("the session is still there after its expiry (%d expire entries)", f.count(fsm.KindSessionExpire))
	}
}
