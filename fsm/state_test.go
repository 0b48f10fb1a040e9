package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"sync"
	"testing"

	"github.com/stratamq/strata/log"
)

// applyAll applies entries at consecutive offsets from s.NextOffset.
func applyAll(t *testing.T, s *State, entries ...Entry) []Effects {
	t.Helper()
	var out []Effects
	for i := range entries {
		if err := entries[i].Validate(); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Apply(s.NextOffset(), &entries[i]))
	}
	return out
}

func connectEntry(client string, now int64, c Connect) Entry {
	return Entry{Kind: KindSessionConnect, Time: now, ClientID: client, Connect: c}
}

func publishEntry(client, topicName string, now int64, qos byte) Entry {
	return Entry{Kind: KindPublish, Time: now, ClientID: client, PacketID: uint16(qos),
		Publish: Publish{Message: Message{Topic: topicName, QoS: qos, Payload: []byte("p")}}}
}

// TestViewConcurrentReads reads Views from other goroutines while the
// applier keeps going (run with -race): Views never see later entries.
func TestViewConcurrentReads(t *testing.T) {
	s := New()
	applyAll(t, s, connectEntry("sub", 1, Connect{ExpirySeconds: 60, ProtocolVersion: 5, Node: "n1"}),
		Entry{Kind: KindSubscribe, Time: 1, ClientID: "sub", Subscriptions: []Subscription{{Filter: "t/#", Options: SubOptions{QoS: 1}}}})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for round := range 50 {
		v := s.View()
		want := len(v.Inflight("sub"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if got := len(v.Inflight("sub")); got != want {
					errs <- fmt.Errorf("round %d: view inflight %d, want %d", round, got, want)
					return
				}
				v.Digest()
			}
		}()
		applyAll(t, s, publishEntry("p", fmt.Sprintf("t/%d", round), 2, 1))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(s.Inflight("sub")); got != 50 {
		t.Fatalf("inflight %d, want 50", got)
	}
}

func TestApplyOldOffset(t *testing.T) {
	s := New()
	e := connectEntry("c", 1, Connect{ProtocolVersion: 5})
	s.Apply(5, &e)
	if fx := s.Apply(5, &e); !errors.Is(fx.Err, ErrApplied) {
		t.Fatalf("re-apply: %v", fx.Err)
	}
	if s.NextOffset() != 6 {
		t.Fatalf("next offset %d", s.NextOffset())
	}
}

func TestDueAndDeadlines(t *testing.T) {
	s := New()
	const sec = int64(1e9)
	w := &Will{Message: Message{Topic: "w", Payload: []byte("bye")}, DelaySeconds: 20}
	applyAll(t, s, connectEntry("c", 0, Connect{ExpirySeconds: 10, ProtocolVersion: 5, Will: w}),
		Entry{Kind: KindSessionDisconnect, Time: 5 * sec, ClientID: "c", Disconnect: Disconnect{Reason: ReasonWithWill}})
	if d, ok := s.NextDeadline(); !ok || d != 15*sec {
		t.Fatalf("NextDeadline = %d, %t; want 15s (expiry 10 < delay 20)", d, ok)
	}
	if due := s.Due(15*sec - 1); len(due) != 0 {
		t.Fatalf("due early: %+v", due)
	}
	due := s.Due(15 * sec)
	if len(due) != 2 || due[0].Kind != KindPublish || !due[0].Publish.Will || due[1].Kind != KindSessionExpire {
		t.Fatalf("Due = %+v; want the will then the expiry", due)
	}
	for _, fx := range applyAll(t, s, due...) {
		if fx.Err != nil {
			t.Fatal(fx.Err)
		}
	}
	if _, ok := s.NextDeadline(); ok || s.SessionCount() != 0 {
		t.Fatalf("deadlines or session left after Due applied")
	}
}

// TestSnapshotCorruption: every single-byte change and every truncation
// of a snapshot is detected.
func TestSnapshotCorruption(t *testing.T) {
	s, _ := runRandom(7, 300)
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		if _, err := Restore(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
		if _, err := Restore(bytes.NewReader(good[:i])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", i, err)
		}
	}
	if _, err := Restore(bytes.NewReader(wrapSnapshot(append(good[5:len(good)-4], 0)))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte with a valid checksum: %v", err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	s, _ := runRandom(3, 100)
	for _, n := range []int{0, 10} {
		if err := s.Snapshot(&failWriter{n: n}); err == nil {
			t.Fatalf("Snapshot to a failing writer (%d bytes) succeeded", n)
		}
	}
}

// TestCursorMemory: an offline session's state does not grow with traffic
// on its subscriptions (the replay gap is one range).
func TestCursorMemory(t *testing.T) {
	s := New()
	applyAll(t, s, connectEntry("off", 0, Connect{ExpirySeconds: NeverExpire, ProtocolVersion: 5}),
		Entry{Kind: KindSubscribe, ClientID: "off", Subscriptions: []Subscription{{Filter: "#", Options: SubOptions{QoS: 2}}}},
		Entry{Kind: KindSessionDisconnect, ClientID: "off", Disconnect: Disconnect{Since: 0}})
	for i := range 1000 {
		applyAll(t, s, publishEntry("p", fmt.Sprintf("t/%d", i), 1, 2))
	}
	sess, _ := s.Session("off")
	if len(s.Inflight("off")) != 0 || len(sess.Gaps) != 1 || sess.Gaps[0] != (Range{From: 3, To: openGap}) {
		t.Fatalf("offline cursor grew: %d inflight, gaps %v", len(s.Inflight("off")), sess.Gaps)
	}
	v := s.View()
	owed := 0
	for off := log.Offset(3); off < v.NextOffset(); off++ {
		e := publishEntry("p", "t/x", 1, 2)
		if _, ok := v.Owed("off", off, &e); ok {
			owed++
		}
	}
	if owed != 1000 {
		t.Fatalf("owed %d, want 1000", owed)
	}
}

// TestRevokedSnapshot: revocations survive Snapshot/Restore; a state
// without any encodes without the section, and an empty section is refused
// (it is not canonical).
func TestRevokedSnapshot(t *testing.T) {
	s := New()
	var plain bytes.Buffer
	if err := s.View().Snapshot(&plain); err != nil {
		t.Fatal(err)
	}
	s.Apply(0, &Entry{Kind: KindKeyRevoke, KeyID: "k1"})
	var buf bytes.Buffer
	if err := s.View().Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&buf)
	if err != nil || !r.KeyRevoked("k1") || r.KeyRevoked("k2") || r.Digest() != s.Digest() {
		t.Fatalf("restore: %v revoked=%v", err, r != nil && r.KeyRevoked("k1"))
	}
	// The body without revocations, plus an empty section, re-checksummed.
	body := append(plain.Bytes()[:plain.Len()-4:plain.Len()-4], 0)
	bad := binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	if _, err := Restore(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty revoked section: %v, want ErrCorrupt", err)
	}
}

// TestConsumerSnapshot: cursors survive Snapshot/Restore with and without
// revoked keys before them (the revoked section is then written empty),
// and a snapshot without consumers is byte for byte what it was before
// they existed.
func TestConsumerSnapshot(t *testing.T) {
	s := New()
	var plain bytes.Buffer
	if err := s.View().Snapshot(&plain); err != nil {
		t.Fatal(err)
	}
	s.Apply(0, &Entry{Kind: KindConsumerCommit, Time: 7, Consumer: ConsumerCommit{Name: "b", Filter: "x/#", Next: 9}})
	s.Apply(1, &Entry{Kind: KindConsumerCommit, Time: 8, Consumer: ConsumerCommit{Name: "a", Filter: "y", Next: 0}})
	for _, revoke := range []bool{false, true} {
		if revoke {
			s.Apply(2, &Entry{Kind: KindKeyRevoke, KeyID: "k1"})
		}
		var buf bytes.Buffer
		if err := s.View().Snapshot(&buf); err != nil {
			t.Fatal(err)
		}
		r, err := Restore(bytes.NewReader(buf.Bytes()))
		if err != nil || r.Digest() != s.Digest() {
			t.Fatalf("revoke=%v: restore: %v", revoke, err)
		}
		got := r.View().Consumers()
		want := []Consumer{{Name: "a", Filter: "y", Next: 0, Updated: 8}, {Name: "b", Filter: "x/#", Next: 9, Updated: 7}}
		if !reflect.DeepEqual(got, want) || r.KeyRevoked("k1") != revoke {
			t.Fatalf("revoke=%v: consumers %+v, want %+v", revoke, got, want)
		}
	}
	// An empty consumers section is not canonical.
	body := append(plain.Bytes()[:plain.Len()-4:plain.Len()-4], 0, 0)
	bad := binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
	if _, err := Restore(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty consumers section: %v, want ErrCorrupt", err)
	}
}
