package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/auth"
)

// TestServeACLFileErrors: an ACL that does not load stops `strata serve`
// at once with a message naming the file, the line and the fault.
func TestServeACLFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "acl.conf")
	os.WriteFile(bad, []byte("user alice\ntopic reed a/#\n"), 0o600)
	badYAML := filepath.Join(dir, "acl.yaml")
	os.WriteFile(badYAML, []byte("users:\n  alice:\n    - {topic: 'a/#/b'}\n"), 0o600)
	for _, tc := range []struct{ file, want string }{
		{bad, "--acl-file: " + bad + `:2: unknown access "reed"`},
		{badYAML, "--acl-file: " + badYAML + ":3: topic: topic: invalid"},
		{filepath.Join(dir, "none"), "--acl-file: reading the ACL: open"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--acl-file", tc.file}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("--acl-file %s: exit %d, stderr %q, want %q", tc.file, code, errb.String(), tc.want)
		}
	}
}

// TestServeACL runs `strata serve --password-file --acl-file` (YAML) and
// checks, with paho over loopback: anonymous clients are refused (a
// password file turns them off on loopback too), a user gets 0x80 for a
// filter the ACL does not grant, and a denied publish reaches nobody.
func TestServeACL(t *testing.T) {
	bin := buildStrata(t)
	dir := t.TempDir()
	pw := filepath.Join(dir, "strata.passwd")
	for _, u := range []string{"alice", "bob"} {
		if err := auth.SetPassword(pw, u, []byte(u+"-pw")); err != nil {
			t.Fatal(err)
		}
	}
	acl := filepath.Join(dir, "acl.yml")
	os.WriteFile(acl, []byte("users:\n  alice:\n    - {topic: a/+/ok, access: write}\n  bob:\n    - {topic: a/public/#, access: read}\n"), 0o600)
	p := &proc{id: "acl1", http: freeAddr(t), raft: freeAddr(t), dir: filepath.Join(dir, "data")}
	startNode(t, bin, p, "", "--password-file", pw, "--acl-file", acl)
	waitFor(t, "the MQTT listener", 20*time.Second, func() bool { return canDial(p.mqtt) })

	client := func(id, user string) (paho.Client, paho.Token) {
		o := paho.NewClientOptions().AddBroker("tcp://" + p.mqtt).SetClientID(id).SetAutoReconnect(false).SetProtocolVersion(4)
		if user != "" {
			o.SetUsername(user).SetPassword(user + "-pw")
		}
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatalf("%s: no CONNACK", id)
		}
		t.Cleanup(func() { c.Disconnect(100) })
		return c, tok
	}
	if _, tok := client("anon", ""); tok.Error() == nil {
		t.Fatal("an anonymous client was admitted on loopback with a password file")
	}
	got := make(chan string, 10)
	bob, tok := client("bob", "bob")
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	st := bob.SubscribeMultiple(map[string]byte{"a/#": 1, "a/public/+": 1}, func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	if !st.WaitTimeout(10*time.Second) || st.Error() != nil {
		t.Fatalf("subscribe: %v", st.Error())
	}
	if r := st.(*paho.SubscribeToken).Result(); r["a/#"] != 0x80 || r["a/public/+"] != 1 {
		t.Fatalf("SUBACK %v, want a/# refused (0x80), a/public/+ granted", r)
	}
	alice, tok := client("alice", "alice")
	if tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for _, tp := range []string{"a/public/no", "a/public/ok"} { // a/public/no: not granted, acknowledged all the same (3.1.1)
		if pt := alice.Publish(tp, 1, false, "m"); !pt.WaitTimeout(10*time.Second) || pt.Error() != nil {
			t.Fatalf("publish %s: %v", tp, pt.Error())
		}
	}
	select {
	case topic := <-got:
		if topic != "a/public/ok" {
			t.Fatalf("bob got %s first", topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob got nothing")
	}
}
