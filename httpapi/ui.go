package httpapi

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/stratamq/strata/replication"
)

// The dashboard: static files embedded in the binary (plain HTML, CSS and
// JavaScript; no build step, nothing fetched from elsewhere) served at /ui/
// under the API's guard, reading the API with the browser's credentials.
// What it shows is what the API answers that caller; its disconnect and
// delete buttons call the admin routes, which check the admin right.

//go:embed ui
var uiFiles embed.FS

// uiHandler serves the embedded files at /ui/, with headers that keep the
// page from being framed (its buttons act) or loading anything from
// elsewhere.
func uiHandler() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func (s *server) uiRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
}

// stats: GET /v1/stats, this node's counters (Options.Stats) and the
// cluster's sizes from the views, for the dashboard's rates: it polls them
// and divides the differences by the time between its polls.
func (s *server) stats(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{"node": s.o.Identity.ID, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	if s.o.Stats != nil {
		for k, v := range s.o.Stats() {
			out[k] = v
		}
	}
	if s.o.Views != nil {
		v := s.o.Views.View()
		out["sessions"], out["sessions_online"], out["retained"] = v.SessionCount(), v.Connected(), v.RetainedCount()
	}
	r := s.n.Reader()
	out["first_offset"], out["next_offset"] = uint64(r.FirstOffset()), uint64(r.NextOffset())
	writeJSON(w, http.StatusOK, out)
}

// NodeStatus is one member's status in GET /v1/cluster/nodes: its own
// answer, or Error when it could not be asked. Lag is how many Raft
// entries it has yet to apply of what the answering node knows committed.
type NodeStatus struct {
	ID      string              `json:"id"`
	Address string              `json:"address"`
	Voter   bool                `json:"voter"`
	Leader  bool                `json:"leader"`
	Status  *replication.Status `json:"status,omitempty"`
	Lag     *uint64             `json:"lag,omitempty"`
	Error   string              `json:"error,omitempty"`
}

// PeerStatusFunc asks the member id for its status (Options.PeerStatus).
type PeerStatusFunc func(ctx context.Context, id string) (replication.Status, error)

// PeerStatus is a PeerStatusFunc over node connections: client is the
// cluster's node-to-node client, addr gives a member's HTTP address.
func PeerStatus(client *http.Client, addr func(id string) string) PeerStatusFunc {
	return func(ctx context.Context, id string) (replication.Status, error) {
		var st replication.Status
		a := addr(id)
		if a == "" {
			return st, fmt.Errorf("httpapi: no HTTP address known for %s", id)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a+"/v1/internal/status", nil)
		if err != nil {
			return st, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return st, fmt.Errorf("httpapi: %s: %s", a, resp.Status)
		}
		return st, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	}
}

// nodes: GET /v1/cluster/nodes, every member's status, asked over node
// connections in parallel (2 s each), with its lag behind this node's
// commit index.
func (s *server) nodes(w http.ResponseWriter, r *http.Request) {
	self, err := s.n.Status()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	out := make([]NodeStatus, len(self.Servers))
	var wg sync.WaitGroup
	for i, sv := range self.Servers {
		out[i] = NodeStatus{ID: sv.ID, Address: sv.Address, Voter: sv.Voter, Leader: sv.ID == self.LeaderID}
		wg.Add(1)
		go func(ns *NodeStatus) {
			defer wg.Done()
			s.fillNode(r.Context(), ns, self)
		}(&out[i])
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"node": self.ID, "leader_id": self.LeaderID, "nodes": out})
}

func (s *server) fillNode(ctx context.Context, ns *NodeStatus, self replication.Status) {
	st := self
	if ns.ID != self.ID {
		if s.o.PeerStatus == nil {
			ns.Error = "this node cannot ask its peers"
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var err error
		if st, err = s.o.PeerStatus(ctx, ns.ID); err != nil {
			ns.Error = err.Error()
			return
		}
	}
	ns.Status = &st
	lag := uint64(0)
	if self.CommitIndex > st.AppliedIndex {
		lag = self.CommitIndex - st.AppliedIndex
	}
	ns.Lag = &lag
}
