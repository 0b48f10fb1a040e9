package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stratamq/strata/bench"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "compare" {
		return runBenchCompare(args[1:], stdout, stderr)
	}
	fs := newFlagSet("bench", stderr)
	var c bench.Config
	var qos uint
	var asJSON, quiet bool
	fs.StringVar(&c.Broker, "broker", "tcp://127.0.0.1:1883", "broker URL (tcp://host:port, or ssl://host:port for TLS)")
	fs.StringVar(&c.Scenario, "scenario", "fanin", "fanin (P publishers -> S subscribers), fanout (1 -> S), latency (fixed rate) connections (S subscribers held, a trickle at --rate), replay or history (Strata only: N stored messages read back over MQTT $replay or HTTP), idle (S connections held for --duration), retained (N retained topics, then one subscribe to all), wildcards (--filters wildcard subscriptions over S connections, N publishes each matching one)")
	fs.Func("sub-broker", "where subscribers connect instead of --broker (repeat or comma-separate for several, used in turn: followers of a cluster)", func(v string) error {
		c.SubBrokers = append(c.SubBrokers, splitList(v)...)
		return nil
	})
	fs.IntVar(&c.Publishers, "publishers", 4, "publishers (fanin)")
	fs.IntVar(&c.Subscribers, "subscribers", 1, "subscribers, each receiving every message")
	fs.IntVar(&c.Messages, "messages", 100000, "messages in all (fanin, fanout, wildcards; retained topics for retained)")
	fs.IntVar(&c.Filters, "filters", 100000, "wildcard subscriptions in all (wildcards)")
	fs.IntVar(&c.Size, "size", 64, "payload bytes (at least 24)")
	fs.UintVar(&qos, "qos", 1, "QoS of publishes and subscriptions")
	fs.IntVar(&c.Inflight, "inflight", 100, "publishes outstanding per publisher")
	fs.IntVar(&c.Rate, "rate", 1000, "messages per second (latency)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish (latency, connections) or hold (idle)")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "how long to wait for late deliveries after publishing")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "the node's HTTP API (history scenario)")
	fs.StringVar(&c.Client, "client", "paho", "client engine: paho (paho.mqtt.golang) or lean (built in, pipelined, few allocations)")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&quiet, "quiet", false, "no progress line")
	fs.StringVar(&c.Username, "username", "", "user name sent in every CONNECT (its password from $STRATA_BENCH_PASSWORD)")
	var tf benchTLSFlags
	fs.StringVar(&tf.ca, "tls-ca", "", "PEM CA to trust for ssl:// brokers (default: the system's roots)")
	fs.StringVar(&tf.cert, "tls-cert", "", "PEM client certificate for ssl:// brokers (with --tls-key)")
	fs.StringVar(&tf.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: strata bench [flags]          one scenario against --broker")
		fmt.Fprintln(stderr, "       strata bench compare [flags]  Strata, mosquitto, nats-server and mochi-mqtt side by side (see 'strata bench compare --help')")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("%w: --qos must be 0, 1 or 2", errUsage)
	}
	c.QoS = byte(qos)
	c.Password = os.Getenv("STRATA_BENCH_PASSWORD") // not a flag: argv is visible to every user
	var err error
	if c.TLS, err = tf.config(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer = stderr
	if quiet {
		progress = nil
	}
	res, err := bench.Run(ctx, c, progress)
	if err != nil && !errors.Is(err, bench.ErrLoss) {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.Encode(res)
	} else {
		printResult(stdout, res)
	}
	if err != nil {
		fmt.Fprintf(stderr, "\n!!! %v\n", err)
		return err
	}
	return nil
}

func printResult(w io.Writer, r bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s\nbroker\t%s\n", r.Scenario, r.Broker)
	fmt.Fprintf(tw, "sent\t%d\nreceived\t%d of %d\nlost / duplicated / out of order\t%d / %d / %d\n",
		r.Sent, r.Received, r.Expected, r.Lost, r.Duplicated, r.OutOfOrder)
	fmt.Fprintf(tw, "elapsed\t%v\ndeliveries/s\t%.0f\n", r.Elapsed.Round(time.Millisecond), r.Throughput)
	fmt.Fprintf(tw, "latency p50 / p90 / p99 / p99.9 / max\t%v / %v / %v / %v / %v\n",
		ms(r.P50), ms(r.P90), ms(r.P99), ms(r.P999), ms(r.Max))
	fmt.Fprintf(tw, "harness CPU\t%v\n", r.ClientCPU.Round(time.Millisecond))
	tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

const (
	compareBegin = "<!-- strata bench compare: begin -->"
	compareEnd   = "<!-- strata bench compare: end -->"
)

// runBenchCompare: strata bench compare — starts Strata and its peers on
// 127.0.0.1, runs anchors.md's scenarios on each and writes the tables into
// --out between the compare markers.
func runBenchCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench compare", stderr)
	peers := fs.String("peers", "mosquitto,nats,mochi", "peers besides Strata: mosquitto, nats (nats-server), mochi (mochi-mqtt)")
	runs := fs.Int("runs", 3, "runs per broker and scenario (medians are reported)")
	scale := fs.Float64("scale", 1, "scale message counts and durations (e.g. 0.1 for a quick look)")
	only := fs.String("scenarios", "a,b,c,d,e", "which scenarios to run: anchors.md a-d, e (connections); scale: f (idle connections), g (retained on subscribe), h (wildcard routing)")
	engine := fs.String("client", "paho", "client engine: paho or lean")
	out := fs.String("out", "docs/benchmarks.md", "markdown file whose compare section is replaced ('-': stdout)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *runs < 1 || *scale <= 0 {
		return fmt.Errorf("%w: --runs must be at least 1 and --scale positive", errUsage)
	}
	var scs []bench.Scenario
	for _, sc := range append(bench.StandardScenarios(*scale), bench.ScaleScenarios(*scale)...) {
		if strings.Contains(","+*only+",", ","+sc.Tag+",") {
			scs = append(scs, sc)
		}
	}
	if len(scs) == 0 {
		return fmt.Errorf("%w: --scenarios %q names none of a-h", errUsage, *only)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Compare(ctx, bench.CompareOptions{Peers: splitList(*peers), Runs: *runs, Scenarios: scs,
		Size: 64, Drain: 5 * time.Second, Client: *engine, Log: stderr})
	if err != nil {
		return err
	}
	md := rep.Markdown("strata bench compare " + strings.Join(args, " "))
	if *out == "-" {
		fmt.Fprint(stdout, md)
		return nil
	}
	old, err := os.ReadFile(*out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	section := compareBegin + "\n" + md + compareEnd
	text := string(old)
	if i, j := strings.Index(text, compareBegin), strings.Index(text, compareEnd); i >= 0 && j > i {
		text = text[:i] + section + text[j+len(compareEnd):]
	} else {
		text += "\n## Strata and its peers side by side (`strata bench compare`)\n\n" + section + "\n"
	}
	if err := os.WriteFile(*out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

// benchTLSFlags are the client side of ssl:// brokers.
type benchTLSFlags struct{ ca, cert, key string }

func (t benchTLSFlags) config() (*tls.Config, error) {
	if t.ca == "" && t.cert == "" && t.key == "" {
		return nil, nil
	}
	if (t.cert == "") != (t.key == "") {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.ca != "" {
		pool, err := certPool(t.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		conf.RootCAs = pool
	}
	if t.cert != "" {
		pair, err := tls.LoadX509KeyPair(t.cert, t.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}
