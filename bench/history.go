package bench

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// runStored measures Strata's reads of stored messages: it first publishes
// cfg.Messages (QoS 1, so they are committed), then reads them back, either
// over MQTT ("replay": $replay/0/<topic>, one subscriber) or over HTTP
// ("history": GET /v1/messages at cfg.HTTP). Throughput is the read's
// messages per second; every message is verified once and in order.
func runStored(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Scenario: cfg.Scenario, Broker: cfg.Broker}
	cpu0 := processCPU()
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	topic := fmt.Sprintf("%s/%s/0", cfg.Topic, run)
	pub, err := dial(ctx, &cfg, "bench-"+run+"-pub", nil)
	if err != nil {
		return res, err
	}
	defer pub.Close()
	pcfg := cfg
	pcfg.QoS, pcfg.Scenario = 1, "fanin"
	var sent atomic.Int64
	if err := publish(ctx, pub, &pcfg, 0, cfg.Messages, run, &sent); err != nil {
		return res, err
	}
	res.Sent = int(sent.Load())
	res.Expected = res.Sent
	tr := newTracker(1, cfg.Messages)
	start := time.Now()
	switch cfg.Scenario {
	case "replay":
		done := make(chan struct{})
		sub, err := dial(ctx, &cfg, "bench-"+run+"-replay", func(p []byte) {
			tr.record(p, time.Now())
			if tr.count() == res.Expected {
				close(done)
			}
		})
		if err != nil {
			return res, err
		}
		defer sub.Close()
		start = time.Now()
		if err := sub.Subscribe(ctx, "$replay/0/"+topic, cfg.QoS); err != nil {
			return res, err
		}
		select {
		case <-done:
		case <-time.After(cfg.Drain + time.Duration(cfg.Messages)*time.Millisecond):
		case <-ctx.Done():
			return res, ctx.Err()
		}
	case "history":
		if cfg.HTTP == "" {
			return res, fmt.Errorf("bench: history needs --http (the node's HTTP API address)")
		}
		base := cfg.HTTP
		if !strings.HasPrefix(base, "http") {
			base = "http://" + base
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/messages?filter="+url.QueryEscape(topic), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return res, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("bench: history: %s", resp.Status)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		var row struct {
			Payload string `json:"payload"`
		}
		var buf []byte
		for sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				return res, fmt.Errorf("bench: history line: %w", err)
			}
			buf, err = base64.StdEncoding.AppendDecode(buf[:0], []byte(row.Payload))
			if err != nil {
				return res, fmt.Errorf("bench: history payload: %w", err)
			}
			if len(buf) < 24 {
				return res, fmt.Errorf("bench: history payload of %d bytes, want at least 24", len(buf))
			}
			// Latency is meaningless for a read of stored messages: stamp now.
			binary.BigEndian.PutUint64(buf[16:], uint64(time.Now().UnixNano()))
			tr.record(buf, time.Now())
		}
		if err := sc.Err(); err != nil {
			return res, err
		}
	}
	res.Elapsed = time.Since(start)
	tr.mu.Lock()
	res.Received, res.Duplicated, res.OutOfOrder = tr.received, tr.duplicated, tr.outOfOrder
	tr.mu.Unlock()
	res.Lost = res.Expected - res.Received
	res.Throughput = float64(res.Received) / res.Elapsed.Seconds()
	res.ClientCPU = processCPU() - cpu0
	if !res.OK() {
		return res, fmt.Errorf("%w: %d lost, %d duplicated, %d out of order of %d expected", ErrLoss, res.Lost, res.Duplicated, res.OutOfOrder, res.Expected)
	}
	return res, nil
}
