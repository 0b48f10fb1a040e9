package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/housekeeping"
	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/metrics"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/replication"
	"github.com/stratamq/strata/trust"
)

type serveFlags struct {
	dataDir, nodeID, raftAddr, httpAddr, join, logLevel string
	// advertisedHTTP is the HTTP address the other nodes are given (member
	// record, join): --http, or, when it binds every interface, the
	// --raft-addr host with the --http port (advertiseAddrs).
	advertisedHTTP  string
	bootstrapExpect int

	mqttAddr, mqttTLSAddr, wsAddr, tlsCert, tlsKey, passwordFile string
	aclFile                                                      string
	allowAnonymous, httpTLS, pprof                               bool
	mqtt                                                         mqtt.Options
	retentionBytes                                               int64
	retentionAge                                                 time.Duration
	scrubInterval                                                time.Duration
	segmentBytes                                                 int64
	maxKeepAlive, receiveMaximum, maxInflight, topicAliasMax     uint
	maxPacketSize                                                uint
	authLimit                                                    auth.LimiterOptions
	keys                                                         keyFlags

	trust   trustFlags
	cluster *trust.Cluster // loaded from trust; nil: loopback-only, no trust
}

func runServe(args []string, _ io.Writer, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var f serveFlags
	registerServeFlags(fs, &f)
	var configFile string
	fs.StringVar(&configFile, "config", "", "YAML file of settings: keys are these flags' names (e.g. 'mqtt: 127.0.0.1:1883'); the command line wins")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if configFile != "" {
		if err := applyConfigFile(fs, configFile); err != nil {
			return fmt.Errorf("%w: --config %w", errUsage, err)
		}
	}
	if err := checkServeFlags(&f); err != nil {
		return err
	}
	cluster, err := f.trust.load(f.raftAddr, f.httpAddr)
	if err != nil {
		return err
	}
	f.cluster = cluster
	level, err := parseLogLevel(f.logLevel)
	if err != nil {
		return err
	}
	logger := zerolog.New(os.Stderr).Level(level).With().Timestamp().Str("node", f.nodeID).Logger()
	f.trust.warnLoose(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal ends the process at once
	reload := &reloaders{logger: logger}
	reload.onSIGHUP(ctx)
	err = serve(ctx, f, reload, logger)
	if err != nil && ctx.Err() != nil {
		logger.Warn().Err(err).Msg("start-up interrupted by a signal")
		return nil
	}
	return err
}

// registerServeFlags defines serve's flags on fs, filling f.
func registerServeFlags(fs *flag.FlagSet, f *serveFlags) {
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory for the log, Raft state and snapshots (made 0700; files in it 0600)")
	fs.StringVar(&f.nodeID, "node-id", "node1", "this node's unique ID in the cluster")
	fs.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7000", "Raft transport address (bind and advertise): this node's own IP or host name, as the other nodes dial it (not 0.0.0.0)")
	fs.StringVar(&f.httpAddr, "http", "127.0.0.1:8080", "HTTP API address (health, cluster admin, publish, history); off loopback every endpoint but /healthz and /readyz needs credentials (docs/security.md). Binding every interface (0.0.0.0:8080), the other nodes are given the --raft-addr host with this port")
	fs.StringVar(&f.join, "join", "", "HTTP address of a cluster member to join; with --bootstrap-expect, the comma-separated HTTP addresses of the other founding nodes (omit both to start or restart a cluster of this node)")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "start a new cluster once this many founding nodes (this one included, found through --join) are up")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	f.mqtt = mqtt.DefaultOptions()
	fs.StringVar(&f.mqttAddr, "mqtt", "127.0.0.1:1883", "MQTT over TCP listen address (empty: none)")
	fs.StringVar(&f.mqttTLSAddr, "mqtt-tls", "", "MQTT over TLS listen address (default 127.0.0.1:8883 when --tls-cert is set)")
	fs.StringVar(&f.wsAddr, "ws", "127.0.0.1:8083", "MQTT over WebSocket listen address, path /mqtt (wss when --tls-cert is set; empty: none)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) for the TLS and wss listeners")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.passwordFile, "password-file", "", "file of user:bcrypt-hash lines (see 'strata passwd'): MQTT clients sending a user name and HTTP API callers (Basic) are checked against it; clients without credentials are then refused on every MQTT listener, and the API requires credentials on loopback too, unless --allow-anonymous; SIGHUP reloads it")
	authLimitFlags(fs, &f.authLimit)
	f.keys.register(fs)
	fs.BoolVar(&f.allowAnonymous, "allow-anonymous", false, "admit MQTT clients without credentials on every listener (default: only on loopback listeners, and on none with --password-file); the HTTP API always needs credentials off loopback")
	fs.StringVar(&f.aclFile, "acl-file", "", "ACL in mosquitto's acl_file syntax, or YAML when the name ends in .yaml/.yml (docs/security.md); what it does not grant is denied, over MQTT and the HTTP API; SIGHUP reloads it")
	fs.BoolVar(&f.httpTLS, "http-tls", false, "serve the HTTP API over TLS (https) with --tls-cert/--tls-key (nodes reach each other on node connections of the same port, under the cluster's own TLS)")
	fs.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof/ on the HTTP API (admin right); only with a loopback --http address")
	fs.IntVar(&f.mqtt.MaxConnections, "max-connections", 0, "most MQTT connections this node holds (0: no limit); more get CONNACK 0x97")
	fs.UintVar(&f.maxPacketSize, "max-packet-size", uint(f.mqtt.MaxPacketSize), "largest MQTT packet accepted, in bytes; larger ones get DISCONNECT 0x95")
	fs.UintVar(&f.receiveMaximum, "receive-maximum", uint(f.mqtt.ReceiveMaximum), "QoS 1/2 publishes a client may have unacknowledged; more get DISCONNECT 0x93")
	fs.UintVar(&f.maxInflight, "max-inflight", uint(f.mqtt.MaxInflight), "QoS 1/2 messages in flight to a client (also bounded by its Receive Maximum)")
	fs.UintVar(&f.topicAliasMax, "topic-alias-maximum", uint(f.mqtt.TopicAliasMaximum), "topic aliases an MQTT 5 client may set")
	fs.UintVar(&f.maxKeepAlive, "max-keep-alive", uint(f.mqtt.MaxKeepAlive), "largest keep alive in seconds; MQTT 5 clients asking more (or 0) get Server Keep Alive")
	fs.IntVar(&f.mqtt.MaxTopicLength, "max-topic-length", f.mqtt.MaxTopicLength, "longest topic name or filter in bytes; the default, MQTT's own limit, accepts every valid topic")
	fs.BoolVar(&f.mqtt.NoMatchingSubscribers, "no-matching-subscribers", f.mqtt.NoMatchingSubscribers, "answer an MQTT 5 QoS 1/2 publish that matched no subscription with PUBACK/PUBREC 0x10 (the message is logged and replayable either way); false sends 0x00")
	fs.DurationVar(&f.mqtt.ConnectTimeout, "connect-timeout", f.mqtt.ConnectTimeout, "close sockets that send no CONNECT within this time")
	fs.IntVar(&f.mqtt.QueueLength, "queue-length", f.mqtt.QueueLength, "deliveries queued in memory per connection; past it the connection reads its backlog from the log by position (QoS 0 too: only what retention removes before it is read is dropped)")
	fs.BoolVar(&f.mqtt.OffsetProperty, "offset-property", false, "add the user property offset (the message's log offset) to every MQTT 5 delivery; by default only subscriptions asking for it (SUBSCRIBE user property offset=true) and replays get it, since it alters the publisher's user properties")
	fs.DurationVar(&f.mqtt.SysInterval, "sys-interval", f.mqtt.SysInterval, "period of $SYS/ statistics (0: none)")
	fs.Int64Var(&f.retentionBytes, "retention-bytes", 0, "delete the oldest segments while the log is larger than this (0: no size limit)")
	f.retentionAge = 7 * 24 * time.Hour
	fs.Var(daysDuration{&f.retentionAge}, "retention-age", "delete segments whose newest message is this much older than the log's newest: 7d, 2w, 36h (0: keep forever)")
	fs.Int64Var(&f.segmentBytes, "segment-bytes", replication.DefaultOptions().Log.SegmentBytes, "roll the active segment once it holds this many bytes (sealed segments are the unit of retention, snapshots and repair)")
	fs.DurationVar(&f.scrubInterval, "scrub-interval", replication.DefaultOptions().ScrubInterval, "read every sealed segment whole and verify it this often; a damaged one is repaired from a peer")
	f.trust.register(fs)
}

// checkServeFlags checks the flags' values and settles what follows from
// them (the MQTT limits, the TLS listener's default address).
func checkServeFlags(f *serveFlags) error {
	for _, lim := range []struct {
		name string
		v    uint
		max  uint
		dst  *uint16
	}{{"max-keep-alive", f.maxKeepAlive, 65535, &f.mqtt.MaxKeepAlive}, {"receive-maximum", f.receiveMaximum, 65535, &f.mqtt.ReceiveMaximum},
		{"max-inflight", f.maxInflight, 65535, &f.mqtt.MaxInflight}, {"topic-alias-maximum", f.topicAliasMax, 65535, &f.mqtt.TopicAliasMaximum}} {
		if lim.v > lim.max {
			return fmt.Errorf("%w: --%s %d is above %d", errUsage, lim.name, lim.v, lim.max)
		}
		*lim.dst = uint16(lim.v)
	}
	if err := checkAuthLimit(f.authLimit); err != nil {
		return err
	}
	if f.retentionBytes < 0 || f.retentionAge < 0 {
		return fmt.Errorf("%w: --retention-bytes and --retention-age must not be negative", errUsage)
	}
	if f.scrubInterval <= 0 {
		return fmt.Errorf("%w: --scrub-interval must be positive", errUsage)
	}
	if f.segmentBytes < 4096 {
		return fmt.Errorf("%w: --segment-bytes must be at least 4096", errUsage)
	}
	if f.maxPacketSize < 64 || f.maxPacketSize > 268435460 {
		return fmt.Errorf("%w: --max-packet-size must be 64..268435460 bytes", errUsage)
	}
	f.mqtt.MaxPacketSize = uint32(f.maxPacketSize)
	f.mqtt.AllowAnonymous = f.allowAnonymous
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	if f.tlsCert != "" && f.mqttTLSAddr == "" {
		f.mqttTLSAddr = "127.0.0.1:8883"
	}
	if f.mqttTLSAddr != "" && f.tlsCert == "" {
		return fmt.Errorf("%w: --mqtt-tls needs --tls-cert and --tls-key", errUsage)
	}
	if err := f.keys.check(f.mqttTLSAddr != ""); err != nil {
		return err
	}
	if err := checkHTTPFlags(*f); err != nil {
		return err
	}
	if f.bootstrapExpect < 0 || (f.bootstrapExpect > 1 && f.join == "") {
		return fmt.Errorf("%w: --bootstrap-expect N needs N >= 1 and --join with the other nodes' HTTP addresses", errUsage)
	}
	var err error
	f.advertisedHTTP, err = advertiseAddrs(f.raftAddr, f.httpAddr)
	return err
}

// advertiseAddrs checks --raft-addr, which the node binds and the other
// nodes dial, so it cannot be an unspecified address (0.0.0.0, ::, or no
// host); and returns the HTTP address to give the other nodes: --http, or
// the --raft-addr host with its port when --http binds every interface.
func advertiseAddrs(raftAddr, httpAddr string) (string, error) {
	rh, _, err := net.SplitHostPort(raftAddr)
	if err != nil {
		return "", fmt.Errorf("%w: --raft-addr %s: %w", errUsage, raftAddr, err)
	}
	if unspecifiedHost(rh) {
		return "", fmt.Errorf("%w: --raft-addr %s: the other nodes dial this address, so it must be this node's own IP address or host name, not one that binds every interface", errUsage, raftAddr)
	}
	hh, hp, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", fmt.Errorf("%w: --http %s: %w", errUsage, httpAddr, err)
	}
	if unspecifiedHost(hh) {
		return net.JoinHostPort(rh, hp), nil
	}
	return httpAddr, nil
}

func unspecifiedHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "" || ip != nil && ip.IsUnspecified()
}

// openNode runs replication.New, which may take long (replaying the log,
// restoring a snapshot), but returns at once when ctx ends: the process
// then exits, which is as safe as a crash, and the kernel drops the data
// directory's lock.
func openNode(ctx context.Context, o replication.Options) (*replication.Node, error) {
	type started struct {
		n   *replication.Node
		err error
	}
	ch := make(chan started, 1)
	go func() {
		n, err := replication.New(o)
		ch <- started{n, err}
	}()
	select {
	case s := <-ch:
		return s.n, s.err
	case <-ctx.Done():
		go func() {
			if s := <-ch; s.n != nil {
				s.n.Close()
			}
		}()
		return nil, fmt.Errorf("opening the data directory: %w", ctx.Err())
	}
}

// checkRaftAddr refuses a changed --raft-addr that nobody would apply: in a
// cluster of several voters the leader applies it when the node joins
// (--join); without --join the other members would go on calling the old
// address. A one-voter cluster applies it itself once it leads.
func checkRaftAddr(node *replication.Node, f serveFlags) error {
	old := node.StaleRaftAddr()
	if old == "" || len(node.Members()) < 2 || (f.join != "" && f.bootstrapExpect <= 1) {
		return nil
	}
	join := "<HTTP address of a running member>"
	for _, id := range node.Members() {
		if a := node.MemberHTTP(id); id != f.nodeID && a != "" {
			join = a
			break
		}
	}
	return fmt.Errorf("--raft-addr changed from %s to %s, and the other members of the cluster still know node %q at %s: "+
		"start it with --join so that the leader applies the new address: strata serve --node-id %s --data-dir %s --raft-addr %s --join %s "+
		"(with your other flags, without --bootstrap-expect), or keep --raft-addr %s",
		old, f.raftAddr, f.nodeID, old, f.nodeID, f.dataDir, f.raftAddr, join, old)
}

func serve(ctx context.Context, f serveFlags, reload *reloaders, logger zerolog.Logger) error {
	sec, err := loadSecurity(&f, reload, logger)
	if err != nil {
		return err
	}
	machine := replication.NewFSMMachine()
	var hook mqtt.ApplyHook
	var keeperHook atomic.Pointer[housekeeping.Keeper]
	machine.OnApply = func(off log.Offset, e *fsm.Entry, fx fsm.Effects) {
		hook.Apply(off, e, fx) // this node's connections
		if k := keeperHook.Load(); k != nil {
			k.OnApply(off, e, fx) // due wills: the leader proposes them
		}
	}
	f.keys.clusterKey = f.trust.key // signed keys are signed with the cluster key (--cluster-key)
	if sec.keys, err = f.keys.keys(machine); err != nil {
		return err
	}
	f.mqtt.Keys = sec.keys
	reg := metrics.New(f.nodeID, buildVersion()) // one per node: GET /metrics
	node, err := openServeNode(ctx, f, machine, reg, logger)
	if err != nil {
		return err
	}
	defer node.Close()
	reg.AddNode(node)
	ao := apiOptions(f, sec, logger)
	ao.Metrics, ao.Counters = reg.Handler(), reg.HTTP()
	var brokerRef atomic.Pointer[mqtt.Broker] // the admin API's view of this node's connections
	ao.Views, ao.LocalConn, ao.Stats = machine, localConn(&brokerRef), brokerStats(&brokerRef)
	ao.PeerStatus = httpapi.PeerStatus(f.cluster.HTTPClient(5*time.Second), node.MemberHTTP)
	hs, stopInternal, httpAddr, err := serveHTTP(f, node, ao, sec.tls)
	if err != nil {
		return err
	}
	defer stopInternal()
	defer hs.Close()
	keeper, err := startKeeper(f, node, machine, logger)
	if err != nil {
		return err
	}
	keeperHook.Store(keeper)
	defer keeper.Close()
	broker, err := startBroker(f, node, machine, logger)
	if err != nil {
		return err
	}
	hook.Set(broker)
	reg.AddBroker(broker, machine)
	brokerRef.Store(broker)
	defer closeBroker(broker)
	if err := joinOrBootstrap(ctx, f, node, ao.Identity, logger); err != nil {
		return err
	}
	// MQTT clients are admitted once the cluster has a leader: before that
	// every CONNECT would be refused with "server unavailable".
	if err := node.WaitLeader(ctx); err != nil {
		return fmt.Errorf("waiting for a leader: %w", err)
	}
	if err := listenMQTT(broker, f, sec.tls, logger); err != nil {
		return err
	}
	// Only now, with every listener bound: a bind failure is never
	// preceded by "started".
	logger.Info().Str("http", httpAddr).Str("raft", f.raftAddr).Str("data_dir", f.dataDir).Msg("strata node started")
	<-ctx.Done()
	logger.Info().Msg("shutting down")
	return nil
}

// security is what serve loads to authenticate and authorize: one of each
// per node, shared by MQTT and the HTTP API.
type security struct {
	tls       *tls.Config          // the MQTT TLS, wss and --http-tls listeners'
	passwords *auth.Passwords      // nil without --password-file; SIGHUP swaps its file
	limiter   *auth.FailureLimiter // nil with --auth-fail-limit 0
	keys      *auth.Keys           // nil without --cluster-key
}

// loadSecurity loads the TLS certificate, the password file, the failure
// limiter and the ACL, and sets them in f.mqtt.
func loadSecurity(f *serveFlags, reload *reloaders, logger zerolog.Logger) (security, error) {
	var sec security
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return sec, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		sec.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var err error
	if sec.passwords, err = openPasswords(f.passwordFile, reload, logger); err != nil {
		return sec, err
	}
	if sec.passwords != nil {
		f.mqtt.Auth = sec.passwords
	}
	sec.limiter = auth.NewFailureLimiter(f.authLimit)
	f.mqtt.AuthLimiter = sec.limiter
	acl, err := loadACL(f.aclFile)
	switch {
	case err != nil:
		return sec, err
	case acl != nil:
		f.mqtt.Authorizer = acl
		reload.add("acl", acl)
	case sec.passwords != nil:
		logger.Warn().Msg("--password-file without --acl-file: every user it lists may publish, subscribe, replay and administer (docs/security.md, ACLs)")
	}
	return sec, nil
}

// openServeNode opens this node's replication (Raft over the cluster's TLS
// when it is secure) on machine and checks its Raft address.
func openServeNode(ctx context.Context, f serveFlags, machine *replication.FSMMachine, reg *metrics.Registry, logger zerolog.Logger) (*replication.Node, error) {
	o := replication.DefaultOptions()
	o.NodeID, o.RaftAddr, o.DataDir = f.nodeID, f.raftAddr, f.dataDir
	o.Bootstrap = f.join == "" || f.bootstrapExpect == 1
	o.HTTPAddr = f.advertisedHTTP
	// Node-to-node calls go to the peers' HTTP ports as node connections
	// (trust.Split), over mutual TLS when the cluster is secure.
	o.Forward = httpapi.Forward(f.cluster.HTTPClient(30 * time.Second))
	o.FetchSegment = httpapi.FetchSegment(f.cluster.HTTPClient(0)) // each copy is bounded by o.FetchTimeout
	o.NotifyRemoved = httpapi.NotifyRemoved(f.cluster.HTTPClient(5 * time.Second))
	o.Machine = machine
	o.Logger, o.Log.Logger = logger, logger
	o.Log.RetentionBytes, o.Log.RetentionAge = f.retentionBytes, f.retentionAge
	o.ScrubInterval = f.scrubInterval
	o.Log.SegmentBytes = f.segmentBytes
	o.Observe = reg.Replication()
	reg.ObserveLog(&o.Log)
	if err := os.MkdirAll(filepath.Clean(f.dataDir), 0o700); err != nil {
		return nil, err
	}
	if err := secureRaft(f, &o); err != nil {
		return nil, err
	}
	node, err := openNode(ctx, o)
	if err != nil {
		if o.RaftListener != nil {
			o.RaftListener.Close()
		}
		return nil, err
	}
	if err := checkRaftAddr(node, f); err != nil {
		node.Close()
		return nil, err
	}
	return node, nil
}

// apiOptions are the HTTP API's: the same rules as MQTT (the ACL, nil:
// allow all; a bearer token's key scope) and the same password file and
// failure limiter.
func apiOptions(f serveFlags, sec security, logger zerolog.Logger) httpapi.Options {
	ao := httpapi.DefaultOptions()
	ao.Identity = httpapi.Identity{ID: f.nodeID, RaftAddr: f.raftAddr, HTTPAddr: f.advertisedHTTP}
	ao.Logger = logger
	if sec.passwords != nil { // a nil *auth.Passwords in the interface would not read as "none"
		ao.Passwords = sec.passwords
	}
	ao.Limiter = sec.limiter
	ao.Authorizer = auth.KeyScope{Base: f.mqtt.Authorizer}
	if sec.keys != nil { // likewise a nil *auth.Keys
		ao.Tokens = sec.keys
	}
	return ao
}

// startKeeper runs the leader's housekeeping (due wills, expiry, lost nodes).
func startKeeper(f serveFlags, node *replication.Node, machine *replication.FSMMachine, logger zerolog.Logger) (*housekeeping.Keeper, error) {
	ko := housekeeping.DefaultOptions()
	ko.NodeID, ko.Cluster, ko.Views, ko.Logger = f.nodeID, node, machine, logger
	keeper, err := housekeeping.New(ko)
	if err != nil {
		return nil, err
	}
	keeper.Start()
	return keeper, nil
}

// startBroker makes the MQTT broker on node (its listeners open later).
func startBroker(f serveFlags, node *replication.Node, machine *replication.FSMMachine, logger zerolog.Logger) (*mqtt.Broker, error) {
	mo := f.mqtt
	mo.NodeID, mo.Cluster, mo.Log, mo.Views, mo.Logger = f.nodeID, node, node.Reader(), machine, logger
	mo.Version = buildVersion()
	broker, err := mqtt.New(mo)
	if err != nil {
		return nil, err
	}
	broker.Start()
	return broker, nil
}

func closeBroker(b *mqtt.Broker) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.Close(ctx)
}

// joinOrBootstrap forms the cluster as the flags say: --bootstrap-expect
// discovery, or joining a member with --join; nothing for a lone node.
func joinOrBootstrap(ctx context.Context, f serveFlags, node *replication.Node, self httpapi.Identity, logger zerolog.Logger) error {
	switch {
	case f.bootstrapExpect > 1:
		return bootstrapExpect(ctx, node, f.cluster.HTTPClient(2*time.Second), self, splitList(f.join), f.bootstrapExpect)
	case f.join != "":
		return joinCluster(ctx, f, logger)
	}
	return nil
}

// loadACL reads --acl-file; nil without one (everything is allowed).
func loadACL(path string) (*auth.Policy, error) {
	if path == "" {
		return nil, nil
	}
	p, err := auth.LoadPolicy(path)
	if err != nil {
		return nil, fmt.Errorf("--acl-file: %w", err)
	}
	return p, nil
}

// secureRaft gives Raft a TLS listener and dialer when the cluster is
// secure (otherwise replication opens plain TCP).
func secureRaft(f serveFlags, o *replication.Options) error {
	if !f.cluster.Secure() {
		return nil
	}
	rl, err := f.cluster.ListenRaft(f.raftAddr)
	if err != nil {
		return fmt.Errorf("raft listener: %w", err)
	}
	o.RaftListener, o.RaftDial = rl, f.cluster.DialRaft
	return nil
}

// serveInternal serves the routes only nodes call to the node connections
// of the HTTP port (with the cluster's mutual TLS when it is secure) and
// returns what stops it.
func serveInternal(split *trust.Split, node *replication.Node, ao httpapi.Options) func() {
	is := &http.Server{Handler: httpapi.InternalHandler(node, ao), ReadHeaderTimeout: 10 * time.Second}
	go is.Serve(split.Internal())
	return func() { is.Close() }
}

// listenMQTT opens the MQTT listeners: TCP, TLS and WebSocket (wss with TLS).
func listenMQTT(b *mqtt.Broker, f serveFlags, tlsConf *tls.Config, logger zerolog.Logger) error {
	open := func(addr, name string, conf *tls.Config) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("--%s listener: %w", name, err)
		}
		if conf != nil {
			ln = tls.NewListener(ln, conf)
		}
		if !f.allowAnonymous && !b.ListenerFor(ln.Addr(), name).Anonymous && f.passwordFile == "" {
			logger.Warn().Str("listener", name).Str("addr", ln.Addr().String()).Msg("no --password-file and no --allow-anonymous: no client can connect on this non-loopback listener")
		}
		logger.Info().Str("listener", name).Str("addr", ln.Addr().String()).Msg("MQTT listening")
		return ln, nil
	}
	if f.mqttAddr != "" {
		ln, err := open(f.mqttAddr, "mqtt", nil)
		if err != nil {
			return err
		}
		go b.Serve(ln, "tcp")
	}
	if f.mqttTLSAddr != "" {
		ln, err := open(f.mqttTLSAddr, "mqtt-tls", f.keys.mqttTLS(tlsConf))
		if err != nil {
			return err
		}
		go b.Serve(ln, "tls")
	}
	if f.wsAddr != "" {
		ln, err := open(f.wsAddr, "ws", tlsConf)
		if err != nil {
			return err
		}
		l := b.ListenerFor(ln.Addr(), "ws")
		h := mqtt.WebSocketHandler(func(c net.Conn) { b.ServeConn(c, l) }, logger)
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(ln)
	}
	return nil
}

// joinCluster asks the member at f.join to add this node, over a node
// connection (the cluster's mutual TLS when it is secure) to the internal
// join route; a member that is not the leader answers 409 with the
// leader's HTTP address, which is tried next. It retries until it
// succeeds or ctx ends, logging each new reason it failed (a wrong cluster
// key, for one, would otherwise look like a wait).
func joinCluster(ctx context.Context, f serveFlags, logger zerolog.Logger) error {
	body, _ := json.Marshal(httpapi.JoinRequest{ID: f.nodeID, RaftAddr: f.raftAddr, HTTPAddr: f.advertisedHTTP})
	target := f.join
	var last error
	client := f.cluster.HTTPClient(5 * time.Second)
	for {
		status, leader, err := askJoin(ctx, client, target, body)
		if err == nil {
			logger.Info().Str("target", target).Msg("joined the cluster")
			return nil
		}
		target = cmp.Or(leader, f.join)
		if last == nil || err.Error() != last.Error() {
			logger.WithLevel(joinRefusalLevel(status, err)).Err(err).Str("target", target).Msg("join refused or failed; retrying")
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %s: %w (last error: %v)", f.join, ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// askJoin posts one join request to target: the status (0 when none came
// back), and for a follower's 409 the leader's HTTP address to try next.
func askJoin(ctx context.Context, client *http.Client, target string, body []byte) (int, string, error) {
	resp, err := postJSON(ctx, client, httpURL(target)+"/v1/internal/join", body)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var answer map[string]string
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, answer["error"])
	if resp.StatusCode == http.StatusConflict {
		return resp.StatusCode, answer["leader_http"], err
	}
	return resp.StatusCode, "", err
}

// joinRefusalLevel: what a join meets while the cluster starts is expected
// and logged below warn (a follower's redirect at debug; no leader yet, or
// its port not open yet, at info); anything else, a wrong cluster key for
// one, at warn.
func joinRefusalLevel(status int, err error) zerolog.Level {
	switch {
	case status == http.StatusConflict:
		return zerolog.DebugLevel
	case status == http.StatusServiceUnavailable, status == 0 && errors.Is(err, syscall.ECONNREFUSED):
		return zerolog.InfoLevel
	}
	return zerolog.WarnLevel
}

func postJSON(ctx context.Context, c *http.Client, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

func httpURL(addr string) string {
	if bytes.HasPrefix([]byte(addr), []byte("http://")) || bytes.HasPrefix([]byte(addr), []byte("https://")) {
		return addr
	}
	return "http://" + addr
}
