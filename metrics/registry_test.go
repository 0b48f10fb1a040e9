package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/log"
)

// TestRegistryHooks: what the hooks observe shows in the exposition, and
// two registries (two nodes in one process) do not share anything.
func TestRegistryHooks(t *testing.T) {
	r, other := New("n1", "v1"), New("n2", "v1")
	o := r.Replication()
	o.Commit(3 * time.Millisecond)
	o.EntryRecords(7)
	o.RaftAppend(2, time.Millisecond)
	var lo log.Options
	r.ObserveLog(&lo)
	lo.ObserveSync(time.Millisecond)
	lo.OnRetention(4096)
	r.HTTP().AuthFailures.Add(3)
	text := scrapeText(t, r)
	for _, want := range []string{
		`strata_node_info{node_id="n1",version="v1"} 1`,
		"strata_commit_latency_seconds_count 1",
		"strata_commit_latency_seconds_sum 0.003",
		"strata_batch_records_sum 7",
		"strata_batch_entries_per_fsync_sum 2",
		`strata_fsync_duration_seconds_count{store="raft_wal"} 1`,
		`strata_fsync_duration_seconds_count{store="segment"} 1`,
		"strata_retention_deleted_segments_total 1",
		"strata_retention_deleted_bytes_total 4096",
		`strata_auth_failures_total{protocol="http"} 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no %q in the exposition:\n%s", want, text)
		}
	}
	if text := scrapeText(t, other); !strings.Contains(text, "strata_commit_latency_seconds_count 0\n") ||
		!strings.Contains(text, `strata_auth_failures_total{protocol="http"} 0`) {
		t.Errorf("the second registry saw the first one's observations:\n%s", text)
	}
}

func scrapeText(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}
