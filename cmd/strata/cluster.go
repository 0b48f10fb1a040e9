package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

// runCluster: strata cluster status|join|remove --server HTTP_ADDR.
func runCluster(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprintln(stdout, "Usage: strata cluster status [--server ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster join --id ID --raft-addr HOST:PORT [--http-addr HOST:PORT] [--server ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster remove --id ID [--server ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster snapshot [--server ADDR] [credentials]")
		fmt.Fprintln(stdout, "       strata cluster keygen FILE")
		fmt.Fprintln(stdout, "\nADDR is a node's HTTP address (default 127.0.0.1:8080) or an http:// or https:// URL;")
		fmt.Fprintln(stdout, "join, remove and snapshot need the admin right; sent to a follower, they follow it to the leader.")
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
	sub, ok := clusterCommands()[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown subcommand %q (status, join, remove, snapshot, keygen)", errUsage, args[0])
	}
	fs := newFlagSet("cluster "+args[0], stderr)
	api := addAPIFlags(fs, sub.server)
	do := sub.flags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	client, err := api.client(35*time.Second, os.Stdin, stderr)
	if err != nil {
		return err
	}
	return do(client, stdout, stderr)
}

// clusterCommand is one `strata cluster X` with its own flags: flags
// registers them on a FlagSet and returns what runs the command once
// they are parsed.
type clusterCommand struct {
	server string // --server's help
	flags  func(fs *flag.FlagSet) func(c *apiClient, stdout, stderr io.Writer) error
}

func clusterCommands() map[string]clusterCommand {
	const member = "a member's HTTP API (a follower forwards you to the leader)"
	return map[string]clusterCommand{
		"status":   {"a node's HTTP API", statusFlags},
		"join":     {member, joinFlags},
		"remove":   {member, removeFlags},
		"snapshot": {member, snapshotFlags},
	}
}

func statusFlags(*flag.FlagSet) func(*apiClient, io.Writer, io.Writer) error {
	return func(c *apiClient, stdout, _ io.Writer) error { return clusterStatus(c, stdout) }
}

func joinFlags(fs *flag.FlagSet) func(*apiClient, io.Writer, io.Writer) error {
	id := fs.String("id", "", "ID of the joining node (required)")
	raftAddr := fs.String("raft-addr", "", "Raft address of the joining node (required)")
	httpAddr := fs.String("http-addr", "", "HTTP address of the joining node, so it can forward proposals")
	return func(c *apiClient, stdout, stderr io.Writer) error {
		if *id == "" || *raftAddr == "" {
			return fmt.Errorf("%w: join needs --id and --raft-addr", errUsage)
		}
		return clusterPost(c, "join", httpapi.JoinRequest{ID: *id, RaftAddr: *raftAddr, HTTPAddr: *httpAddr}, stdout, stderr)
	}
}

func removeFlags(fs *flag.FlagSet) func(*apiClient, io.Writer, io.Writer) error {
	id := fs.String("id", "", "ID of the node to remove (required)")
	return func(c *apiClient, stdout, stderr io.Writer) error {
		if *id == "" {
			return fmt.Errorf("%w: remove needs --id", errUsage)
		}
		return clusterPost(c, "remove", httpapi.RemoveRequest{ID: *id}, stdout, stderr)
	}
}

func snapshotFlags(*flag.FlagSet) func(*apiClient, io.Writer, io.Writer) error {
	return func(c *apiClient, stdout, stderr io.Writer) error {
		return clusterPost(c, "snapshot", struct{}{}, stdout, stderr)
	}
}

func clusterStatus(client *apiClient, stdout io.Writer) error {
	body, err := client.getBody(client.base + "/v1/cluster/status")
	if err != nil {
		return err
	}
	var st replication.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("decode status: %w", err)
	}
	fmt.Fprintf(stdout, "node %s: %s; leader %s (%s)\ncommit index %d, applied %d, next offset %d\n",
		st.ID, st.State, st.LeaderID, st.LeaderAddress, st.CommitIndex, st.AppliedIndex, st.NextOffset)
	if st.Degraded != "" {
		fmt.Fprintf(stdout, "not ready: %s\n", st.Degraded)
	}
	for _, s := range st.Servers {
		role := "nonvoter"
		if s.Voter {
			role = "voter"
		}
		fmt.Fprintf(stdout, "  %-12s %-22s %s\n", s.ID, s.Address, role)
	}
	return nil
}

// clusterPost sends a cluster write. A follower answers 409 with the
// leader's HTTP address: the write is sent there (as serve --join does), a
// few hops at most while leadership moves, with a note on stderr.
func clusterPost(client *apiClient, op string, v any, stdout, stderr io.Writer) error {
	body, _ := json.Marshal(v)
	base := client.base
	for hop := 0; ; hop++ {
		resp, err := postCluster(client, base, op, body)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			out, _ := io.ReadAll(resp.Body)
			fmt.Fprintf(stdout, "%s", out)
			return nil
		}
		e := decodeAPIError(resp)
		if resp.StatusCode != http.StatusConflict || e["leader_http"] == "" || hop == 3 {
			return e.err(resp.Status)
		}
		base = sameScheme(base, e["leader_http"])
		fmt.Fprintf(stderr, "strata cluster %s: sent to the leader %s at %s\n", op, e["leader"], base)
	}
}

func postCluster(client *apiClient, base, op string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest("POST", base+"/v1/cluster/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return client.do(req)
}

// sameScheme is the leader's base URL, over the scheme the user chose.
func sameScheme(base, hostport string) string {
	if strings.HasPrefix(base, "https://") {
		return "https://" + hostport
	}
	return "http://" + hostport
}

// apiErrorBody is an API error answer: "error", and for a follower's 409
// "leader" and "leader_http".
type apiErrorBody map[string]string

func decodeAPIError(resp *http.Response) apiErrorBody {
	var e apiErrorBody
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
	return e
}

func (e apiErrorBody) err(status string) error {
	if leader := e["leader"]; leader != "" {
		return fmt.Errorf("%s: %s (the leader is %s)", status, e["error"], leader)
	}
	return fmt.Errorf("%s: %s", status, e["error"])
}

func apiError(resp *http.Response) error { return decodeAPIError(resp).err(resp.Status) }
