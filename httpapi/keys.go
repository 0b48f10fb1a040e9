package httpapi

import (
	"errors"
	"net/http"

	"github.com/stratamq/strata/fsm"
)

// revokeKey revokes a signed key: POST /v1/keys/{id}/revoke proposes a
// KindKeyRevoke entry and answers {"offset": N, "key": ID} once it is
// committed; from that offset on every node refuses the key and closes the
// connections it admitted. An admin operation.
func (s *server) revokeKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validKeyID(id) {
		writeError(w, http.StatusBadRequest, errors.New("a key id is 1 to 64 lower-case hex digits"))
		return
	}
	if off, ok := s.proposeEntry(w, r, &fsm.Entry{Kind: fsm.KindKeyRevoke, KeyID: id}); ok {
		writeJSON(w, http.StatusOK, map[string]any{"offset": uint64(off), "key": id})
	}
}

// validKeyID accepts what auth makes (32 hex digits) and bounds anything
// else to the entry's limit.
func validKeyID(id string) bool {
	if id == "" || len(id) > fsm.MaxKeyIDLen {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
