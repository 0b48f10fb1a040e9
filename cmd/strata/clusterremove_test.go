package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/mqtt/packet"
)

// TestClusterRemoveFollowsLeader: on a real three-node cluster, `strata
// cluster remove` sent to a follower follows it to the leader; removing a
// node that is not a member is exit 1. The removed node notices: it logs
// "removed from the cluster" at warn, /readyz answers 503 saying so, MQTT
// clients are refused with that reason, and the clients it held are sent
// elsewhere (DISCONNECT 0x9C): their sessions resume on another node.
func TestClusterRemoveFollowsLeader(t *testing.T) {
	bin := buildStrata(t)
	nodes := startCluster(t, bin, "r")
	leader := leaderOf(t, nodes)
	var follower, victim *proc
	for _, n := range nodes {
		switch {
		case n == leader:
		case follower == nil:
			follower = n
		default:
			victim = n
		}
	}
	held := connectPersistent(t, victim.mqtt, "held", 0)
	held.subscribe(t, "held/#")
	var out, errb bytes.Buffer
	code := run([]string{"cluster", "remove", "--server", follower.http, "--id", "nosuch"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "404") || !strings.Contains(errb.String(), "not a member") {
		t.Fatalf("remove nosuch: exit %d, %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = run([]string{"cluster", "remove", "--server", follower.http, "--id", victim.id}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), `"removed":"`+victim.id+`"`) || !strings.Contains(errb.String(), "sent to the leader "+leader.id) {
		t.Fatalf("remove via a follower: exit %d, %q %q", code, out.String(), errb.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("removed node:\n%s", victim.stderr)
		}
	})
	waitFor(t, "the removed node's warning", 10*time.Second, func() bool {
		for _, l := range strings.Split(victim.stderr.String(), "\n") {
			if strings.Contains(l, `"level":"warn"`) && strings.Contains(l, "removed from the cluster") {
				return true
			}
		}
		return false
	})
	expectDisconnect(t, held, packet.CodeUseAnotherServer)
	waitFor(t, "held's session to resume on "+follower.id, 20*time.Second, func() bool {
		nc, err := net.DialTimeout("tcp", follower.mqtt, 5*time.Second)
		if err != nil {
			return false
		}
		defer nc.Close()
		s := &mqttSession{nc: nc, br: bufio.NewReader(nc)}
		s.send(t, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: "held", Properties: packet.Properties{SessionExpirySeconds: 3600}})
		ack, ok := s.read(t).(*packet.Connack)
		return ok && ack.ReasonCode == 0 && ack.SessionPresent
	})
	resp, err := http.Get("http://" + victim.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error string }
	json.Unmarshal(body, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e.Error, "removed from the cluster") {
		t.Fatalf("removed node's /readyz: %d %s", resp.StatusCode, body)
	}
	if ack := connect5(t, victim.mqtt, "late"); ack.ReasonCode != packet.CodeServerUnavailable ||
		!strings.Contains(ack.Properties.ReasonString, "removed from the cluster") {
		t.Fatalf("CONNACK from the removed node: %v %q", ack.ReasonCode, ack.Properties.ReasonString)
	}
	out.Reset()
	if code := run([]string{"cluster", "status", "--server", victim.http}, &out, &errb); code != 0 || !strings.Contains(out.String(), "not ready: replication: this node was removed from the cluster") {
		t.Fatalf("cluster status on the removed node: exit %d %q", code, out.String())
	}
	var st struct{ Servers []struct{ ID string } }
	if err := getJSON("http://"+leader.http+"/v1/cluster/status", &st); err != nil || len(st.Servers) != 2 {
		t.Fatalf("the leader's members after the removal: %+v %v", st, err)
	}
}

// TestClusterSubcommandFlags: each cluster subcommand's --help lists only
// its own flags.
func TestClusterSubcommandFlags(t *testing.T) {
	for sub, c := range map[string]struct{ has, hasNot []string }{
		"status": {[]string{"-server", "-user"}, []string{"-id", "-raft-addr", "-http-addr"}},
		"remove": {[]string{"-server", "-id"}, []string{"-raft-addr", "-http-addr"}},
		"join":   {[]string{"-id", "-raft-addr", "-http-addr"}, nil},
	} {
		var out, errb bytes.Buffer
		if code := run([]string{"cluster", sub, "--help"}, &out, &errb); code != 0 {
			t.Fatalf("cluster %s --help: exit %d", sub, code)
		}
		help := out.String() + errb.String()
		for _, f := range c.has {
			if !strings.Contains(help, "  "+f+" ") {
				t.Errorf("cluster %s --help lacks %s:\n%s", sub, f, help)
			}
		}
		for _, f := range c.hasNot {
			if strings.Contains(help, "  "+f+" ") {
				t.Errorf("cluster %s --help lists %s:\n%s", sub, f, help)
			}
		}
	}
}

// connect5 sends an MQTT 5 CONNECT to addr and returns the CONNACK.
func connect5(t *testing.T, addr, id string) *packet.Connack {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := packet.Encode(nil, &packet.Connect{ProtocolVersion: packet.Version5, ClientID: id, CleanStart: true}, packet.Version5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	p, err := packet.Read(bufio.NewReader(nc), packet.Version5, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		t.Fatalf("got %T, want CONNACK", p)
	}
	return ack
}
