package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// Scenario is one named configuration measured on every broker.
type Scenario struct {
	Tag, Title string
	Config     Config
	// Latency scenarios are judged by p99 (lower is better), connection
	// scenarios by connects per second and memory, the others by deliveries
	// per second.
	Latency, Connections bool
}

// StandardScenarios are anchors.md's a-d: the figures peers were measured
// with. scale shrinks the message counts (1 for the real run).
func StandardScenarios(scale float64) []Scenario {
	n := func(v int) int { return max(1, int(float64(v)*scale)) }
	d := time.Duration(float64(10*time.Second) * scale)
	return []Scenario{
		{Tag: "a", Title: "QoS 0 fan-in, 4 publishers → 1 subscriber (delivered msg/s)",
			Config: Config{Scenario: "fanin", Publishers: 4, Subscribers: 1, Messages: n(200000), QoS: 0, Inflight: 100}},
		{Tag: "b", Title: "QoS 1 fan-in, 4 publishers × 100 in flight → 1 subscriber (delivered msg/s)",
			Config: Config{Scenario: "fanin", Publishers: 4, Subscribers: 1, Messages: n(100000), QoS: 1, Inflight: 100}},
		{Tag: "c", Title: "fan-out QoS 0, 1 publisher → 50 subscribers (deliveries/s)",
			Config: Config{Scenario: "fanout", Subscribers: 50, Messages: n(10000), QoS: 0, Inflight: 100}},
		{Tag: "d", Title: "QoS 1 at 1,000 msg/s for 10 s: end-to-end latency",
			Config: Config{Scenario: "latency", QoS: 1, Rate: 1000, Inflight: 100, Duration: max(d, time.Second)}, Latency: true},
		{Tag: "e", Title: "connections: 1,000 subscribers held with keep-alive, 1 message/s to all for 10 s (connects/s)",
			Config: Config{Scenario: "connections", Subscribers: 1000, QoS: 0, Rate: 1, Inflight: 100, Duration: max(d, time.Second)}, Connections: true},
	}
}

// ScaleScenarios are issue 14's scale runs, sized to this machine: its
// open-file limit (20,000 per process, not raisable here) caps idle
// connections below 20,000 for any broker. scale shrinks them.
func ScaleScenarios(scale float64) []Scenario {
	n := func(v int) int { return max(1, int(float64(v)*scale)) }
	return []Scenario{
		{Tag: "f", Title: "idle connections: 19,000 held with keep-alive 60 s for 10 s (connects/s, RSS)",
			Config: Config{Scenario: "idle", Subscribers: n(19000), Duration: 10 * time.Second}, Connections: true},
		{Tag: "g", Title: "retained on subscribe: 1,000,000 retained topics, then one QoS 1 subscribe to all (delivered/s from the SUBSCRIBE)",
			Config: Config{Scenario: "retained", Messages: n(1000000), QoS: 1, Inflight: 100}},
		{Tag: "h", Title: "wildcard routing: 100,000 wildcard subscriptions over 100 connections, 20,000 QoS 0 publishes each matching one (delivered/s)",
			Config: Config{Scenario: "wildcards", Subscribers: 100, Filters: n(100000), Messages: n(20000), QoS: 0}},
	}
}

// Measurement is one scenario run on one broker.
type Measurement struct {
	Peer, Scenario string
	Run            int
	Result         Result
	BrokerCPU      time.Duration // the broker process's CPU time during the run
	BrokerRSS      int64         // the broker's resident memory after the run, bytes
	BrokerRSS0     int64         // and before it
	Err            string
}

// Report holds every measurement of a comparison.
type Report struct {
	Started   time.Time
	Runs      int
	Client    string
	Peers     []*Peer
	Scenarios []Scenario
	Results   []Measurement
}

// CompareOptions configure a comparison.
type CompareOptions struct {
	Peers     []string // broker names; "strata" is always measured
	Runs      int
	Scenarios []Scenario
	Size      int
	Drain     time.Duration
	Client    string    // client engine: paho or lean
	Log       io.Writer // progress
}

// Compare starts each broker, runs every scenario Runs times on each
// (interleaved: run 1 of a scenario on every broker, then run 2, ...) and
// stops them.
func Compare(ctx context.Context, o CompareOptions) (*Report, error) {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	names := []string{"strata"}
	for _, p := range o.Peers {
		if p != "strata" && !slices.Contains(names, p) {
			names = append(names, p)
		}
	}
	rep := &Report{Started: time.Now(), Runs: o.Runs, Scenarios: o.Scenarios, Client: o.Client}
	if rep.Client == "" {
		rep.Client = "paho"
	}
	defer func() {
		for _, p := range rep.Peers {
			p.Stop()
		}
	}()
	for _, n := range names {
		p, err := StartPeer(ctx, n, o.Log)
		if err != nil {
			if n == "strata" {
				return nil, err
			}
			fmt.Fprintf(o.Log, "skipping %s: %v\n", n, err)
			continue
		}
		rep.Peers = append(rep.Peers, p)
	}
	for run := 1; run <= o.Runs; run++ {
		for _, sc := range o.Scenarios {
			for _, p := range rep.Peers {
				cfg := sc.Config
				cfg.Broker, cfg.Size, cfg.Drain, cfg.Client = p.URL, o.Size, o.Drain, o.Client
				fmt.Fprintf(o.Log, "run %d/%d  %s  %-11s ", run, o.Runs, sc.Tag, p.Name)
				cpu0, rss0 := pidCPU(p.cmd.Process.Pid), pidRSS(p.cmd.Process.Pid)
				res, err := Run(ctx, cfg, nil)
				m := Measurement{Peer: p.Name, Scenario: sc.Tag, Run: run, Result: res, BrokerCPU: pidCPU(p.cmd.Process.Pid) - cpu0,
					BrokerRSS: pidRSS(p.cmd.Process.Pid), BrokerRSS0: rss0}
				if err != nil {
					m.Err = err.Error()
					if !errors.Is(err, ErrLoss) {
						fmt.Fprintf(o.Log, "error: %v\n", err)
						rep.Results = append(rep.Results, m)
						continue
					}
				}
				fmt.Fprintf(o.Log, "%9.0f/s  p50 %6.2fms  p99 %7.2fms  lost %d dup %d ooo %d  cpu broker %.1fs harness %.1fs\n", res.Throughput,
					ms(res.P50), ms(res.P99), res.Lost, res.Duplicated, res.OutOfOrder, m.BrokerCPU.Seconds(), res.ClientCPU.Seconds())
				rep.Results = append(rep.Results, m)
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
			}
		}
	}
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Summary is the median of one broker's runs of one scenario.
type Summary struct {
	Throughput, P50, P99 float64 // msg/s, ms, ms
	Lost, Dup, OOO       int     // summed over runs
	Failed               int     // runs that did not complete
	BrokerCPU, ClientCPU float64 // median seconds per run
	ConnectRate, RSSMiB  float64
	// RSSPerConnKiB is the growth of the broker's RSS during the run per
	// connection held (idle scenario); Seconds the run's elapsed time;
	// CPUPerMsgMicros the broker's CPU per message received.
	RSSPerConnKiB, Seconds, CPUPerMsgMicros float64
}

// Summarize returns the medians per scenario and broker.
func (r *Report) Summarize() map[string]map[string]Summary {
	out := map[string]map[string]Summary{}
	for _, sc := range r.Scenarios {
		out[sc.Tag] = map[string]Summary{}
		for _, p := range r.Peers {
			var tp, p50, p99, bc, cc, cr, rss, perConn, secs, perMsg []float64
			var s Summary
			for _, m := range r.Results {
				if m.Peer != p.Name || m.Scenario != sc.Tag {
					continue
				}
				if m.Err != "" && !strings.Contains(m.Err, ErrLoss.Error()) {
					s.Failed++
					continue
				}
				tp = append(tp, m.Result.Throughput)
				p50 = append(p50, ms(m.Result.P50))
				p99 = append(p99, ms(m.Result.P99))
				bc = append(bc, m.BrokerCPU.Seconds())
				cc = append(cc, m.Result.ClientCPU.Seconds())
				cr = append(cr, m.Result.ConnectRate)
				rss = append(rss, float64(m.BrokerRSS)/(1<<20))
				if n := sc.Config.Subscribers; n > 0 {
					perConn = append(perConn, float64(m.BrokerRSS-m.BrokerRSS0)/1024/float64(n))
				}
				if n := m.Result.Received; n > 0 {
					perMsg = append(perMsg, float64(m.BrokerCPU.Microseconds())/float64(n))
				}
				secs = append(secs, m.Result.Elapsed.Seconds())
				s.Lost += m.Result.Lost
				s.Dup += m.Result.Duplicated
				s.OOO += m.Result.OutOfOrder
			}
			s.Throughput, s.P50, s.P99 = median(tp), median(p50), median(p99)
			s.BrokerCPU, s.ClientCPU = median(bc), median(cc)
			s.ConnectRate, s.RSSMiB = median(cr), median(rss)
			s.RSSPerConnKiB, s.Seconds, s.CPUPerMsgMicros = median(perConn), median(secs), median(perMsg)
			out[sc.Tag][p.Name] = s
		}
	}
	return out
}

// Markdown renders the report: a table per scenario with each broker's
// median and Strata's ratio to the best peer.
func (r *Report) Markdown(command string) string {
	var b strings.Builder
	sum := r.Summarize()
	fmt.Fprintf(&b, "Measured %s with `%s`: %d runs per broker and scenario, interleaved; medians. ",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), command, r.Runs)
	fmt.Fprintf(&b, "Load from `strata bench` with the %s client engine (64-byte payloads), every delivery verified; CPU columns are seconds per run of the broker process and of the load generator.\n\n", r.Client)
	b.WriteString("| broker | configuration |\n|---|---|\n")
	for _, p := range r.Peers {
		fmt.Fprintf(&b, "| %s | %s |\n", p.Name, p.Config)
	}
	for _, sc := range r.Scenarios {
		fmt.Fprintf(&b, "\n**%s. %s**\n\n", sc.Tag, sc.Title)
		if sc.Connections {
			b.WriteString("| broker | connects/s | RSS after | RSS growth per connection | lost / dup / out of order | CPU s: broker / harness |\n|---|---|---|---|---|---|\n")
		} else if sc.Latency {
			b.WriteString("| broker | p50 | p99 | lost / dup / out of order | CPU s: broker / harness |\n|---|---|---|---|---|\n")
		} else {
			b.WriteString("| broker | median | time | broker CPU per message | lost / dup / out of order | CPU s: broker / harness |\n|---|---|---|---|---|---|\n")
		}
		best, bestName := 0.0, ""
		for _, p := range r.Peers {
			s := sum[sc.Tag][p.Name]
			fail := ""
			if s.Failed > 0 {
				fail = fmt.Sprintf(" (%d runs failed)", s.Failed)
			}
			if sc.Connections {
				fmt.Fprintf(&b, "| %s | %.0f | %.0f MiB | %.1f KiB | %d / %d / %d%s | %.1f / %.1f |\n", p.Name, s.ConnectRate, s.RSSMiB, s.RSSPerConnKiB, s.Lost, s.Dup, s.OOO, fail, s.BrokerCPU, s.ClientCPU)
				continue
			} else if sc.Latency {
				fmt.Fprintf(&b, "| %s | %.2f ms | %.2f ms | %d / %d / %d%s | %.1f / %.1f |\n", p.Name, s.P50, s.P99, s.Lost, s.Dup, s.OOO, fail, s.BrokerCPU, s.ClientCPU)
			} else {
				fmt.Fprintf(&b, "| %s | %.0f/s | %.2f s | %.2f µs | %d / %d / %d%s | %.1f / %.1f |\n", p.Name, s.Throughput, s.Seconds, s.CPUPerMsgMicros, s.Lost, s.Dup, s.OOO, fail, s.BrokerCPU, s.ClientCPU)
			}
			if p.Name == "strata" {
				continue
			}
			v := s.Throughput
			if sc.Latency {
				v = s.P99
			}
			if bestName == "" || (!sc.Latency && v > best) || (sc.Latency && v < best) {
				best, bestName = v, p.Name
			}
		}
		if st, ok := sum[sc.Tag]["strata"]; ok && bestName != "" && best > 0 {
			if sc.Latency {
				fmt.Fprintf(&b, "\nStrata p99 %.2f ms against the best peer's (%s) %.2f ms.\n", st.P99, bestName, best)
			} else {
				fmt.Fprintf(&b, "\nStrata / best peer (%s): **%.2f×**.\n", bestName, st.Throughput/best)
			}
		}
	}
	return b.String()
}
