package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/trust"
)

// runKey: strata key create|revoke (docs/security.md, "Keys and client
// certificates").
func runKey(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		keyUsage(stdout)
		return nil
	}
	switch args[0] {
	case "create":
		return keyCreate(args[1:], stdout, stderr)
	case "revoke":
		return keyRevoke(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown subcommand %q (create, revoke)", errUsage, args[0])
}

func keyUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: strata key create --cluster-key FILE --filter FILTER --rights LIST [--ttl D] [--client-id-prefix P]")
	fmt.Fprintln(w, "       strata key revoke [--server ADDR] [--user NAME | --token-file FILE] [--ca FILE] ID")
	fmt.Fprintln(w, "\ncreate prints a signed key (a JWT signed with HMAC-SHA256 under a key derived from the")
	fmt.Fprintln(w, "cluster key file), offline. Give it as the MQTT password (any user name) or as an HTTP")
	fmt.Fprintln(w, "bearer token to a node started with the same --cluster-key: it grants LIST (pub, sub,")
	fmt.Fprintln(w, "replay, admin) on the topics FILTER matches until it expires, to client ids starting")
	fmt.Fprintln(w, "with P. The key's id, filter, rights and expiry go to stderr.")
	fmt.Fprintln(w, "\nrevoke records the key's revocation in the log through a node's HTTP API (an admin")
	fmt.Fprintln(w, "operation): every node refuses the key from then on and closes its connections.")
}

func keyCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key create", stderr)
	keyFile := fs.String("cluster-key", "", "the cluster key file (strata cluster keygen) the nodes were started with")
	fs.StringVar(keyFile, "key-file", "", "same as --cluster-key")
	filter := fs.String("filter", "", "topic filter the key grants its rights on, e.g. 'sensors/#'")
	rights := fs.String("rights", "", "comma-separated rights: pub, sub, replay, admin")
	ttl := fs.Duration("ttl", 720*time.Hour, "lifetime of the key")
	prefix := fs.String("client-id-prefix", "", "MQTT client ids must start with this (default: any)")
	fs.Usage = func() { keyUsage(fs.Output()); fmt.Fprintln(fs.Output()); fs.PrintDefaults() }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *keyFile == "" || *filter == "" || *rights == "" {
		return fmt.Errorf("%w: create needs --cluster-key, --filter and --rights (strata key --help)", errUsage)
	}
	if *ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	r, err := auth.ParseRights(*rights)
	if err != nil {
		return fmt.Errorf("%w: --rights: %w", errUsage, err)
	}
	keys, err := loadKeys(*keyFile)
	if err != nil {
		return err
	}
	tok, c, err := keys.Create(auth.KeyClaims{Filter: *filter, Rights: r, ClientIDPrefix: *prefix, Expires: time.Now().Add(*ttl)})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "key %s: %s on %q until %s", c.ID, c.Rights, c.Filter, c.Expires.UTC().Format(time.RFC3339))
	if c.ClientIDPrefix != "" {
		fmt.Fprintf(stderr, ", client ids starting with %q", c.ClientIDPrefix)
	}
	fmt.Fprintln(stderr)
	return nil
}

// loadKeys reads the cluster key file and derives the keys' signing key.
func loadKeys(path string) (*auth.Keys, error) {
	secret, err := trust.LoadKeyFile(path) // the one key file format (trust/key.go)
	if err != nil {
		return nil, err
	}
	return auth.NewKeys(secret[:])
}

func keyRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("key revoke", stderr)
	api := addAPIFlags(fs, "a node's HTTP API")
	fs.Usage = func() { keyUsage(fs.Output()); fmt.Fprintln(fs.Output()); fs.PrintDefaults() }
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:] // ID before the flags
	}
	if err := parseQuiet(fs, args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() != 0 || id == "" {
		return fmt.Errorf("%w: revoke takes one key id (strata key --help)", errUsage)
	}
	client, err := api.client(35*time.Second, os.Stdin, stderr)
	if err != nil {
		return err
	}
	req, err := http.NewRequest("POST", client.base+"/v1/keys/"+url.PathEscape(id)+"/revoke", nil)
	if err != nil {
		return err
	}
	resp, err := client.send(req) // the admin right: the caller's credentials
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Fprintf(stdout, "key %s revoked\n", id)
	return nil
}

// keyFlags are serve's flags for signed keys and client certificates.
type keyFlags struct {
	clusterKey, clientCA string
	requireClientCert    bool
	clientCAs            *x509.CertPool // loaded by check
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.clientCA, "tls-client-ca", "", "PEM CA certificate(s): MQTT TLS clients presenting a certificate it signed are identified by its subject (CN, else a SAN) as their user name")
	fs.BoolVar(&k.requireClientCert, "require-client-cert", false, "refuse MQTT TLS clients without a certificate signed by --tls-client-ca")
}

// check validates the flags and loads the client CA.
func (k *keyFlags) check(tlsListener bool) error {
	switch {
	case k.requireClientCert && k.clientCA == "":
		return fmt.Errorf("%w: --require-client-cert needs --tls-client-ca", errUsage)
	case k.clientCA != "" && !tlsListener:
		return fmt.Errorf("%w: --tls-client-ca needs the MQTT TLS listener (--tls-cert, --tls-key)", errUsage)
	case k.clientCA == "":
		return nil
	}
	pem, err := os.ReadFile(k.clientCA)
	if err != nil {
		return fmt.Errorf("--tls-client-ca: %w", err)
	}
	k.clientCAs = x509.NewCertPool()
	if !k.clientCAs.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--tls-client-ca %s: no PEM certificate in it", k.clientCA)
	}
	return nil
}

// keys returns the cluster's signed keys, refused once revoked in views;
// nil without --cluster-key.
func (k *keyFlags) keys(views interface{ View() *fsm.View }) (*auth.Keys, error) {
	if k.clusterKey == "" {
		return nil, nil
	}
	keys, err := loadKeys(k.clusterKey)
	if err != nil {
		return nil, fmt.Errorf("--cluster-key: %w", err)
	}
	keys.Revoked = func(id string) bool { return views.View().KeyRevoked(id) }
	return keys, nil
}

// mqttTLS is the MQTT TLS listener's configuration: conf asking clients
// for a certificate of the client CA when one is set.
func (k *keyFlags) mqttTLS(conf *tls.Config) *tls.Config {
	if conf == nil || k.clientCAs == nil {
		return conf
	}
	c := conf.Clone()
	c.ClientCAs, c.ClientAuth = k.clientCAs, tls.VerifyClientCertIfGiven
	if k.requireClientCert {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}
