package fsm

import (
	"errors"
	"fmt"

	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/topic"
)

// MaxConsumerNameLen bounds a consumer's name: it travels in URL paths.
const MaxConsumerNameLen = 128

// ConsumerCommit is the body of KindConsumerCommit: a named consumer's
// cursor. Next is the offset it reads next (one past the last offset it
// committed as processed), so "nothing processed yet" needs no sentinel.
type ConsumerCommit struct {
	Name   string
	Filter string // the topic filter the consumer reads
	Next   log.Offset
	// Reset allows Next to move backwards; a plain commit never does, so a
	// late or duplicated commit cannot undo a newer one.
	Reset bool
}

// Consumer is a consumer's cursor as the views hold it.
type Consumer struct {
	Name    string
	Filter  string
	Next    log.Offset
	Updated int64 // entry time (unix ns) of the last commit or reset
}

// ValidateConsumerName accepts 1 to MaxConsumerNameLen bytes of ASCII
// letters, digits, '.', '_' and '-': names go in URL paths and log lines
// unescaped.
func ValidateConsumerName(name string) error {
	if name == "" || len(name) > MaxConsumerNameLen {
		return fmt.Errorf("consumer name of %d bytes (want 1 to %d)", len(name), MaxConsumerNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("consumer name %q: only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

func (c *ConsumerCommit) validate() error {
	if err := ValidateConsumerName(c.Name); err != nil {
		return err
	}
	if _, _, shared, _ := topic.ParseShare(c.Filter); shared {
		return errors.New("a consumer cannot read a shared subscription filter")
	}
	return topic.ValidateFilter(c.Filter)
}

// Consumer commit flags; part of the on-disk format.
const consumerReset = 1 << 0

func (c *ConsumerCommit) append(b []byte) []byte {
	b = appendString(appendString(b, c.Name), c.Filter)
	b = appendUvarint(b, uint64(c.Next))
	if c.Reset {
		return append(b, consumerReset)
	}
	return append(b, 0)
}

func (c *ConsumerCommit) decode(d *decoder) {
	c.Name = d.string(MaxConsumerNameLen)
	c.Filter = d.string(MaxStringLen)
	c.Next = log.Offset(d.uvarint())
	flags := d.byte()
	if flags&^consumerReset != 0 {
		d.fail("unknown consumer flags %#x", flags)
	}
	c.Reset = flags&consumerReset != 0
}

// applyConsumerCommit moves a consumer's cursor. A commit behind the
// current cursor is stale (at-least-once readers may commit out of order;
// the furthest commit wins); a reset may move it anywhere.
func (s *State) applyConsumerCommit(e *Entry) Effects {
	c := &e.Consumer
	if old, ok := s.consumers.Get(Consumer{Name: c.Name}); ok && !c.Reset && c.Next < old.Next {
		return Effects{Err: ErrStale}
	}
	s.consumers.ReplaceOrInsert(Consumer{Name: c.Name, Filter: c.Filter, Next: c.Next, Updated: e.Time})
	return Effects{}
}

// applyConsumerDelete forgets a consumer; deleting an unknown one is stale.
func (s *State) applyConsumerDelete(e *Entry) Effects {
	if _, ok := s.consumers.Delete(Consumer{Name: e.Consumer.Name}); !ok {
		return Effects{Err: ErrStale}
	}
	return Effects{}
}

// Consumer returns the named consumer's cursor.
func (v *views) Consumer(name string) (Consumer, bool) {
	return v.consumers.Get(Consumer{Name: name})
}

// Consumers returns every consumer's cursor in name order.
func (v *views) Consumers() []Consumer {
	out := make([]Consumer, 0, v.consumers.Len())
	v.consumers.Ascend(func(c Consumer) bool { out = append(out, c); return true })
	return out
}

// encodeConsumers appends the consumers section, present only when there
// are consumers (older snapshots restore unchanged, as with revocations).
func (v *views) encodeConsumers(s *sink) {
	if v.consumers.Len() == 0 {
		return
	}
	s.buf = appendUvarint(s.buf, uint64(v.consumers.Len()))
	v.consumers.Ascend(func(c Consumer) bool {
		b := appendString(appendString(s.buf, c.Name), c.Filter)
		s.buf = appendVarint(appendUvarint(b, uint64(c.Next)), c.Updated)
		s.maybeFlush()
		return true
	})
}

// decodeConsumers reads the optional section after the revoked keys: a
// non-zero count of consumers in name order.
func (s *State) decodeConsumers(d *decoder) {
	if d.err != nil || len(d.b) == 0 {
		return
	}
	n := d.count()
	if d.err == nil && n == 0 {
		d.fail("empty consumers section")
	}
	ord := ordered[string]{less: func(a, b string) bool { return a < b }}
	for i := 0; i < n && d.err == nil; i++ {
		c := Consumer{Name: d.string(MaxConsumerNameLen), Filter: d.string(MaxStringLen)}
		c.Next, c.Updated = log.Offset(d.uvarint()), d.varint()
		ord.check(d, c.Name, "consumer")
		cc := ConsumerCommit{Name: c.Name, Filter: c.Filter}
		if err := cc.validate(); d.err == nil && err != nil {
			d.fail("bad consumer: %w", err)
		}
		s.consumers.ReplaceOrInsert(c)
	}
}
