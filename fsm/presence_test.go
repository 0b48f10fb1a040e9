package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stratamq/strata/topic"
)

// presenceBrute is View.Presence's definition: every subscription, in
// (client id, filter) order, whose filter (a shared one's inner filter)
// overlaps filter.
func presenceBrute(v *View, filter string) []string {
	var out []string
	v.subs.Ascend(func(it subItem) bool {
		inner := it.Filter
		if _, in, ok, _ := topic.ParseShare(inner); ok {
			inner = in
		}
		if topic.Overlap(filter, inner) {
			out = append(out, it.ClientID+" "+it.Filter)
		}
		return true
	})
	return out
}

// FuzzPresenceIndex: after random subscribes, unsubscribes and session
// ends (direct and shared filters over a small alphabet), Presence through
// the (filter, client id) index lists exactly what a walk of every
// subscription finds, in the same order, for random query filters, and
// so does the state restored from a snapshot of it.
func FuzzPresenceIndex(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3, 42} {
		f.Add(seed)
	}
	levels := []string{"a", "b", "+", "#", "$s"}
	randFilter := func(r *rand.Rand) string {
		n := 1 + r.IntN(3)
		var f string
		for i := range n {
			l := levels[r.IntN(len(levels))]
			if l == "#" && i < n-1 {
				l = "+"
			}
			if i > 0 {
				f += "/"
			}
			f += l
		}
		return f
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed^0x9e37))
		s := New()
		apply := func(e Entry) {
			s.Apply(s.NextOffset(), &e)
		}
		for i := range 200 {
			c := fmt.Sprintf("c%d", r.IntN(12))
			switch op := r.IntN(10); {
			case op < 5:
				if _, ok := s.session(c); !ok || r.IntN(4) == 0 {
					apply(connectEntry(c, int64(i), Connect{ProtocolVersion: 5, Node: "n1/x", ExpirySeconds: 600, CleanStart: r.IntN(3) == 0}))
				}
				flt := randFilter(r)
				if r.IntN(4) == 0 {
					flt = "$share/g" + fmt.Sprint(r.IntN(2)) + "/" + flt
				}
				apply(Entry{Kind: KindSubscribe, ClientID: c, Subscriptions: []Subscription{{Filter: flt, Options: SubOptions{QoS: byte(r.IntN(3))}}}})
			case op < 8:
				var fs []string
				for _, sub := range s.View().Subscriptions(c) {
					if r.IntN(2) == 0 {
						fs = append(fs, sub.Filter)
					}
				}
				apply(Entry{Kind: KindUnsubscribe, ClientID: c, Filters: fs})
			default:
				if se, ok := s.session(c); ok && se.Connected {
					apply(Entry{Kind: KindSessionDisconnect, ClientID: c, Disconnect: Disconnect{Since: se.ConnectOffset, HasExpiry: true, ExpirySeconds: uint32(r.IntN(2))}})
				}
			}
		}
		v := s.View()
		var snap bytes.Buffer
		if err := v.Snapshot(&snap); err != nil {
			t.Fatal(err)
		}
		restored, err := Restore(&snap)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			q := randFilter(r)
			want := presenceBrute(v, q)
			for _, v := range []*View{v, restored.View()} { // the index is rebuilt on restore
				var got []string
				v.Presence(q, func(se Session, sub Subscription) bool {
					got = append(got, se.ClientID+" "+sub.Filter)
					return true
				})
				if !slices.Equal(got, want) {
					t.Fatalf("Presence(%q):\n got %q\nwant %q", q, got, want)
				}
			}
		}
	})
}
