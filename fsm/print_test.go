package fsm

import (
	"fmt"
	"strings"

	"github.com/stratamq/strata/log"
)

func (h *harness) at(ns int64) string { return fmt.Sprintf("%ds", (ns-h.epoch)/secondNanos) }

func (h *harness) printEffects(b *strings.Builder, off log.Offset, fx Effects) {
	n := b.Len()
	if fx.Err != nil {
		fmt.Fprintf(b, "err: %v\n", fx.Err)
	}
	if fx.Duplicate {
		b.WriteString("duplicate\n")
	}
	for _, c := range fx.Close {
		fmt.Fprintf(b, "close %s@%s since=%d %s\n", c.ClientID, c.Node, c.Since, c.Reason)
	}
	if r := fx.Resume; r != nil {
		fmt.Fprintf(b, "resume present=%t inflight=%s gaps=%s\n", r.SessionPresent, fmtInflight(r.Inflight), fmtGaps(r.Gaps))
	}
	for _, d := range fx.Deliveries {
		b.WriteString(fmtDelivery(d) + "\n")
	}
	for _, w := range fx.Wills {
		fmt.Fprintf(b, "will %s %s due=%s\n", w.ClientID, w.Will.Topic, h.at(w.Due))
	}
	if b.Len() == n {
		fmt.Fprintf(b, "ok off=%d\n", off)
	}
}

func fmtDelivery(d Delivery) string {
	s := fmt.Sprintf("deliver %s@%s off=%d qos=%d", d.ClientID, d.Node, d.Offset, d.QoS)
	if d.Retain {
		s += " retain"
	}
	if len(d.SubscriptionIDs) > 0 {
		s += fmt.Sprintf(" ids=%v", d.SubscriptionIDs)
	}
	if d.OffsetProperty {
		s += " offset"
	}
	return s
}

func fmtInflight(in []Inflight) string {
	parts := make([]string, 0, len(in))
	for _, x := range in {
		parts = append(parts, fmt.Sprintf("%d:q%d:%s", x.Offset, x.QoS, x.State))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func fmtGaps(gaps []Range) string {
	parts := make([]string, 0, len(gaps))
	for _, g := range gaps {
		to := fmt.Sprint(g.To)
		if g.Open() {
			to = "open"
		}
		parts = append(parts, fmt.Sprintf("%d-%s", g.From, to))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (h *harness) printSession(b *strings.Builder, client string) {
	sess, ok := h.s.Session(client)
	if !ok {
		fmt.Fprintf(b, "no session %s\n", client)
	} else {
		state := "offline"
		if sess.Connected {
			state = "connected@" + sess.Node
		}
		fmt.Fprintf(b, "session %s %s since=%d expiry=%d gaps=%s\n", client, state, sess.ConnectOffset,
			sess.ExpirySeconds, fmtGaps(sess.Gaps))
	}
	for _, s := range h.s.Subscriptions(client) {
		o := s.Options
		fmt.Fprintf(b, "  sub %s qos=%d nl=%t rap=%t rh=%d id=%d%s\n", s.Filter, o.QoS, o.NoLocal,
			o.RetainAsPublished, o.RetainHandling, o.ID, word(o.OffsetProperty, " offset"))
	}
	if in := h.s.Inflight(client); len(in) > 0 {
		fmt.Fprintf(b, "  inflight %s\n", fmtInflight(in))
	}
	if ids := h.s.AwaitingRelease(client); len(ids) > 0 {
		fmt.Fprintf(b, "  awaiting-rel %v\n", ids)
	}
	if w, ok := h.s.PendingWill(client); ok {
		fmt.Fprintf(b, "  will %s %q due=%s\n", w.Will.Topic, w.Will.Payload, h.at(w.Due))
	}
}

func (h *harness) printRetained(b *strings.Builder) {
	h.s.RetainedMatching("#", h.now, func(r Retained) bool {
		fmt.Fprintf(b, "retained %s off=%d qos=%d\n", r.Topic, r.Offset, r.QoS)
		return true
	})
	h.s.retained.Ascend(func(r Retained) bool {
		if strings.HasPrefix(r.Topic, "$") || r.expired(h.now) {
			fmt.Fprintf(b, "retained %s off=%d qos=%d (not matched by #)\n", r.Topic, r.Offset, r.QoS)
		}
		return true
	})
	if h.s.RetainedCount() == 0 {
		b.WriteString("no retained\n")
	}
}

func (h *harness) printPresence(b *strings.Builder, filters []string) {
	fmt.Fprintf(b, "connected=%d sessions=%d\n", h.s.Connected(), h.s.SessionCount())
	for _, f := range filters {
		fmt.Fprintf(b, "  %s subscribers=%d\n", f, h.s.SubscriberCount(f))
	}
}

// printOwed replays client's resume: its inflight items, then its gaps
// through Owed, as the connection layer would.
func (h *harness) printOwed(b *strings.Builder, client string) {
	v := h.s.View()
	n := b.Len()
	for _, in := range v.Inflight(client) {
		if in.State != InflightDone {
			fmt.Fprintf(b, "resend %s (%s)\n", fmtDelivery(v.Redeliver(in, &h.log[in.Offset])), in.State)
		}
	}
	sess, _ := v.Session(client)
	for _, g := range sess.Gaps {
		for off := g.From; off < min(g.To, log.Offset(len(h.log))); off++ {
			if d, ok := v.Owed(client, off, &h.log[off]); ok {
				fmt.Fprintf(b, "replay %s\n", fmtDelivery(d))
			}
		}
	}
	if b.Len() == n {
		b.WriteString("nothing owed\n")
	}
}

// word is w when set, so that flags added later print only where used and
// older golden files stay as they were.
func word(set bool, w string) string {
	if set {
		return w
	}
	return ""
}
