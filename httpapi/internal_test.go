package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestInternalRoutesAreNotPublic: the public handler has none of the
// routes only nodes call (404, nothing proposed); the internal one has.
func TestInternalRoutesAreNotPublic(t *testing.T) {
	n := newNode(t)
	o := DefaultOptions()
	o.Identity = Identity{ID: "api", RaftAddr: "r", HTTPAddr: "h"}
	pub, internal := Handler(n, o), InternalHandler(n, o)
	next := n.Log().NextOffset()
	for _, r := range [][2]string{{"POST", "/v1/internal/propose"}, {"GET", "/v1/internal/segments/00000000000000000000.seg"},
		{"POST", "/v1/internal/join"}, {"GET", "/v1/internal/identity"}, {"GET", "/v1/internal/status"}} {
		rec := httptest.NewRecorder()
		pub.ServeHTTP(rec, httptest.NewRequest(r[0], r[1], nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("public %s %s: %d, want 404", r[0], r[1], rec.Code)
		}
	}
	if got := n.Log().NextOffset(); got != next {
		t.Fatalf("next offset %d after the public calls, want %d", got, next)
	}
	code, body := do(t, internal, "GET", "/v1/internal/identity", "")
	if code != http.StatusOK || body["id"] != "api" || body["raft_addr"] != "r" {
		t.Fatalf("internal identity: %d %v", code, body)
	}
	code, _ = do(t, internal, "POST", "/v1/internal/join", `{"id":""}`)
	if code != http.StatusBadRequest {
		t.Fatalf("internal join without an id: %d, want 400", code)
	}
}
