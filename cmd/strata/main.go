// Command strata is the Strata broker: one binary for serving, inspecting the
// log and, as they land, cluster administration and benchmarks.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
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
		"history": {"stream a topic filter's messages over an offset or time range (NDJSON, CSV, or a Parquet file), live with --follow, from a durable consumer's position with --consumer", runHistory},
		"bench":   {"measure a broker with verified deliveries; bench compare: Strata and its peers side by side", runBench},
		"log":     {"inspect and dump a node's segment log offline (log inspect|dump)", runLog},
		"passwd":  {"set (or with -D delete) a user in a password file (for serve --password-file)", runPasswd},
		"key":     {"create a signed scoped key (MQTT password, HTTP bearer token) or revoke one", runKey},
		"restore": {"lay out a new data directory from a snapshot backup (strata cluster snapshot)", runRestore},
		"version": {"print the version, commit and Go version (also: strata --version)", runVersion},
		"health":  {"exit 0 when a node is ready (/readyz answers 200), else 1: for container health checks", runHealth},

		// Client administration (a block of its own: its longer names
		// leave the alignment above alone).
		"clients":  {"list the cluster's connected clients, or kick one (clients kick ID)", runClients},
		"sessions": {"list every session with its subscriptions and cursor, or delete one (sessions delete ID)", runSessions},
		"presence": {"who listens on a filter: subscriptions that share a topic with it, and the clients online", runPresence},
	}
}

func main() {
	// Millisecond timestamps for every logger the process makes: set once,
	// before any logs (zerolog reads it per event).
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0: // a mistake, not a request for help: scripts see exit 2
		usage(stderr)
		return 2
	case isHelp(args[0]):
		usage(stdout)
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "strata: unknown command %q\nrun 'strata --help' for usage\n", args[0])
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		// The error first and short; the usage only on request.
		name := commandName(args)
		fmt.Fprintf(stderr, "strata %s: %s\nrun 'strata %s --help' for usage\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "), name)
		return 2
	default:
		fmt.Fprintf(stderr, "strata %s: %v\n", args[0], err)
		return 1
	}
}

// commandName is the command args run, with its subcommand for the
// commands that have them (cluster status, log dump, ...).
func commandName(args []string) string {
	subs := map[string][]string{
		"cluster": {"status", "join", "remove", "snapshot", "keygen"},
		"log":     {"inspect", "dump"},
		"key":     {"create", "revoke"},
		"bench":   {"compare"},
	}
	if len(args) > 1 && slices.Contains(subs[args[0]], args[1]) {
		return args[0] + " " + args[1]
	}
	return args[0]
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

// version and commit are set at build time (make release):
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=$(git rev-parse HEAD)"
//
// Left empty, they come from the binary's build information: the module
// version (go install pkg@version) and the VCS revision (a build in a git
// work tree).
var version, commit string

// versionInfo resolves version and commit, falling back to the build
// information and then to "dev" and "unknown".
func versionInfo() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if c == "" && s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	return cmp.Or(v, "dev"), cmp.Or(c, "unknown")
}

// buildVersion is the version alone ($SYS/broker/version, metrics).
func buildVersion() string {
	v, _ := versionInfo()
	return v
}

func runVersion(args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: version takes no arguments", errUsage)
	}
	v, c := versionInfo()
	fmt.Fprintf(stdout, "strata %s (commit %s, %s)\n", v, c, runtime.Version())
	return nil
}

// newFlagSet makes a FlagSet whose errors are returned, not printed twice;
// its usage (printed on --help only) goes to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("strata "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\nFlags:\n", fs.Name())
		fs.PrintDefaults()
	}
	return fs
}

// parseQuiet parses args without the flag package's own output: a
// mistyped flag is returned (as a usage error) for run to print in one
// line, and the usage is printed only for -h/--help.
func parseQuiet(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	case err != nil:
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseQuiet(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %s", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}
