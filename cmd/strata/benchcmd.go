package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stratamq/strata/bench"
)

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	var c bench.Config
	var qos uint
	var asJSON, quiet bool
	fs.StringVar(&c.Broker, "broker", "tcp://127.0.0.1:1883", "broker URL (tcp://host:port)")
	fs.StringVar(&c.Scenario, "scenario", "fanin", "fanin (P publishers -> S subscribers), fanout (1 -> S) or latency (fixed rate)")
	fs.IntVar(&c.Publishers, "publishers", 4, "publishers (fanin)")
	fs.IntVar(&c.Subscribers, "subscribers", 1, "subscribers, each receiving every message")
	fs.IntVar(&c.Messages, "messages", 100000, "messages in all (fanin, fanout)")
	fs.IntVar(&c.Size, "size", 64, "payload bytes (at least 24)")
	fs.UintVar(&qos, "qos", 1, "QoS of publishes and subscriptions")
	fs.IntVar(&c.Inflight, "inflight", 100, "publishes outstanding per publisher")
	fs.IntVar(&c.Rate, "rate", 1000, "messages per second (latency)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish (latency)")
	fs.DurationVar(&c.Drain, "drain", 10*time.Second, "how long to wait for late deliveries after publishing")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&quiet, "quiet", false, "no progress line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("%w: --qos must be 0, 1 or 2", errUsage)
	}
	c.QoS = byte(qos)
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
