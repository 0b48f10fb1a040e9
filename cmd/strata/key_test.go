package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/auth"
)

func writeClusterKey(t *testing.T) string {
	t.Helper()
	var k [32]byte
	rand.Read(k[:])
	p := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// strata runs the command in-process and returns its exit code and output.
func strata(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestKeyCommands: a key made by `strata key create` admits an MQTT client
// of a node started with the same --cluster-key; `strata key revoke`
// through the node's API, with a user's credentials (the node has a
// password file: without them the API answers 401), ends its connection
// and refuses it afterwards.
func TestKeyCommands(t *testing.T) {
	keyFile := writeClusterKey(t)
	code, tok, stderr := strata("key", "create", "--cluster-key", keyFile, "--filter", "sensors/#", "--rights", "pub,sub", "--ttl", "1h", "--client-id-prefix", "dev-")
	if code != 0 {
		t.Fatalf("key create: %d %s", code, stderr)
	}
	tok = strings.TrimSpace(tok)
	id := strings.TrimSuffix(strings.Fields(stderr)[1], ":") // "key ID: ..."
	if len(id) != 32 || strings.Contains(stderr, tok) {
		t.Fatalf("key create stderr %q: want the id, not the token", stderr)
	}
	bin := buildStrata(t)
	p := &proc{id: "n1", http: freeAddr(t), raft: freeAddr(t), dir: t.TempDir()}
	pw := filepath.Join(t.TempDir(), "strata.passwd")
	if err := auth.SetPassword(pw, "ops", []byte("ops-pw")); err != nil {
		t.Fatal(err)
	}
	startNode(t, bin, p, "", "--cluster-key", keyFile, "--password-file", pw)
	waitFor(t, "the node to be ready", 20*time.Second, func() bool { var v any; return getJSON("http://"+p.http+"/readyz", &v) == nil })

	lost := make(chan error, 1)
	o := paho.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID("dev-1").SetUsername("anyone").SetPassword(tok).
		SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	c := paho.NewClient(o)
	if tk := c.Connect(); !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("connect with the key: %v", tk.Error())
	}
	bad := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID("dev-2").SetUsername("anyone").SetPassword(tok + "x"))
	if tk := bad.Connect(); tk.WaitTimeout(10*time.Second) && tk.Error() == nil {
		t.Fatal("a tampered key was accepted")
	}
	if code, _, stderr := strata("key", "revoke", "--server", p.http, id); code != 1 || !strings.Contains(stderr, "401") {
		t.Fatalf("key revoke without credentials: exit %d %q, want 1 and 401", code, stderr)
	}
	t.Setenv("STRATA_PASSWORD", "ops-pw")
	if code, _, stderr := strata("key", "revoke", "--server", p.http, "--user", "ops", id); code != 0 {
		t.Fatalf("key revoke: %d %s", code, stderr)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the key's connection survived its revocation")
	}
	again := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID("dev-1").SetUsername("anyone").SetPassword(tok))
	if tk := again.Connect(); tk.WaitTimeout(10*time.Second) && tk.Error() == nil {
		t.Fatal("a revoked key was accepted")
	}
}

func TestKeyCommandErrors(t *testing.T) {
	keyFile := writeClusterKey(t)
	for _, args := range [][]string{
		{"key", "create", "--filter", "a/#", "--rights", "pub"},
		{"key", "create", "--cluster-key", keyFile, "--filter", "a/#", "--rights", "delete"},
		{"key", "create", "--cluster-key", keyFile, "--filter", "a/#/b", "--rights", "pub"},
		{"key", "create", "--cluster-key", keyFile, "--filter", "a", "--rights", "pub", "--ttl", "-1h"},
		{"key", "create", "--cluster-key", filepath.Join(t.TempDir(), "missing"), "--filter", "a", "--rights", "pub"},
		{"key", "revoke"},
		{"key", "frobnicate"},
	} {
		if code, _, stderr := strata(args...); code == 0 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want an error", args, code, stderr)
		}
	}
	if code, out, _ := strata("key", "--help"); code != 0 || !strings.Contains(out, "strata key create") {
		t.Errorf("key --help: %d %q", code, out)
	}
}
