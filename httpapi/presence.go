package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/topic"
)

// Presence is GET /v1/presence's answer: who listens on a filter, read
// from this node's fsm views (the whole cluster's, as the other admin
// routes). Subscribers has one item per subscription whose filter
// overlaps Filter (topic.Overlap: some topic name matches both, so
// "chat/room1" lists "chat/room1", "chat/+", "chat/#" and "#"), in
// (client id, filter) order; Connected names the clients among them that
// are online, once each; Count is len(Subscribers).
type Presence struct {
	Filter      string           `json:"filter"`
	Count       int              `json:"count"`
	Subscribers []PresenceMember `json:"subscribers"`
	Connected   []string         `json:"connected"`
}

// PresenceMember is one subscription of a presence answer. Node is the
// node holding the client's connection, empty while it is offline.
type PresenceMember struct {
	ClientID     string           `json:"client_id"`
	Node         string           `json:"node,omitempty"`
	Online       bool             `json:"online"`
	Subscription SubscriptionInfo `json:"subscription"`
}

// presence: GET /v1/presence?filter=F. The caller needs the subscribe or
// the replay right on F: it learns who receives what it could read.
func (s *server) presence(w http.ResponseWriter, r *http.Request) {
	filter, err := parsePresenceFilter(r.URL.Query().Get("filter"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if id, c := callerOf(r); !c.AllowFilter(auth.Subscribe, filter) && !c.AllowFilter(auth.Replay, filter) {
		s.forbid(w, r, id, "no subscribe or replay right on "+strconv.Quote(filter))
		return
	}
	v, ok := s.view(w)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, PresenceOf(v, filter))
}

func parsePresenceFilter(filter string) (string, error) {
	if filter == "" {
		return "", errors.New("filter: missing (GET /v1/presence?filter=F)")
	}
	if _, _, shared, _ := topic.ParseShare(filter); shared {
		return "", errors.New("filter: ask for a shared subscription's inner filter, not $share/...")
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return "", fmt.Errorf("filter: %w", err)
	}
	return filter, nil
}

// PresenceOf builds the presence answer for filter (valid, non-shared)
// from v. It is safe for concurrent use: a View is immutable.
func PresenceOf(v *fsm.View, filter string) Presence {
	p := Presence{Filter: filter, Subscribers: []PresenceMember{}, Connected: []string{}}
	v.Presence(filter, func(se fsm.Session, sub fsm.Subscription) bool {
		p.Subscribers = append(p.Subscribers, PresenceMember{ClientID: se.ClientID,
			Node: nodeOf(se.Node), Online: se.Connected, Subscription: subscriptionInfo(sub)})
		if se.Connected && (len(p.Connected) == 0 || p.Connected[len(p.Connected)-1] != se.ClientID) {
			p.Connected = append(p.Connected, se.ClientID)
		}
		return true
	})
	p.Count = len(p.Subscribers)
	return p
}
