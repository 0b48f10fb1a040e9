package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratamq/strata/presence"
)

const presenceHelp = `Usage: strata presence FILTER [--json] [--server ADDR] [credentials]

prints who listens on FILTER, as GET /v1/presence answers: every subscription
whose filter shares a topic with FILTER (chat/room1 lists chat/room1, chat/+,
chat/# and #), online or offline, with the client's node. Any node answers for
the whole cluster. For the live changes, subscribe to $presence/FILTER over
MQTT (docs/mqtt.md#presence). Needs the subscribe or replay right on FILTER.
`

// runPresence: strata presence FILTER [--json] [--server ADDR].
func runPresence(args []string, stdout, stderr io.Writer) error {
	if (len(args) > 0 && isHelp(args[0])) || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		fmt.Fprint(stdout, presenceHelp+adminCredsHelp)
		return nil
	}
	var filter string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		filter, args = args[0], args[1:]
	}
	fs := newFlagSet("presence", stderr)
	api := addAPIFlags(fs, "a node's HTTP API")
	fs.StringVar(&api.server, "node", api.server, "the same as --server")
	asJSON := fs.Bool("json", false, "print the answer's JSON instead of a table")
	if err := parseQuiet(fs, args); err != nil {
		return err
	}
	switch {
	case filter == "" && fs.NArg() == 1: // strata presence --json FILTER
		filter = fs.Arg(0)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: one FILTER, then the flags; got %s", errUsage, strings.TrimSpace(filter+" "+strings.Join(fs.Args(), " ")))
	}
	if filter == "" {
		return fmt.Errorf("%w: strata presence FILTER (e.g. 'chat/+')", errUsage)
	}
	client, err := api.client(35*time.Second, os.Stdin, stderr)
	if err != nil {
		return err
	}
	body, err := client.getBody(client.base + "/v1/presence?filter=" + url.QueryEscape(filter))
	if err != nil {
		return err
	}
	var p presence.Snapshot
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("presence answer: %w", err)
	}
	if *asJSON {
		return printJSON(stdout, p)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tSTATE\tNODE\tSUBSCRIPTION")
	for _, m := range p.Subscribers {
		state := "offline"
		if m.Online {
			state = "online"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ClientID, state, dash(m.Node), filtersText([]presence.Subscription{m.Subscription}))
	}
	fmt.Fprintf(tw, "%d subscriptions, %d clients online\n", p.Count, len(p.Connected))
	return tw.Flush()
}
