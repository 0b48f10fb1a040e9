// Command strata is the Strata broker: one binary for serving, inspecting the
// log and, as they land, cluster administration and benchmarks.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one `strata <name>` subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// errUsage marks an error whose message is a usage problem: exit code 2.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run a broker node (one node by default; --join to join a cluster)", runServe},
		"cluster": {"cluster status|join|remove|snapshot through a node's HTTP API; cluster keygen FILE", runCluster},
		"history": {"stream a topic filter's messages over an offset or time range (NDJSON or CSV), live with --follow, from a durable consumer's position with --consumer", runHistory},
		"bench":   {"measure a broker with verified deliveries; bench compare: Strata and its peers side by side", runBench},
		"log":     {"inspect and dump a node's segment log offline (log inspect|dump)", runLog},
		"passwd":  {"set (or with -D delete) a user in a password file (for serve --password-file)", runPasswd},
		"key":     {"create a signed scoped key (MQTT password, HTTP bearer token) or revoke one", runKey},
		"restore": {"lay out a new data directory from a snapshot backup (strata cluster snapshot)", runRestore},
		"version": {"print the version", runVersion},
		"health":  {"exit 0 when a node is ready (/readyz answers 200), else 1: for container health checks", runHealth},

		// Client administration (a block of its own: its longer names
		// leave the alignment above alone).
		"clients":  {"list the cluster's connected clients, or kick one (clients kick ID)", runClients},
		"sessions": {"list every session with its subscriptions and cursor, or delete one (sessions delete ID)", runSessions},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) {
		usage(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 1
	}
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "help" }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Strata: an MQTT broker whose every publish is an event in one replicated, compressed log.")
	fmt.Fprintln(w, "\nUsage: strata <command> [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'strata <command> --help' for a command's flags.")
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	fmt.Fprintf(stdout, "strata %s\n", version)
	return nil
}

// newFlagSet makes a FlagSet whose errors are returned, not printed twice.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %s", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}
