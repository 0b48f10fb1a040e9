// Package bench is the load harness behind `strata bench`: scenarios that
// drive any MQTT broker with real clients (paho.mqtt.golang, or a lean
// client on our codec) and verify every
// delivery (lost, duplicated, out of order per publisher) while measuring
// throughput and end-to-end latency.
package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes one run.
type Config struct {
	Broker      string        // tcp://host:port
	Scenario    string        // fanin, fanout or latency
	Publishers  int           // fanin: P publishers (fanout and latency: 1)
	Subscribers int           // S subscribers, each subscribed to every message
	Messages    int           // fanin/fanout: N messages in all
	Size        int           // payload bytes (at least 24: publisher, sequence, send time)
	QoS         byte          // 0, 1 or 2, for publishes and subscriptions
	Inflight    int           // publishes outstanding per publisher (QoS > 0)
	Rate        int           // latency: messages per second
	Duration    time.Duration // latency: how long to publish
	Drain       time.Duration // how long to wait for stragglers once publishing ends
	Topic       string        // topic prefix (default "bench")
	// Drop, if set, makes subscribers ignore the message (publisher, seq)
	// as if it were lost: the harness's own accounting is tested with it.
	Drop func(pub, seq int) bool
	// Client is the client engine: "paho" (default) or "lean".
	Client string
	// HTTP is the node's HTTP API address (history scenario, Strata only).
	HTTP string
	// Username and Password, if Username is set, are sent in every CONNECT
	// (a broker with a password file, an ACL or signed keys).
	Username, Password string
	// TLS configures ssl:// brokers (a client certificate, the CA to trust).
	TLS *tls.Config
	// SubBrokers, when set, are where subscribers connect instead of Broker,
	// in turn (a cluster: publishers on one node, subscribers on others).
	SubBrokers []string
	// Filters is the wildcards scenario's number of subscriptions in all,
	// spread over Subscribers connections.
	Filters int
}

// Result is what a run measured and verified.
type Result struct {
	Scenario   string        `json:"scenario"`
	Broker     string        `json:"broker"`
	Sent       int           `json:"sent"`
	Expected   int           `json:"expected_deliveries"`
	Received   int           `json:"received"`
	Lost       int           `json:"lost"`
	Duplicated int           `json:"duplicated"`
	OutOfOrder int           `json:"out_of_order"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	// Throughput is deliveries per second, from the first publish to the
	// last delivery.
	Throughput float64       `json:"deliveries_per_second"`
	P50        time.Duration `json:"p50_ns"`
	P90        time.Duration `json:"p90_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	Max        time.Duration `json:"max_ns"`
	ClientCPU  time.Duration `json:"client_cpu_ns"` // the harness's own CPU time
	// ConnectRate is subscribers connected and subscribed per second.
	ConnectRate float64 `json:"connects_per_second"`
}

// OK reports whether every expected delivery arrived exactly once, in order.
func (r Result) OK() bool { return r.Lost == 0 && r.Duplicated == 0 && r.OutOfOrder == 0 }

// ErrLoss is returned (wrapped) by Run when the broker lost, duplicated or
// reordered messages.
var ErrLoss = errors.New("bench: deliveries lost, duplicated or out of order")

func (c *Config) defaults() error {
	if c.Topic == "" {
		c.Topic = "bench"
	}
	if c.Size < 24 {
		c.Size = 24
	}
	if c.Inflight <= 0 {
		c.Inflight = 1
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 1
	}
	switch c.Scenario {
	case "fanin":
		if c.Publishers <= 0 {
			c.Publishers = 1
		}
	case "fanout":
		c.Publishers = 1
	case "replay", "history":
		c.Publishers, c.Subscribers = 1, 1
	case "idle":
		c.Publishers, c.Messages = 1, 1
		if c.Duration <= 0 {
			c.Duration = 5 * time.Second
		}
	case "retained":
		c.Publishers, c.Subscribers = 1, 1
	case "wildcards":
		c.Publishers = 1
		if c.Filters < c.Subscribers {
			return errors.New("bench: wildcards needs --filters of at least --subscribers")
		}
	case "latency", "connections":
		c.Publishers = 1
		if c.Rate <= 0 || c.Duration <= 0 {
			return fmt.Errorf("bench: %s needs --rate and --duration", c.Scenario)
		}
		c.Messages = int(int64(c.Rate) * int64(c.Duration) / int64(time.Second))
	default:
		return fmt.Errorf("bench: unknown scenario %q (fanin, fanout, latency, connections, replay, history, idle, retained, wildcards)", c.Scenario)
	}
	if c.Messages <= 0 {
		return errors.New("bench: --messages must be positive")
	}
	if c.QoS > 2 {
		return errors.New("bench: --qos must be 0, 1 or 2")
	}
	return nil
}

// subscriberConfig is the configuration subscriber i dials with.
func (c *Config) subscriberConfig(i int) *Config {
	if len(c.SubBrokers) == 0 {
		return c
	}
	sc := *c
	sc.Broker = c.SubBrokers[i%len(c.SubBrokers)]
	return &sc
}

// tracker verifies one subscriber's deliveries.
type tracker struct {
	mu         sync.Mutex
	seen       [][]bool // [publisher][seq]
	last       []int    // last seq per publisher, -1 none
	received   int
	duplicated int
	outOfOrder int
	latencies  []time.Duration
	lastAt     time.Time
}

func newTracker(pubs, perPub int) *tracker {
	t := &tracker{seen: make([][]bool, pubs), last: make([]int, pubs)}
	for i := range t.seen {
		t.seen[i] = make([]bool, perPub)
		t.last[i] = -1
	}
	return t
}

func (t *tracker) record(p []byte, now time.Time) {
	if len(p) < 24 {
		return
	}
	pub := int(binary.BigEndian.Uint64(p[0:]))
	seq := int(binary.BigEndian.Uint64(p[8:]))
	sent := int64(binary.BigEndian.Uint64(p[16:]))
	t.mu.Lock()
	defer t.mu.Unlock()
	if pub >= len(t.seen) || seq >= len(t.seen[pub]) {
		return
	}
	t.lastAt = now
	if t.seen[pub][seq] {
		t.duplicated++
		return
	}
	t.seen[pub][seq] = true
	t.received++
	if seq < t.last[pub] {
		t.outOfOrder++
	}
	t.last[pub] = max(t.last[pub], seq)
	t.latencies = append(t.latencies, now.Sub(time.Unix(0, sent)))
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.received
}

// Run runs one scenario. progress, if not nil, gets a status line a second.
// The error wraps ErrLoss when deliveries were lost, duplicated or reordered.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	switch cfg.Scenario {
	case "replay", "history":
		return runStored(ctx, cfg)
	case "idle", "retained", "wildcards":
		return runScale(ctx, cfg)
	}
	cpu0 := processCPU()
	perPub := (cfg.Messages + cfg.Publishers - 1) / cfg.Publishers
	res := Result{Scenario: cfg.Scenario, Broker: cfg.Broker}
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	trackers := make([]*tracker, cfg.Subscribers)
	var clients []client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	// Subscribers connect and subscribe concurrently (64 at a time), as a
	// fleet of devices would.
	connStart := time.Now()
	subs := make([]client, len(trackers))
	errs := make([]error, len(trackers))
	sem := make(chan struct{}, 64)
	var cwg sync.WaitGroup
	for i := range trackers {
		tr := newTracker(cfg.Publishers, perPub)
		trackers[i] = tr
		h := func(p []byte) {
			if cfg.Drop != nil && len(p) >= 16 && cfg.Drop(int(binary.BigEndian.Uint64(p)), int(binary.BigEndian.Uint64(p[8:]))) {
				return
			}
			tr.record(p, time.Now())
		}
		cwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; cwg.Done() }()
			c, err := dial(ctx, cfg.subscriberConfig(i), fmt.Sprintf("bench-%s-sub-%d", run, i), h)
			if err != nil {
				errs[i] = err
				return
			}
			subs[i] = c
			if err := c.Subscribe(ctx, cfg.Topic+"/"+run+"/#", cfg.QoS); err != nil {
				errs[i] = fmt.Errorf("subscribe: %w", err)
			}
		}()
	}
	cwg.Wait()
	for _, c := range subs {
		if c != nil {
			clients = append(clients, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	res.ConnectRate = float64(cfg.Subscribers) / time.Since(connStart).Seconds()
	pubs := make([]client, cfg.Publishers)
	for i := range pubs {
		c, err := dial(ctx, &cfg, fmt.Sprintf("bench-%s-pub-%d", run, i), nil)
		if err != nil {
			return res, err
		}
		clients = append(clients, c)
		pubs[i] = c
	}
	var sent atomic.Int64
	var pubErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range pubs {
		n := min(perPub, cfg.Messages-i*perPub)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publish(ctx, c, &cfg, i, n, run, &sent); err != nil {
				errOnce.Do(func() { pubErr = err })
			}
		}()
	}
	expected := func() int { return int(sent.Load()) * cfg.Subscribers }
	received := func() int {
		n := 0
		for _, t := range trackers {
			n += t.count()
		}
		return n
	}
	pubDone := make(chan struct{})
	go func() { wg.Wait(); close(pubDone) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var drainUntil time.Time
	for {
		select {
		case <-pubDone:
			if drainUntil.IsZero() {
				drainUntil = time.Now().Add(cfg.Drain)
			}
			pubDone = nil
		case <-tick.C:
			if progress != nil {
				el := time.Since(start).Seconds()
				fmt.Fprintf(progress, "\r%-8s sent %d received %d (%.0f/s)   ", cfg.Scenario, sent.Load(), received(), float64(received())/el)
			}
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if pubDone == nil && (received() >= expected() || time.Now().After(drainUntil)) {
			break
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	res.Sent = int(sent.Load())
	res.Expected = expected()
	var lat []time.Duration
	var last time.Time
	for _, t := range trackers {
		t.mu.Lock()
		res.Received += t.received
		res.Duplicated += t.duplicated
		res.OutOfOrder += t.outOfOrder
		lat = append(lat, t.latencies...)
		if t.lastAt.After(last) {
			last = t.lastAt
		}
		t.mu.Unlock()
	}
	res.Lost = res.Expected - res.Received
	if last.IsZero() {
		last = time.Now()
	}
	res.Elapsed = last.Sub(start)
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Received) / res.Elapsed.Seconds()
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	res.P50, res.P90, res.P99, res.P999 = pct(0.50), pct(0.90), pct(0.99), pct(0.999)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	res.ClientCPU = processCPU() - cpu0
	if pubErr != nil {
		return res, pubErr
	}
	if !res.OK() {
		return res, fmt.Errorf("%w: %d lost, %d duplicated, %d out of order of %d expected", ErrLoss, res.Lost, res.Duplicated, res.OutOfOrder, res.Expected)
	}
	return res, nil
}

// publish sends n messages from publisher i: as fast as the in-flight window
// allows, or at cfg.Rate for the latency scenario.
func publish(ctx context.Context, c client, cfg *Config, i, n int, run string, sent *atomic.Int64) error {
	window := make(chan func(context.Context) error, cfg.Inflight)
	topic := fmt.Sprintf("%s/%s/%d", cfg.Topic, run, i)
	var interval time.Duration
	if cfg.Scenario == "latency" || cfg.Scenario == "connections" {
		interval = time.Second / time.Duration(cfg.Rate)
	}
	next := time.Now()
	for seq := 0; seq < n; seq++ {
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		p := make([]byte, cfg.Size)
		binary.BigEndian.PutUint64(p[0:], uint64(i))
		binary.BigEndian.PutUint64(p[8:], uint64(seq))
		binary.BigEndian.PutUint64(p[16:], uint64(time.Now().UnixNano()))
		if len(window) == cap(window) {
			if err := (<-window)(ctx); err != nil {
				return err
			}
		}
		window <- c.Publish(topic, cfg.QoS, p)
		sent.Add(1)
	}
	for len(window) > 0 {
		if err := (<-window)(ctx); err != nil {
			return err
		}
	}
	return nil
}
