package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// removedMarker is the optional capability of a Node (found by type
// assertion) that takes the leader's word that it was removed.
// *replication.Node implements it.
type removedMarker interface {
	MarkRemoved(id string) error
}

// removed: POST /v1/internal/removed {"id": ...}, the leader telling this
// node it removed it (replication.Options.NotifyRemoved). Node
// connections only: a cluster member says so, nobody else.
func (s *server) removed(w http.ResponseWriter, r *http.Request) {
	var req RemoveRequest
	if err := decodeJSON(r, &req); err != nil || req.ID == "" {
		writeError(w, http.StatusBadRequest, errors.New(`body must be {"id": "..."}`))
		return
	}
	m, ok := s.n.(removedMarker)
	if !ok {
		writeError(w, http.StatusNotImplemented, errors.New("httpapi: this node cannot be told it was removed"))
		return
	}
	if err := m.MarkRemoved(req.ID); err != nil {
		writeError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": req.ID})
}

// NotifyRemoved is a replication.Options.NotifyRemoved over this API's
// internal route, with client (node connections: the cluster's TLS).
func NotifyRemoved(client *http.Client) func(ctx context.Context, httpAddr, id string) error {
	return func(ctx context.Context, httpAddr, id string) error {
		body, _ := json.Marshal(RemoveRequest{ID: id})
		u := "http://" + httpAddr + "/v1/internal/removed"
		req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("httpapi: POST %s: %s", u, resp.Status)
		}
		return nil
	}
}
