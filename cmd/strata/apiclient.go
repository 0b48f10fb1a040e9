package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// apiFlags are the flags of every command that calls a node's HTTP API:
// where, as whom, and whom to trust. Secrets never travel as flag values
// (visible to every user of the host in ps): the password comes from
// STRATA_PASSWORD or a prompt, the token from a file or STRATA_TOKEN.
type apiFlags struct {
	server, user, tokenFile, ca string
}

func addAPIFlags(fs *flag.FlagSet, serverHelp string) *apiFlags {
	a := &apiFlags{}
	fs.StringVar(&a.server, "server", "127.0.0.1:8080", serverHelp+": host:port (http), or an http:// or https:// URL")
	fs.StringVar(&a.user, "user", os.Getenv("STRATA_USER"), "user name for the API (HTTP Basic; default $STRATA_USER); the password is $STRATA_PASSWORD, else prompted for (or stdin's first line)")
	fs.StringVar(&a.tokenFile, "token-file", "", "file holding a bearer token for the API (default: $STRATA_TOKEN)")
	fs.StringVar(&a.ca, "ca", "", "PEM certificate(s) to trust for an https:// server besides the system's")
	return a
}

// credentials are a caller's HTTP credentials: a user and password, or a
// bearer token, or none.
type credentials struct {
	user     string
	password string
	token    string
}

// apply sets r's Authorization header unless r has one.
func (c credentials) apply(r *http.Request) {
	switch {
	case r.Header.Get("Authorization") != "":
	case c.user != "":
		r.SetBasicAuth(c.user, c.password)
	case c.token != "":
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// credentials resolves the flags and environment into credentials, asking
// for the password on the terminal (or reading stdin's first line) when
// --user is given and STRATA_PASSWORD is not.
func (a *apiFlags) credentials(stdin io.Reader, stderr io.Writer) (credentials, error) {
	c := credentials{user: a.user, token: os.Getenv("STRATA_TOKEN")}
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return c, fmt.Errorf("--token-file: %w", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	if c.user == "" {
		return c, nil
	}
	if a.tokenFile != "" {
		return c, fmt.Errorf("%w: --user and --token-file: use one", errUsage)
	}
	c.token = ""
	if p, ok := os.LookupEnv("STRATA_PASSWORD"); ok {
		c.password = p
		return c, nil
	}
	p, err := askPassword(stdin, stderr, c.user)
	c.password = string(p)
	return c, err
}

// askPassword prompts once without echo on a terminal, else reads stdin's
// first line.
func askPassword(stdin io.Reader, stderr io.Writer, user string) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", user)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the password: %w", err)
		}
		return p, nil
	}
	return readPassword(stdin, stderr)
}

// apiClient calls one node's API with the caller's credentials.
type apiClient struct {
	base  string
	hc    *http.Client
	creds credentials
}

func (a *apiFlags) client(timeout time.Duration, stdin io.Reader, stderr io.Writer) (*apiClient, error) {
	creds, err := a.credentials(stdin, stderr)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: timeout}
	if a.ca != "" {
		pool, err := certPool(a.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		hc.Transport = tr
	}
	return &apiClient{base: httpURL(a.server), hc: hc, creds: creds}, nil
}

// do sends r with the credentials.
func (c *apiClient) do(r *http.Request) (*http.Response, error) {
	c.creds.apply(r)
	return c.hc.Do(r)
}

// send sends r with the credentials and returns the response of a 200; any
// other status is the API's error (the body closed).
func (c *apiClient) send(r *http.Request) (*http.Response, error) {
	resp, err := c.do(r)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}
