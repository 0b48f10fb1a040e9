package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// runHealth is `strata health`: exit 0 when a node's /readyz answers 200,
// 1 otherwise with the reason on stderr. Container images built FROM
// scratch or distroless have no curl or wget, so the binary checks itself
// (the Dockerfile's HEALTHCHECK, compose's healthcheck).
func runHealth(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", stderr)
	addr := fs.String("http", "127.0.0.1:8080", "the node's HTTP API (serve --http): host:port (http), or an http:// or https:// URL")
	ca := fs.String("ca", "", "PEM certificate(s) to trust for an https:// address besides the system's")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	client, err := healthClient(*ca, *timeout)
	if err != nil {
		return err
	}
	url := httpURL(*addr) + "/readyz"
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s%s", url, resp.Status, readyzReason(resp.Body))
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

// healthClient is an HTTP client that trusts ca's certificates too (the
// node's --tls-cert is often self-signed) and follows no redirect: /readyz
// never redirects, so one would mean the address is not a Strata node.
func healthClient(ca string, timeout time.Duration) (*http.Client, error) {
	hc := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	if ca == "" {
		return hc, nil
	}
	pool, err := certPool(ca)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc.Transport = tr
	return hc, nil
}

// readyzReason is ": <why>" from a 503's {"error": ...} body, or "" when
// the body says nothing readable.
func readyzReason(body io.Reader) string {
	var answer struct {
		Error string `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(body, 1<<12)).Decode(&answer) != nil {
		return ""
	}
	if why := strings.TrimSpace(answer.Error); why != "" {
		return ": " + why
	}
	return ""
}
