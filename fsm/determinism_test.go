package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/google/btree"

	"github.com/stratamq/strata/log"
)

// gen produces a random but valid entry stream that exercises every kind,
// the races between them (stale disconnects, early expiries, duplicate
// wills) and due deadlines.
type gen struct {
	rng *rand.Rand
	now int64
}

var (
	genClients = []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	genTopics  = []string{"a/b", "a/c", "b/x", "$SYS/y", "a"}
	genFilters = []string{"a/+", "a/#", "#", "b/x", "$share/g/a/+", "$share/h/#", "$SYS/#"}
)

func newGen(rng *rand.Rand) *gen { return &gen{rng: rng, now: harnessEpoch} }

func (g *gen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *gen) message() Message {
	m := Message{Topic: g.pick(genTopics), QoS: byte(g.rng.IntN(3)), Retain: g.rng.IntN(4) == 0}
	if g.rng.IntN(5) != 0 {
		m.Payload = []byte(fmt.Sprint(g.rng.IntN(100)))
	}
	if g.rng.IntN(4) == 0 {
		m.Props.HasExpiry, m.Props.MessageExpirySeconds = true, uint32(g.rng.IntN(20))
	}
	return m
}

func (g *gen) next(s *State) Entry {
	g.now += int64(g.rng.IntN(3000)) * 1e6
	if due := s.Due(g.now); len(due) > 0 && g.rng.IntN(2) == 0 {
		return due[g.rng.IntN(len(due))]
	}
	e := Entry{Time: g.now, ClientID: g.pick(genClients)}
	switch n := g.rng.IntN(22); {
	case n < 6:
		e.Kind, e.Publish = KindPublish, Publish{Message: g.message()}
		if e.Publish.QoS > 0 {
			e.PacketID = uint16(1 + g.rng.IntN(4))
		}
	case n < 9:
		e.Kind = KindSubscribe
		e.Subscriptions = []Subscription{{Filter: g.pick(genFilters), Options: SubOptions{
			QoS: byte(g.rng.IntN(3)), NoLocal: g.rng.IntN(3) == 0, RetainAsPublished: g.rng.IntN(2) == 0,
			RetainHandling: byte(g.rng.IntN(3)), ID: uint32(g.rng.IntN(4)), OffsetProperty: g.rng.IntN(2) == 0}}}
	case n < 10:
		e.Kind, e.Filters = KindUnsubscribe, []string{g.pick(genFilters)}
	case n < 13:
		e.Kind, e.Connect = KindSessionConnect, g.connect()
	case n < 15:
		e.Kind, e.Disconnect = KindSessionDisconnect, g.disconnect(s, e.ClientID)
	case n < 16:
		e.Kind = KindSessionExpire
	case n < 19:
		e.Kind, e.Acks = KindAck, g.acks(s, e.ClientID)
	case n < 20:
		e.Kind, e.PacketID = KindQoS2Release, uint16(1+g.rng.IntN(4))
	default:
		e = g.consumer(n == 21)
	}
	return e
}

// consumer is a commit (possibly a reset, possibly behind the cursor) or
// a delete of one of three consumers.
func (g *gen) consumer(del bool) Entry {
	e := Entry{Kind: KindConsumerCommit, Time: g.now, Consumer: ConsumerCommit{Name: g.pick([]string{"k0", "k1", "k2"})}}
	if del {
		e.Kind = KindConsumerDelete
		return e
	}
	e.Consumer.Filter = g.pick([]string{"a/#", "b/x"})
	e.Consumer.Next, e.Consumer.Reset = log.Offset(g.rng.IntN(300)), g.rng.IntN(4) == 0
	return e
}

func (g *gen) connect() Connect {
	c := Connect{CleanStart: g.rng.IntN(3) == 0, ExpirySeconds: []uint32{0, 5, 60, NeverExpire}[g.rng.IntN(4)],
		ProtocolVersion: 5, Node: g.pick([]string{"n1", "n2"})}
	if g.rng.IntN(2) == 0 {
		c.Will = &Will{Message: g.message(), DelaySeconds: uint32(g.rng.IntN(10))}
	}
	return c
}

func (g *gen) disconnect(s *State, client string) Disconnect {
	d := Disconnect{Reason: DisconnectReason(g.rng.IntN(4))}
	if sess, ok := s.Session(client); ok && g.rng.IntN(5) != 0 {
		d.Since = sess.ConnectOffset
	}
	if g.rng.IntN(4) == 0 {
		d.HasExpiry, d.ExpirySeconds = true, uint32(g.rng.IntN(30))
	}
	return d
}

func (g *gen) acks(s *State, client string) []Ack {
	var acks []Ack
	in := s.Inflight(client)
	for range 1 + g.rng.IntN(3) {
		a := Ack{Offset: log.Offset(g.rng.Uint64N(uint64(s.NextOffset()) + 1)), Kind: AckKind(g.rng.IntN(3))}
		if len(in) > 0 && g.rng.IntN(2) == 0 {
			a.Offset = in[g.rng.IntN(len(in))].Offset
		}
		acks = append(acks, a)
	}
	return acks
}

// runRandom applies n random entries to a new State and returns it with
// the entries (round-tripped through the codec).
func runRandom(seed uint64, n int) (*State, []Entry) {
	s := New()
	g := newGen(rand.New(rand.NewPCG(seed, 0)))
	var entries []Entry
	for i := range n {
		e := g.next(s)
		rec, err := e.Record()
		if err != nil {
			panic(fmt.Sprintf("seed %d entry %d: %v", seed, i, err))
		}
		dec, err := DecodeRecord(rec)
		if err != nil {
			panic(fmt.Sprintf("seed %d entry %d: %v", seed, i, err))
		}
		entries = append(entries, dec)
		s.Apply(log.Offset(i), &dec)
	}
	return s, entries
}

// TestDeterminism: the same stream gives the same digest and effects on two
// States, and on a State restored from a mid-stream snapshot plus the tail.
// A View taken mid-stream is unaffected by later entries.
func TestDeterminism(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 800
	}
	for seed := uint64(1); seed <= 8; seed++ {
		_, entries := runRandom(seed, n)
		a, b := New(), New()
		var snap bytes.Buffer
		var view *View
		var viewDigest [32]byte
		var restored *State
		for i := range entries {
			off := log.Offset(i)
			fa, fb := a.Apply(off, &entries[i]), b.Apply(off, &entries[i])
			if !reflect.DeepEqual(fa, fb) {
				t.Fatalf("seed %d entry %d: effects differ", seed, i)
			}
			if restored != nil {
				if fr := restored.Apply(off, &entries[i]); !reflect.DeepEqual(fa, fr) {
					t.Fatalf("seed %d entry %d: restored effects differ:\n%+v\n%+v", seed, i, fa, fr)
				}
			}
			if i == n/2 {
				view, viewDigest = a.View(), a.Digest()
				if err := view.Snapshot(&snap); err != nil {
					t.Fatal(err)
				}
				var err error
				if restored, err = Restore(&snap); err != nil {
					t.Fatalf("seed %d: restore: %v", seed, err)
				}
			}
		}
		if a.Digest() != b.Digest() || a.Digest() != restored.Digest() {
			t.Fatalf("seed %d: digests differ", seed)
		}
		if view.Digest() != viewDigest {
			t.Fatalf("seed %d: a View changed after later entries", seed)
		}
		if fx := restored.Apply(log.Offset(n/2), &entries[n/2]); fx.Err != ErrApplied {
			t.Fatalf("seed %d: re-applying an old offset: %v", seed, fx.Err)
		}
		checkInvariants(t, seed, a)
	}
}

// checkInvariants compares the incrementally kept indexes with a rebuild.
func checkInvariants(t *testing.T, seed uint64, s *State) {
	t.Helper()
	connected := 0
	s.Sessions(func(x Session) bool {
		if x.Connected {
			connected++
		}
		return true
	})
	if connected != s.Connected() {
		t.Fatalf("seed %d: connected %d, counted %d", seed, s.Connected(), connected)
	}
	var snap bytes.Buffer
	if err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&snap)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if !reflect.DeepEqual(items(r.deadlines), items(s.deadlines)) ||
		!reflect.DeepEqual(items(r.filters), items(s.filters)) ||
		r.direct.Len() != s.direct.Len() || r.shared.Len() != s.shared.Len() {
		t.Fatalf("seed %d: indexes differ from a rebuild", seed)
	}
	s.groups.Ascend(func(g *group) bool {
		if rg, ok := r.groups.Get(g); !ok || !reflect.DeepEqual(rg, g) {
			t.Fatalf("seed %d: group %s/%s differs from a rebuild", seed, g.Name, g.Filter)
		}
		return true
	})
}

func items[T any](t interface{ Ascend(btree.ItemIteratorG[T]) }) []T {
	var out []T
	t.Ascend(func(x T) bool { out = append(out, x); return true })
	return out
}
