package fsm

import (
	"slices"
	"testing"
)

// TestPagedReaders: SessionsAfter and RetainedMatchingAfter resume
// strictly after their key, also when the key is gone or sorts outside the
// filter's prefix, and a walk in pages of one yields every item once.
func TestPagedReaders(t *testing.T) {
	s := New()
	for _, id := range []string{"c", "a", "e"} {
		applyAll(t, s, connectEntry(id, 1, Connect{ProtocolVersion: 5, Node: "n/1"}))
	}
	for _, tp := range []string{"x/1", "a/1", "a/2/z", "a/3", "b/1"} {
		applyAll(t, s, Entry{Kind: KindPublish, Time: 1, ClientID: "a",
			Publish: Publish{Message: Message{Topic: tp, Payload: []byte("p"), Retain: true}}})
	}
	applyAll(t, s, Entry{Kind: KindSubscribe, Time: 1, ClientID: "c", Subscriptions: []Subscription{{Filter: "a/#"}, {Filter: "b"}}})
	v := s.View()
	sessions := func(after string) (ids []string) {
		v.SessionsAfter(after, func(se Session) bool { ids = append(ids, se.ClientID); return true })
		return ids
	}
	retained := func(filter, after string) (ts []string) {
		v.RetainedMatchingAfter(filter, after, 2, func(r Retained) bool { ts = append(ts, r.Topic); return true })
		return ts
	}
	for _, c := range []struct {
		got, want []string
	}{
		{sessions(""), []string{"a", "c", "e"}},
		{sessions("a"), []string{"c", "e"}},
		{sessions("b"), []string{"c", "e"}}, // gone, or never there
		{sessions("e"), nil},
		{retained("a/#", ""), []string{"a/1", "a/2/z", "a/3"}},
		{retained("a/#", "a/1"), []string{"a/2/z", "a/3"}},
		{retained("a/#", "0"), []string{"a/1", "a/2/z", "a/3"}}, // before the prefix
		{retained("a/#", "b"), nil},                             // past it
		{retained("+/1", "a/1"), []string{"b/1", "x/1"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	var walked []string
	for after, more := "", true; more; {
		more = false
		v.SessionsAfter(after, func(se Session) bool {
			walked, after, more = append(walked, se.ClientID), se.ClientID, true
			return false
		})
	}
	if !slices.Equal(walked, []string{"a", "c", "e"}) {
		t.Errorf("walk in pages of one: %v", walked)
	}
	if v.ClientSubscriptionCount("c") != 2 || v.ClientSubscriptionCount("a") != 0 || v.InflightCount("c") != 0 {
		t.Errorf("counts: subs c %d, a %d", v.ClientSubscriptionCount("c"), v.ClientSubscriptionCount("a"))
	}
}
