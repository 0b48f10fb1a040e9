package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/presence"
)

// Presence is GET /v1/presence's answer: who listens on a filter, read
// from this node's fsm views (the whole cluster's, as the other admin
// routes); presence.Snapshot says what it lists.
type Presence = presence.Snapshot

// PresenceMember is one subscription of a presence answer.
type PresenceMember = presence.Member

// presence: GET /v1/presence?filter=F. The caller needs the subscribe or
// the replay right on F: it learns who receives what it could read.
func (s *server) presence(w http.ResponseWriter, r *http.Request) {
	filter, err := parsePresenceFilter(r.URL.Query().Get("filter"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if id, c := callerOf(r); !auth.MayObserve(c, filter) {
		s.forbid(w, r, id, "no subscribe or replay right on "+strconv.Quote(filter))
		return
	}
	v, ok := s.view(w)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, presence.Of(v, filter))
}

func parsePresenceFilter(filter string) (string, error) {
	f, err := presence.ParseFilter(filter)
	if err != nil {
		return "", fmt.Errorf("filter: %w (GET /v1/presence?filter=F)", err)
	}
	return f, nil
}
