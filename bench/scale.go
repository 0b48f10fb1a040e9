package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// The scale scenarios (issue 14 item 5): many idle connections, many
// retained topics delivered on one subscribe, many wildcard subscriptions.
// Each verifies what it measures (every connection accepted, every retained
// message delivered exactly once, every publish routed to its one match).

// runScale runs the idle, retained or wildcards scenario.
func runScale(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Scenario: cfg.Scenario, Broker: cfg.Broker}
	cpu0 := processCPU()
	var err error
	switch cfg.Scenario {
	case "idle":
		err = runIdle(ctx, &cfg, &res)
	case "retained":
		err = runRetained(ctx, &cfg, &res)
	case "wildcards":
		err = runWildcards(ctx, &cfg, &res)
	}
	res.ClientCPU = processCPU() - cpu0
	if err != nil {
		return res, err
	}
	if !res.OK() {
		return res, fmt.Errorf("%w: %d lost, %d duplicated of %d expected", ErrLoss, res.Lost, res.Duplicated, res.Expected)
	}
	return res, nil
}

// forEach runs f(i) for i in [0, n), 64 at a time; the first error wins.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// idleConn is one held connection: no goroutine, no buffer; the harness
// pings each in turn so the broker's keep-alive never closes it.
type idleConn struct{ nc net.Conn }

// dialIdle opens one MQTT 3.1.1 connection with keep alive 60 s and reads
// its CONNACK.
func dialIdle(ctx context.Context, cfg *Config, id string) (*idleConn, error) {
	u, err := url.Parse(cfg.Broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") {
		return nil, fmt.Errorf("bench: the idle scenario speaks tcp:// or ssl://, not %q", cfg.Broker)
	}
	nc, err := dialURL(ctx, u, cfg.TLS)
	if err != nil {
		return nil, err
	}
	cp := &packet.Connect{ProtocolVersion: packet.Version311, ClientID: id, CleanStart: true, KeepAliveSeconds: 60}
	if cfg.Username != "" {
		cp.HasUsername, cp.Username = true, cfg.Username
		cp.HasPassword, cp.Password = true, []byte(cfg.Password)
	}
	if err := handshake(nc, cp); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %w", id, err)
	}
	return &idleConn{nc}, nil
}

func handshake(nc net.Conn, cp *packet.Connect) error {
	b, err := packet.Encode(nil, cp, packet.Version311)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(b); err != nil {
		return err
	}
	p, err := packet.Read(bufio.NewReaderSize(nc, 16), packet.Version311, 0)
	if err != nil {
		return err
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		return fmt.Errorf("refused: %v", p)
	}
	return nil
}

// runIdle connects cfg.Subscribers connections, holds them for
// cfg.Duration (pinging every 30 s) and checks every one is still open.
func runIdle(ctx context.Context, cfg *Config, res *Result) error {
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	conns := make([]*idleConn, cfg.Subscribers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.nc.Close()
			}
		}
	}()
	start := time.Now()
	err := forEach(ctx, len(conns), func(i int) (err error) {
		conns[i], err = dialIdle(ctx, cfg, fmt.Sprintf("bench-%s-idle-%d", run, i))
		return err
	})
	if err != nil {
		return err
	}
	res.Elapsed = time.Since(start)
	res.ConnectRate = float64(len(conns)) / res.Elapsed.Seconds()
	if err := holdIdle(ctx, conns, cfg.Duration); err != nil {
		return err
	}
	res.Expected, res.Received = len(conns), countOpen(conns)
	res.Lost = res.Expected - res.Received
	return nil
}

// holdIdle waits d, sending a PINGREQ on every connection each 30 s.
func holdIdle(ctx context.Context, conns []*idleConn, d time.Duration) error {
	ping := []byte{0xC0, 0}
	end := time.After(d)
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-end:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			for _, c := range conns {
				c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.nc.Write(ping) // a failure shows in countOpen
			}
		}
	}
}

// countOpen counts connections the broker has not closed: a read that times
// out at once means open (PINGRESPs are read and skipped).
func countOpen(conns []*idleConn) int {
	open := 0
	buf := make([]byte, 64)
	for _, c := range conns {
		c.nc.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.nc.Read(buf)
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			open++
		}
	}
	return open
}

// retainedTopic spreads retained topics over a thousand branches, as
// devices reporting their state would.
func retainedTopic(cfg *Config, run string, i int) string {
	return fmt.Sprintf("%s/%s/%d/%d", cfg.Topic, run, i%1000, i)
}

// runRetained publishes cfg.Messages retained messages (QoS 1, pipelined),
// then one subscriber subscribes to all of them at cfg.QoS: Throughput is
// retained messages delivered per second from its SUBSCRIBE, Elapsed the
// time to the last one.
func runRetained(ctx context.Context, cfg *Config, res *Result) error {
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	if err := publishRetained(ctx, cfg, run); err != nil {
		return err
	}
	res.Sent, res.Expected = cfg.Messages, cfg.Messages
	seen := newSeen(cfg.Messages)
	sub, err := dial(ctx, cfg, "bench-"+run+"-retained-sub", func(p []byte) { seen.mark(p) })
	if err != nil {
		return err
	}
	defer sub.Close()
	start := time.Now()
	if err := sub.Subscribe(ctx, cfg.Topic+"/"+run+"/#", cfg.QoS); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	seen.wait(ctx, cfg.Messages, cfg.Drain)
	seen.result(res, start)
	return nil
}

// publishRetained publishes the retained set from four publishers.
func publishRetained(ctx context.Context, cfg *Config, run string) error {
	const pubs = 4
	return forEach(ctx, pubs, func(k int) error {
		c, err := dial(ctx, cfg, fmt.Sprintf("bench-%s-retained-pub-%d", run, k), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		window := make(chan func(context.Context) error, max(cfg.Inflight, 1))
		for i := k; i < cfg.Messages; i += pubs {
			if len(window) == cap(window) {
				if err := (<-window)(ctx); err != nil {
					return err
				}
			}
			window <- c.PublishRetained(retainedTopic(cfg, run, i), 1, seqPayload(cfg.Size, i))
		}
		for len(window) > 0 {
			if err := (<-window)(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// seqPayload is a payload of size bytes carrying seq and the send time.
func seqPayload(size, seq int) []byte {
	p := make([]byte, max(size, 24))
	binary.BigEndian.PutUint64(p[8:], uint64(seq))
	binary.BigEndian.PutUint64(p[16:], uint64(time.Now().UnixNano()))
	return p
}

// seen counts deliveries by sequence number across subscribers.
type seen struct {
	mu       sync.Mutex
	got      []bool
	received int
	dup      int
	last     time.Time
	count    atomic.Int64
}

func newSeen(n int) *seen { return &seen{got: make([]bool, n)} }

func (s *seen) mark(p []byte) {
	if len(p) < 16 {
		return
	}
	seq := int(binary.BigEndian.Uint64(p[8:]))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received++
	s.last = time.Now()
	if seq < 0 || seq >= len(s.got) {
		return
	}
	if s.got[seq] {
		s.dup++
		return
	}
	s.got[seq] = true
	s.count.Add(1)
}

// wait returns once n distinct messages arrived, or drain passed with none.
func (s *seen) wait(ctx context.Context, n int, drain time.Duration) {
	lastN, lastAt := int64(-1), time.Now()
	for ctx.Err() == nil && s.count.Load() < int64(n) {
		if c := s.count.Load(); c != lastN {
			lastN, lastAt = c, time.Now()
		} else if time.Since(lastAt) > drain {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *seen) result(res *Result, start time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res.Received, res.Duplicated = int(s.count.Load()), s.dup
	res.Lost = res.Expected - res.Received
	if !s.last.IsZero() {
		res.Elapsed = s.last.Sub(start)
		res.Throughput = float64(res.Received) / res.Elapsed.Seconds()
	}
}

// runWildcards spreads cfg.Filters wildcard subscriptions over
// cfg.Subscribers connections, then publishes cfg.Messages QoS 0 messages,
// each to a topic exactly one subscription matches: what it costs the
// broker to route a publish among that many filters (BrokerCPU ÷ Sent).
func runWildcards(ctx context.Context, cfg *Config, res *Result) error {
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	perConn := max(cfg.Filters/cfg.Subscribers, 1)
	s := newSeen(cfg.Messages)
	subs := make([]client, cfg.Subscribers)
	defer closeAll(subs)
	connStart := time.Now()
	err := forEach(ctx, len(subs), func(c int) error {
		var err error
		if subs[c], err = dial(ctx, cfg, fmt.Sprintf("bench-%s-wild-%d", run, c), s.mark); err != nil {
			return err
		}
		for k := range perConn {
			if err := subs[c].Subscribe(ctx, wildFilter(cfg, run, c, k), cfg.QoS); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.ConnectRate = float64(len(subs)*perConn) / time.Since(connStart).Seconds() // subscriptions/s
	pub, err := dial(ctx, cfg, "bench-"+run+"-wild-pub", nil)
	if err != nil {
		return err
	}
	defer pub.Close()
	start := time.Now()
	for i := range cfg.Messages {
		c, k := i%len(subs), (i/len(subs))%perConn
		if err := pub.Publish(wildTopic(cfg, run, c, k), cfg.QoS, seqPayload(cfg.Size, i))(ctx); err != nil {
			return err
		}
	}
	res.Sent, res.Expected = cfg.Messages, cfg.Messages
	s.wait(ctx, cfg.Messages, cfg.Drain)
	s.result(res, start)
	return nil
}

// wildTopic is the one topic subscription (c, k) is meant to match; its
// last two levels repeat k so that each filter shape below matches it and
// no other subscription's topic.
func wildTopic(cfg *Config, run string, c, k int) string {
	return fmt.Sprintf("%s/%s/%d/%d/%d", cfg.Topic, run, c, k, k)
}

// wildFilter is subscription (c, k): a single-level wildcard at the end, in
// the middle, or a multi-level one, in turn.
func wildFilter(cfg *Config, run string, c, k int) string {
	switch k % 3 {
	case 0:
		return fmt.Sprintf("%s/%s/%d/%d/+", cfg.Topic, run, c, k)
	case 1:
		return fmt.Sprintf("%s/%s/%d/+/%d", cfg.Topic, run, c, k)
	}
	return fmt.Sprintf("%s/%s/%d/%d/#", cfg.Topic, run, c, k)
}

func closeAll(cs []client) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}
