package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/trust"
)

// trustFlags are serve's cluster trust flags (docs/security.md).
type trustFlags struct {
	key, cert, tlsKey, ca string
}

func (t *trustFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.key, "cluster-key", "", "file holding the cluster's shared key (strata cluster keygen): node-to-node traffic is mutually authenticated and encrypted with it; required when --raft-addr or --http is off loopback")
	fs.StringVar(&t.cert, "cluster-tls-cert", "", "PEM certificate of this node for node-to-node TLS, instead of --cluster-key (with --cluster-tls-key and --cluster-ca)")
	fs.StringVar(&t.tlsKey, "cluster-tls-key", "", "PEM private key of --cluster-tls-cert")
	fs.StringVar(&t.ca, "cluster-ca", "", "PEM CA certificate that signed every node's --cluster-tls-cert; any certificate it signed is a member")
}

// load checks the flags against the listen addresses and loads the
// cluster's trust: none (nil) only when Raft and HTTP listen on loopback.
func (t *trustFlags) load(raftAddr, httpAddr string) (*trust.Cluster, error) {
	files := t.cert != "" || t.tlsKey != "" || t.ca != ""
	switch {
	case t.key != "" && files:
		return nil, fmt.Errorf("%w: --cluster-key and --cluster-tls-cert/--cluster-tls-key/--cluster-ca exclude each other", errUsage)
	case files && (t.cert == "" || t.tlsKey == "" || t.ca == ""):
		return nil, fmt.Errorf("%w: --cluster-tls-cert, --cluster-tls-key and --cluster-ca go together", errUsage)
	case t.key != "":
		k, err := trust.LoadKeyFile(t.key)
		if err != nil {
			return nil, fmt.Errorf("--cluster-key: %w", err)
		}
		return trust.FromKey(k)
	case files:
		return trust.FromFiles(t.cert, t.tlsKey, t.ca)
	}
	for _, a := range []struct{ flag, addr string }{{"--raft-addr", raftAddr}, {"--http", httpAddr}} {
		if !isLoopback(a.addr) {
			return nil, fmt.Errorf("%w: %s %s is off loopback: other hosts could join, vote, propose and read segments; "+
				"give every node the same --cluster-key FILE (strata cluster keygen FILE) or --cluster-tls-cert/--cluster-tls-key/--cluster-ca",
				errUsage, a.flag, a.addr)
		}
	}
	return nil, nil
}

// warnLoose warns when the key file is readable by others than its owner:
// whoever reads it is a member of the cluster. A warning, not a refusal,
// since some secret stores mount files group-readable.
func (t *trustFlags) warnLoose(logger zerolog.Logger) {
	for _, path := range []string{t.key, t.tlsKey} {
		if path == "" {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			logger.Warn().Str("file", path).Str("mode", st.Mode().Perm().String()).
				Msg("the cluster key file is readable by other users than its owner: chmod 600 it")
		}
	}
}

// isLoopback reports whether addr (host:port) listens on loopback only:
// 127.0.0.0/8, ::1 or localhost. An empty host (every interface) or any
// other name is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clusterKeygen is `strata cluster keygen FILE`.
func clusterKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cluster keygen", stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: strata cluster keygen FILE")
		fmt.Fprintln(fs.Output(), "\nWrites a new cluster key (32 random bytes, one line of base64) to FILE, mode 0600;")
		fmt.Fprintln(fs.Output(), "refuses to overwrite an existing file. Copy it to every node: strata serve --cluster-key FILE.")
	}
	if err := parseQuiet(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want FILE, got %d argument(s) (strata cluster keygen --help)", errUsage, fs.NArg())
	}
	if err := trust.WriteNewKeyFile(fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cluster key written to %s (keep it secret; copy it to every node)\n", fs.Arg(0))
	return nil
}
