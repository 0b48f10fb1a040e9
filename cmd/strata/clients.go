package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/stratamq/strata/httpapi"
	"github.com/stratamq/strata/mqtt"
)

// localConn describes a connection of the broker in ref for the admin
// API, which starts before the broker exists (none until then).
func localConn(ref *atomic.Pointer[mqtt.Broker]) func(name string) (httpapi.LocalConn, bool) {
	return func(name string) (httpapi.LocalConn, bool) {
		b := ref.Load()
		if b == nil {
			return httpapi.LocalConn{}, false
		}
		c, ok := b.Connection(name)
		return httpapi.LocalConn{ClientID: c.ClientID, Name: c.Name, Remote: c.Remote,
			Listener: c.Listener, User: c.User, KeepAlive: c.KeepAlive}, ok
	}
}

// brokerStats are the counters of the broker in ref (none before it exists).
func brokerStats(ref *atomic.Pointer[mqtt.Broker]) func() map[string]uint64 {
	return func() map[string]uint64 {
		if b := ref.Load(); b != nil {
			return b.Stats().Counters()
		}
		return nil
	}
}

// runClients: strata clients [list|kick ID] [--server ADDR] [--json].
func runClients(args []string, stdout, stderr io.Writer) error {
	return runAdmin(adminCmd{name: "clients", op: "kick", list: listClients, act: kickClient,
		help: clientsHelp}, args, stdout, stderr)
}

// runSessions: strata sessions [list|delete ID] [--server ADDR] [--json].
func runSessions(args []string, stdout, stderr io.Writer) error {
	return runAdmin(adminCmd{name: "sessions", op: "delete", list: listSessions, act: deleteSession,
		help: sessionsHelp}, args, stdout, stderr)
}

const clientsHelp = `Usage: strata clients [list] [--json] [--server ADDR] [credentials]
       strata clients kick CLIENT_ID [--server ADDR] [credentials]

list (the default) prints the clients connected to the whole cluster, as any node
knows them from the log: node, protocol version, connected since, subscriptions,
and, for those connected to the node asked, their address and keep alive.
kick disconnects a client wherever it is connected (MQTT 5 clients get
DISCONNECT 0x98, administrative action); its session stays as its expiry says.
list needs the subscribe or replay right on #, kick the admin right.
`

const sessionsHelp = `Usage: strata sessions [list] [--json] [--server ADDR] [credentials]
       strata sessions delete CLIENT_ID [--server ADDR] [credentials]

list (the default) prints every session, online or offline: node, expiry,
subscriptions, cursor (the oldest offset it may still be owed) and in-flight
count; --json adds each subscription's options and the replay gaps.
delete deletes a session on every node, disconnecting its client first when it
is online. list needs the subscribe or replay right on #, delete the admin right.
`

const adminCredsHelp = `
ADDR is a node's HTTP address (default 127.0.0.1:8080) or an http:// or https:// URL
(--node ADDR is the same as --server ADDR).
Credentials: --user NAME (password from $STRATA_PASSWORD, else prompted), or
--token-file FILE (or $STRATA_TOKEN); --ca FILE trusts an https server's certificate.
`

// adminCmd is one of the admin commands: a list and one action on an id.
type adminCmd struct {
	name, op, help string
	list           func(c *apiClient, asJSON bool, stdout io.Writer) error
	act            func(c *apiClient, id string, stdout io.Writer) error
}

func runAdmin(a adminCmd, args []string, stdout, stderr io.Writer) error {
	if (len(args) > 0 && isHelp(args[0])) || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		fmt.Fprint(stdout, a.help+adminCredsHelp)
		return nil
	}
	sub, id, rest, err := adminArgs(a, args)
	if err != nil {
		return err
	}
	fs := newFlagSet(a.name+" "+sub, stderr)
	api := addAPIFlags(fs, "a node's HTTP API")
	fs.StringVar(&api.server, "node", api.server, "the same as --server")
	asJSON := fs.Bool("json", false, "print JSON (every page's items in one array) instead of a table")
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	client, err := api.client(35*time.Second, os.Stdin, stderr)
	if err != nil {
		return err
	}
	if sub == "list" {
		return a.list(client, *asJSON, stdout)
	}
	return a.act(client, id, stdout)
}

// adminArgs splits args into the subcommand (list or a.op), its id and
// the flags; the id may come before or after the flags.
func adminArgs(a adminCmd, args []string) (sub, id string, rest []string, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "list", "", args, nil
	}
	switch sub, rest = args[0], args[1:]; sub {
	case "list":
		return sub, "", rest, nil
	case a.op:
	default:
		return "", "", nil, fmt.Errorf("%w: unknown subcommand %q (list, %s)", errUsage, sub, a.op)
	}
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		return sub, rest[0], rest[1:], nil
	}
	if n := len(rest); n > 0 && !strings.HasPrefix(rest[n-1], "-") && (n == 1 || !flagTakesValue(rest[n-2])) {
		return sub, rest[n-1], rest[:n-1], nil
	}
	return "", "", nil, fmt.Errorf("%w: %s %s needs a client id", errUsage, a.name, sub)
}

// flagTakesValue reports whether arg is a flag of addAPIFlags that is
// followed by its value (--server ADDR, not --server=ADDR).
func flagTakesValue(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	switch name {
	case "server", "node", "user", "token-file", "ca":
		return true
	}
	return false
}

// getPages walks a list route's pages, calling add with each page's body
// and following its "next" token.
func getPages(c *apiClient, path string, add func(body []byte) (next string, err error)) error {
	next := ""
	for {
		u := c.base + path + "?limit=500"
		if next != "" {
			u += "&after=" + url.QueryEscape(next)
		}
		body, err := c.getBody(u)
		if err != nil {
			return err
		}
		if next, err = add(body); err != nil || next == "" {
			return err
		}
	}
}

// allPages walks every page of a list route, each decoded as a P whose
// items and next token items returns.
func allPages[P, T any](c *apiClient, path string, items func(*P) ([]T, string)) ([]T, error) {
	all := []T{}
	err := getPages(c, path, func(body []byte) (string, error) {
		var p P
		err := json.Unmarshal(body, &p)
		its, next := items(&p)
		all = append(all, its...)
		return next, err
	})
	return all, err
}

// getBody GETs u and returns its body, or the API's error.
func (c *apiClient) getBody(u string) ([]byte, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

func listClients(c *apiClient, asJSON bool, stdout io.Writer) error {
	all, err := allPages(c, "/v1/clients", func(p *httpapi.ClientList) ([]httpapi.ClientInfo, string) { return p.Clients, p.Next })
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tNODE\tVERSION\tCONNECTED SINCE\tSUBS\tEXPIRY\tREMOTE\tKEEP ALIVE")
	for _, ci := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", ci.ClientID, ci.Node, protocolName(ci.ProtocolVersion),
			ci.ConnectedAt, ci.Subscriptions, expiryText(ci.ExpirySeconds), dash(ci.Remote), keepAliveText(ci.KeepAliveSeconds))
	}
	fmt.Fprintf(tw, "%d clients\n", len(all))
	return tw.Flush()
}

func listSessions(c *apiClient, asJSON bool, stdout io.Writer) error {
	all, err := allPages(c, "/v1/sessions", func(p *httpapi.SessionList) ([]httpapi.SessionInfo, string) { return p.Sessions, p.Next })
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, all)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tSTATE\tNODE\tEXPIRY\tSUBSCRIPTIONS\tCURSOR\tIN FLIGHT")
	for _, si := range all {
		state, cursor := "offline", "-"
		if si.Online {
			state = "online"
		}
		if si.Cursor != nil {
			cursor = strconv.FormatUint(*si.Cursor, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", si.ClientID, state, dash(si.Node),
			expiryText(si.ExpirySeconds), filtersText(si.Subscriptions), cursor, si.Inflight)
	}
	fmt.Fprintf(tw, "%d sessions\n", len(all))
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func protocolName(v byte) string {
	switch v {
	case 3:
		return "3.1"
	case 4:
		return "3.1.1"
	case 5:
		return "5"
	}
	return strconv.Itoa(int(v))
}

func expiryText(e *int64) string {
	if e == nil {
		return "never"
	}
	return (time.Duration(*e) * time.Second).String()
}

func keepAliveText(k *int) string {
	if k == nil {
		return "-"
	}
	return (time.Duration(*k) * time.Second).String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func filtersText(subs []httpapi.SubscriptionInfo) string {
	if len(subs) == 0 {
		return "-"
	}
	fs := make([]string, len(subs))
	for i, s := range subs {
		fs[i] = fmt.Sprintf("%s(q%d)", s.Filter, s.QoS)
	}
	return strings.Join(fs, ",")
}

func kickClient(c *apiClient, id string, stdout io.Writer) error {
	return adminDelete(c, "/v1/clients/"+url.PathEscape(id), stdout)
}

func deleteSession(c *apiClient, id string, stdout io.Writer) error {
	return adminDelete(c, "/v1/sessions/"+url.PathEscape(id), stdout)
}

func adminDelete(c *apiClient, path string, stdout io.Writer) error {
	req, err := http.NewRequest("DELETE", c.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Fprintf(stdout, "%s", out)
	return nil
}
