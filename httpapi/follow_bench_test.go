package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stratamq/strata/fsm"
)

// BenchmarkFollowLatency: one publish at a time through a real node, each
// awaited on a follow=true stream; reports the median and p99 from the
// proposal to the record read by the HTTP client (commit included) and
// from the proposal's answer (applied here) to the read.
func BenchmarkFollowLatency(b *testing.B) {
	n, m := newNodeMachine(b)
	ao := DefaultOptions()
	ao.Views = m
	srv := httptest.NewServer(Handler(n, ao))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/messages?filter=lat/%23&follow=true", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	rec, _ := (&fsm.Entry{Kind: fsm.KindPublish, ClientID: "c", Publish: fsm.Publish{Message: fsm.Message{Topic: "lat/x", Payload: []byte("p")}}}).Record()
	var total, afterApply []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		off, err := n.Propose(ctx, rec).Wait()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		var row histRow
		if !sc.Scan() || json.Unmarshal(sc.Bytes(), &row) != nil || row.Offset != uint64(off) {
			b.Fatalf("row %q, want offset %d", sc.Text(), off)
		}
		total, afterApply = append(total, time.Since(t0)), append(afterApply, time.Since(t1))
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"publish-to-read": total, "applied-to-read": afterApply} {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), name+"-p99-µs")
	}
}
