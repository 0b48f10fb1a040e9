package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/replication"
)

type serveFlags struct {
	dataDir, nodeID, raftAddr, httpAddr, join, logLevel string
	bootstrapExpect                                     int
}

func runServe(args []string, _ io.Writer, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var f serveFlags
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory for the log, Raft state and snapshots")
	fs.StringVar(&f.nodeID, "node-id", "node1", "this node's unique ID in the cluster")
	fs.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7000", "Raft transport address (bind and advertise)")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP API address (health, cluster admin, publish)")
	fs.StringVar(&f.join, "join", "", "HTTP address of a cluster member to join; with --bootstrap-expect, the comma-separated HTTP addresses of the other founding nodes (omit both to start or restart a cluster of this node)")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "start a new cluster once this many founding nodes (this one included, found through --join) are up")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.bootstrapExpect < 0 || (f.bootstrapExpect > 1 && f.join == "") {
		return fmt.Errorf("%w: --bootstrap-expect N needs N >= 1 and --join with the other nodes' HTTP addresses", errUsage)
	}
	level, err := zerolog.ParseLevel(f.logLevel)
	if err != nil {
		return fmt.Errorf("%w: --log-level %q: %v", errUsage, f.logLevel, err)
	}
	logger := zerolog.New(os.Stderr).Level(level).With().Timestamp().Str("node", f.nodeID).Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, f, logger)
}

func serve(ctx context.Context, f serveFlags, logger zerolog.Logger) error {
	o := replication.DefaultOptions()
	o.NodeID, o.RaftAddr, o.DataDir = f.nodeID, f.raftAddr, f.dataDir
	o.Bootstrap = f.join == "" || f.bootstrapExpect == 1
	o.HTTPAddr = f.httpAddr
	o.Forward = httpapi.Forward(&http.Client{Timeout: 30 * time.Second})
	o.Machine = replication.NewFSMMachine()
	o.Logger = logger
	o.Log.Logger = logger
	if err := os.MkdirAll(filepath.Clean(f.dataDir), 0o755); err != nil {
		return err
	}
	node, err := replication.New(o)
	if err != nil {
		return err
	}
	defer node.Close()
	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	ao := httpapi.DefaultOptions()
	ao.Identity = httpapi.Identity{ID: f.nodeID, RaftAddr: f.raftAddr, HTTPAddr: f.httpAddr}
	hs := &http.Server{Handler: httpapi.Handler(node, ao), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	logger.Info().Str("http", ln.Addr().String()).Str("raft", f.raftAddr).Str("data_dir", f.dataDir).Msg("strata node started")
	switch {
	case f.bootstrapExpect > 1:
		if err := bootstrapExpect(ctx, node, ao.Identity, splitList(f.join), f.bootstrapExpect); err != nil {
			return err
		}
	case f.join != "":
		if err := joinCluster(ctx, f); err != nil {
			return err
		}
	}
	<-ctx.Done()
	logger.Info().Msg("shutting down")
	return nil
}

// joinCluster asks the member at f.join to add this node; a member that is
// not the leader answers 409 with the leader's HTTP address, which is tried
// next. It retries until it succeeds or ctx ends.
func joinCluster(ctx context.Context, f serveFlags) error {
	body, _ := json.Marshal(httpapi.JoinRequest{ID: f.nodeID, RaftAddr: f.raftAddr, HTTPAddr: f.httpAddr})
	target := f.join
	var last error
	for {
		resp, err := http.Post(httpURL(target)+"/v1/cluster/join", "application/json", bytes.NewReader(body))
		if err == nil {
			var answer map[string]string
			json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, answer["error"])
			target = f.join
			if leader := answer["leader_http"]; resp.StatusCode == http.StatusConflict && leader != "" {
				target = leader
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w (last error: %v)", f.join, ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func httpURL(addr string) string {
	if bytes.HasPrefix([]byte(addr), []byte("http://")) || bytes.HasPrefix([]byte(addr), []byte("https://")) {
		return addr
	}
	return "http://" + addr
}
