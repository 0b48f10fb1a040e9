package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

// bootstrapExpect discovers peers through their internal HTTP API (client
// makes node connections: with a cluster key, only peers holding it answer) until it knows
// expect nodes (itself included), then bootstraps a cluster of all of them.
// Every node started with the same --bootstrap-expect and peer list arrives
// at the same sorted list. A node that already has Raft state skips this.
func bootstrapExpect(ctx context.Context, node *replication.Node, client *http.Client, self httpapi.Identity, peers []string, expect int) error {
	if has, err := node.HasState(); err != nil || has {
		return err
	}
	known := map[string]httpapi.Identity{self.ID: self}
	for len(known) < expect {
		for _, p := range peers {
			var id httpapi.Identity
			if err := getIdentity(ctx, client, p, &id); err == nil && id.ID != "" {
				known[id.ID] = id
			}
		}
		if len(known) >= expect {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap: found %d of %d nodes: %w", len(known), expect, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if has, err := node.HasState(); err != nil || has {
			return err // a peer bootstrapped first and reached us
		}
	}
	var voters []replication.Server
	for _, id := range known {
		voters = append(voters, replication.Server{ID: id.ID, Address: id.RaftAddr, Voter: true})
	}
	sort.Slice(voters, func(i, j int) bool { return voters[i].ID < voters[j].ID })
	return node.BootstrapWith(voters)
}

func getIdentity(ctx context.Context, c *http.Client, addr string, id *httpapi.Identity) error {
	req, err := http.NewRequestWithContext(ctx, "GET", httpURL(addr)+"/v1/internal/identity", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(id)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
