package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

// runCluster: strata cluster status|join|remove --server HTTP_ADDR.
func runCluster(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(stdout, "Usage: strata cluster status [--server ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster join --id ID --raft-addr HOST:PORT [--http-addr HOST:PORT] [--server LEADER_ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster remove --id ID [--server LEADER_ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster snapshot [--server LEADER_ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster keygen FILE")
		fmt.Fprintln(stdout, "\nADDR is a node's HTTP address (default 127.0.0.1:8080) or an http:// or https:// URL;")
		fmt.Fprintln(stdout, "join, remove and snapshot go to the leader and need the admin right.")
		fmt.Fprintln(stdout, "Credentials: --user NAME (password from $STRATA_PASSWORD, else prompted), or --token-file FILE")
		fmt.Fprintln(stdout, "(or $STRATA_TOKEN); --ca FILE trusts an https server's certificate.")
		fmt.Fprintln(stdout, "snapshot takes a Raft snapshot now and prints its directory on the leader: copy that")
		fmt.Fprintln(stdout, "directory for a backup (docs/operations.md).")
		fmt.Fprintln(stdout, "keygen writes a new cluster key for serve --cluster-key (docs/security.md).")
		return nil
	}
	if args[0] == "keygen" {
		return clusterKeygen(args[1:], stdout, stderr)
	}
	fs := newFlagSet("cluster "+args[0], stderr)
	api := addAPIFlags(fs, "a node's HTTP API")
	id := fs.String("id", "", "node ID (join, remove)")
	raftAddr := fs.String("raft-addr", "", "Raft address of the joining node (join)")
	httpAddr := fs.String("http-addr", "", "HTTP address of the joining node, so it can forward proposals (join)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "status", "join", "remove", "snapshot":
	default:
		return fmt.Errorf("%w: unknown subcommand %q (status, join, remove, snapshot, keygen)", errUsage, args[0])
	}
	client, err := api.client(35*time.Second, os.Stdin, stderr)
	if err != nil {
		return err
	}
	switch args[0] {
	case "status":
		return clusterStatus(client, stdout)
	case "join":
		if *id == "" || *raftAddr == "" {
			return fmt.Errorf("%w: join needs --id and --raft-addr", errUsage)
		}
		return clusterPost(client, "join", httpapi.JoinRequest{ID: *id, RaftAddr: *raftAddr, HTTPAddr: *httpAddr}, stdout)
	case "remove":
		if *id == "" {
			return fmt.Errorf("%w: remove needs --id", errUsage)
		}
		return clusterPost(client, "remove", httpapi.RemoveRequest{ID: *id}, stdout)
	case "snapshot":
		return clusterPost(client, "snapshot", struct{}{}, stdout)
	}
	return nil
}

func clusterStatus(client *apiClient, stdout io.Writer) error {
	req, err := http.NewRequest("GET", client.base+"/v1/cluster/status", nil)
	if err != nil {
		return err
	}
	resp, err := client.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	var st replication.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	fmt.Fprintf(stdout, "node %s: %s; leader %s (%s)\ncommit index %d, applied %d, next offset %d\n",
		st.ID, st.State, st.LeaderID, st.LeaderAddress, st.CommitIndex, st.AppliedIndex, st.NextOffset)
	for _, s := range st.Servers {
		role := "nonvoter"
		if s.Voter {
			role = "voter"
		}
		fmt.Fprintf(stdout, "  %-12s %-22s %s\n", s.ID, s.Address, role)
	}
	return nil
}

func clusterPost(client *apiClient, op string, v any, stdout io.Writer) error {
	body, _ := json.Marshal(v)
	req, err := http.NewRequest("POST", client.base+"/v1/cluster/"+op, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	out, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(stdout, "%s", out)
	return nil
}

func apiError(resp *http.Response) error {
	var e map[string]string
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
	if leader := e["leader"]; leader != "" {
		return fmt.Errorf("%s: %s (the leader is %s)", resp.Status, e["error"], leader)
	}
	return fmt.Errorf("%s: %s", resp.Status, e["error"])
}
