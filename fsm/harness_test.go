package fsm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stratamq/strata/log"
)

// harness drives a State from the golden scenario commands. It plays the
// proposer: it stamps entries with its clock, assigns dense offsets, keeps
// the applied entries (the log) and checks every entry round-trips through
// the codec and that a Snapshot/Restore reproduces the Digest.
type harness struct {
	s     *State
	now   int64
	log   []Entry
	epoch int64
}

const harnessEpoch = int64(1_700_000_000) * secondNanos

func newHarness() *harness { return &harness{s: New(), now: harnessEpoch, epoch: harnessEpoch} }

func (h *harness) run(t *testing.T, cmds []string) string {
	var b strings.Builder
	for _, cmd := range cmds {
		if err := h.exec(&b, cmd); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	return b.String()
}

// args splits "cmd a b k=v "quoted text"" into positional words, key=value
// options, flags and the quoted payload.
type args struct {
	pos     []string
	kv      map[string]string
	payload string
	quoted  bool
}

func parseArgs(line string) (args, error) {
	a := args{kv: map[string]string{}}
	if i := strings.IndexByte(line, '"'); i >= 0 {
		p, err := strconv.Unquote(strings.TrimSpace(line[i:]))
		if err != nil {
			return a, fmt.Errorf("payload: %w", err)
		}
		a.payload, a.quoted, line = p, true, line[:i]
	}
	for _, w := range strings.Fields(line) {
		if k, v, ok := strings.Cut(w, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, w)
		}
	}
	return a, nil
}

// has reports a flag word after the command and client, or a key=value.
func (a args) has(k string) bool {
	_, ok := a.kv[k]
	return ok || len(a.pos) > 2 && slices.Contains(a.pos[2:], k)
}

func (a args) num(k string, def uint64) uint64 {
	v, ok := a.kv[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%s: %v", k, v, err))
	}
	return n
}

func (a args) arg(i int) string {
	if i < len(a.pos) {
		return a.pos[i]
	}
	return ""
}

func (h *harness) exec(b *strings.Builder, line string) error {
	a, err := parseArgs(line)
	if err != nil {
		return err
	}
	switch a.arg(0) {
	case "tick":
		d, err := strconv.ParseInt(strings.TrimSuffix(a.arg(1), "s"), 10, 64)
		h.now += d * secondNanos
		return err
	case "due":
		for _, e := range h.s.Due(h.now) {
			fmt.Fprintf(b, "propose %s %s\n", e.Kind, e.ClientID)
			h.apply(b, e)
		}
		return nil
	case "state":
		h.printSession(b, a.arg(1))
		return nil
	case "retained":
		h.printRetained(b)
		return nil
	case "presence":
		h.printPresence(b, a.pos[1:])
		return nil
	case "owed":
		h.printOwed(b, a.arg(1))
		return nil
	case "revoked":
		fmt.Fprintf(b, "revoked %v\n", h.s.RevokedKeys())
		return nil
	case "consumers":
		for _, c := range h.s.Consumers() {
			fmt.Fprintf(b, "consumer %s filter=%s next=%d updated=+%dms\n", c.Name, c.Filter, c.Next, (c.Updated-h.epoch)/1e6)
		}
		return nil
	}
	e, err := h.entry(a)
	if err != nil {
		return err
	}
	h.apply(b, e)
	return nil
}

func (h *harness) entry(a args) (Entry, error) {
	e := Entry{Time: h.now, ClientID: a.arg(1)}
	switch a.arg(0) {
	case "publish":
		e.Kind = KindPublish
		e.Publish = Publish{Message: h.message(a, a.arg(2), "qos", "retain"), Will: a.has("will")}
		if e.Publish.QoS > 0 {
			e.PacketID = uint16(a.num("pid", uint64(len(h.log)%65535+1)))
		}
	case "subscribe":
		e.Kind = KindSubscribe
		e.Subscriptions = []Subscription{{Filter: a.arg(2), Options: SubOptions{
			QoS: byte(a.num("qos", 0)), NoLocal: a.has("nl"), RetainAsPublished: a.has("rap"),
			RetainHandling: byte(a.num("rh", 0)), ID: uint32(a.num("id", 0)), OffsetProperty: a.has("offset")}}}
	case "unsubscribe":
		e.Kind, e.Filters = KindUnsubscribe, []string{a.arg(2)}
	case "connect":
		e.Kind = KindSessionConnect
		e.Connect = Connect{CleanStart: a.num("clean", 1) == 1, ExpirySeconds: uint32(a.num("expiry", 0)),
			ProtocolVersion: 5, Node: "n1"}
		if n, ok := a.kv["node"]; ok {
			e.Connect.Node = n
		}
		if w, ok := a.kv["will"]; ok {
			e.Connect.Will = &Will{Message: h.message(a, w, "wqos", "wretain"), DelaySeconds: uint32(a.num("delay", 0))}
		}
	case "disconnect":
		e.Kind = KindSessionDisconnect
		e.Disconnect = h.disconnect(a)
	case "expire":
		e.Kind = KindSessionExpire
	case "ack":
		e.Kind = KindAck
		e.Acks = parseAcks(a)
	case "release":
		e.Kind, e.PacketID = KindQoS2Release, uint16(a.num("pid", 0))
	case "revoke":
		e.Kind, e.ClientID, e.KeyID = KindKeyRevoke, "", a.arg(1)
	case "consumer-commit": // consumer-commit NAME FILTER next=N [reset]
		e.Kind, e.ClientID = KindConsumerCommit, ""
		e.Consumer = ConsumerCommit{Name: a.arg(1), Filter: a.arg(2), Next: log.Offset(a.num("next", 0)), Reset: a.has("reset")}
	case "consumer-delete":
		e.Kind, e.ClientID, e.Consumer = KindConsumerDelete, "", ConsumerCommit{Name: a.arg(1)}
	default:
		return e, fmt.Errorf("unknown command %q", a.arg(0))
	}
	return e, e.Validate()
}

func (h *harness) message(a args, topic, qosKey, retainKey string) Message {
	m := Message{Topic: topic, QoS: byte(a.num(qosKey, 0)), Retain: a.has(retainKey)}
	if a.payload != "" {
		m.Payload = []byte(a.payload)
	}
	if a.has("expiry") {
		m.Props.HasExpiry, m.Props.MessageExpirySeconds = true, uint32(a.num("expiry", 0))
	}
	return m
}

func (h *harness) disconnect(a args) Disconnect {
	d := Disconnect{Reason: ReasonWithWill}
	for r := ReasonNormal; r <= maxReason; r++ {
		if a.kv["reason"] == r.String() {
			d.Reason = r
		}
	}
	if sess, ok := h.s.Session(a.arg(1)); ok {
		d.Since = sess.ConnectOffset
	}
	d.Since = log.Offset(a.num("since", uint64(d.Since)))
	if a.has("expiry") {
		d.HasExpiry, d.ExpirySeconds = true, uint32(a.num("expiry", 0))
	}
	return d
}

// parseAcks reads the words after "ack c1": "N" (complete), "rec:N", "thru:N".
func parseAcks(a args) []Ack {
	var acks []Ack
	for _, w := range a.pos[2:] {
		kind := AckComplete
		if v, ok := strings.CutPrefix(w, "rec:"); ok {
			kind, w = AckReceived, v
		} else if v, ok := strings.CutPrefix(w, "thru:"); ok {
			kind, w = AckThrough, v
		}
		n, err := strconv.ParseUint(w, 10, 64)
		if err != nil {
			continue
		}
		acks = append(acks, Ack{Offset: log.Offset(n), Kind: kind})
	}
	return acks
}

// apply round-trips e through the codec, applies it and prints the effects.
func (h *harness) apply(b *strings.Builder, e Entry) {
	rec, err := e.Record()
	if err != nil {
		fmt.Fprintf(b, "encode error: %v\n", err)
		return
	}
	dec, err := DecodeRecord(rec)
	if err != nil {
		fmt.Fprintf(b, "decode error: %v\n", err)
		return
	}
	off := log.Offset(len(h.log))
	h.log = append(h.log, dec)
	fx := h.s.Apply(off, &dec)
	h.printEffects(b, off, fx)
	h.checkSnapshot(b)
}

func (h *harness) checkSnapshot(b *strings.Builder) {
	var buf strings.Builder
	if err := h.s.View().Snapshot(&buf); err != nil {
		fmt.Fprintf(b, "snapshot error: %v\n", err)
		return
	}
	r, err := Restore(strings.NewReader(buf.String()))
	if err != nil {
		fmt.Fprintf(b, "restore error: %v\n", err)
		return
	}
	if r.Digest() != h.s.Digest() {
		fmt.Fprintf(b, "restore changed the digest\n")
	}
}
