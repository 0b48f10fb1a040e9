package httpapi

import (
	"strings"
	"testing"

	"github.com/stratamq/strata/fsm"
)

// TestRevokeKey: POST /v1/keys/{id}/revoke commits a revocation entry; a
// bad id is 400 and proposes nothing.
func TestRevokeKey(t *testing.T) {
	n := newNode(t)
	h := Handler(n, DefaultOptions())
	id := "0123456789abcdef0123456789abcdef"
	code, out := do(t, h, "POST", "/v1/keys/"+id+"/revoke", "")
	if code != 200 || out["key"] != id || out["offset"] != float64(0) {
		t.Fatalf("revoke: %d %v", code, out)
	}
	for _, bad := range []string{"XYZ", strings.Repeat("a", 65), "a%2Fb"} {
		code, out := do(t, h, "POST", "/v1/keys/"+bad+"/revoke", "")
		if code != 400 {
			t.Errorf("revoke %q: %d %v, want 400", bad, code, out)
		}
	}
	it := n.Log().Iter(0)
	defer it.Close()
	var got []fsm.Entry
	for it.Next() {
		e, err := fsm.DecodeRecord(it.Record())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 1 || got[0].Kind != fsm.KindKeyRevoke || got[0].KeyID != id {
		t.Fatalf("log holds %+v, want one revocation of %s", got, id)
	}
}
