package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/segment"
)

// snapshot takes a snapshot on the leader for a backup: POST
// /v1/cluster/snapshot answers its ID, Raft index and directory.
func (s *server) snapshot(w http.ResponseWriter, _ *http.Request) {
	info, err := s.n.TakeSnapshot()
	if err != nil {
		s.leaderOnly(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// segment serves a segment file as this node holds it now, for a peer
// installing a snapshot: GET /v1/internal/segments/{name}. The peer
// verifies every frame before using it.
func (s *server) segment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := segment.ParseFileName(name); !ok {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%q is not a segment name", name))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// Errors after the first byte cut the stream short; the peer's
	// verification rejects a short copy.
	if err := s.n.WriteSegment(name, w); err != nil {
		s.o.Logger.Warn().Err(err).Str("segment", name).Msg("serving a segment to a peer")
		if errors.Is(err, replication.ErrNoSegment) {
			writeError(w, http.StatusNotFound, err)
			return
		}
		writeError(w, http.StatusInternalServerError, err)
	}
}

// FetchSegment is a replication.SegmentFetcher over this API.
func FetchSegment(client *http.Client) replication.SegmentFetcher {
	return func(ctx context.Context, peerHTTP, name string, dst io.Writer) error {
		u := "http://" + peerHTTP + "/v1/internal/segments/" + url.PathEscape(name)
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		_, err = io.Copy(dst, resp.Body)
		return err
	}
}
