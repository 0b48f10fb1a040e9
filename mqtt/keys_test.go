package mqtt_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/fsm"
	"github.com/stratamq/strata/log"
	"github.com/stratamq/strata/mqtt"
	"github.com/stratamq/strata/mqtt/packet"
)

// clusterKeys are the signed keys of a cluster whose secret is 32 bytes of b.
func clusterKeys(t *testing.T, b byte) *auth.Keys {
	t.Helper()
	k, err := auth.NewKeys(bytes.Repeat([]byte{b}, auth.ClusterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t *testing.T, k *auth.Keys, filter, rights, prefix string, ttl time.Duration) (string, auth.KeyClaims) {
	t.Helper()
	r, err := auth.ParseRights(rights)
	if err != nil {
		t.Fatal(err)
	}
	tok, c, err := k.Create(auth.KeyClaims{Filter: filter, Rights: r, ClientIDPrefix: prefix, Expires: time.Now().Add(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

func withKeys(k *auth.Keys) func(*mqtt.Options) {
	return func(o *mqtt.Options) { o.Keys = k }
}

func keyConnect(id, token string) *packet.Connect {
	return &packet.Connect{ClientID: id, CleanStart: true, HasUsername: true, Username: "anyone",
		HasPassword: true, Password: []byte(token)}
}

// connackCode connects with cp at protocol version v and returns the CONNACK code.
func connackCode(t *testing.T, addr string, v byte, cp *packet.Connect) packet.ReasonCode {
	t.Helper()
	rc := dialRaw(t, addr, v)
	defer rc.close()
	c := *cp
	c.ProtocolVersion = v
	return rc.connect(&c).ReasonCode
}

// TestKeyScope: a key admits a client whatever its user name and bounds
// what it publishes, subscribes and replays to the key's filter and rights.
func TestKeyScope(t *testing.T) {
	k := clusterKeys(t, 1)
	tb := startBroker(t, withKeys(k))
	tok, _ := newKey(t, k, "sensors/#", "pub,sub", "dev-", time.Hour)
	rc, _ := rawConnect(t, tb.addr, keyConnect("dev-1", tok))
	if code := rc.publish(&packet.Publish{Topic: "sensors/a", QoS: 1, Payload: []byte("x")}); code.IsError() {
		t.Fatalf("publish in scope: %v", code)
	}
	if code := rc.publish(&packet.Publish{Topic: "actuators/a", QoS: 1, Payload: []byte("x")}); code != packet.CodeNotAuthorized {
		t.Fatalf("publish out of scope: %v, want 0x87", code)
	}
	rc.subscribe(0, packet.Subscription{Filter: "sensors/+/t", QoS: 1})
	for _, f := range []string{"#", "+/a", "$replay/0/sensors/#", "$SYS/#"} {
		rc.mustSend(&packet.Subscribe{PacketID: rc.packetID(), Subscriptions: []packet.Subscription{{Filter: f}}})
		ack := await[*packet.Suback](t, rc, 10*time.Second)
		if !ack.ReasonCodes[0].IsError() {
			t.Errorf("SUBSCRIBE %q granted %v to a key for sensors/# pub,sub", f, ack.ReasonCodes[0])
		}
	}
	// A 3.1.1 client: an out-of-scope QoS 1 publish is dropped (acknowledged, not stored).
	rc3 := dialRaw(t, tb.addr, packet.Version311)
	if ack := rc3.connect(keyConnect("dev-2", tok)); ack.ReasonCode != 0 {
		t.Fatalf("3.1.1 CONNACK %v", ack.ReasonCode)
	}
	rc.subscribe(0, packet.Subscription{Filter: "sensors/#"})
	rc3.publish(&packet.Publish{Topic: "other/x", QoS: 1, Payload: []byte("dropped")})
	rc3.publish(&packet.Publish{Topic: "sensors/b", QoS: 1, Payload: []byte("kept")})
	p, topic := rc.recvPublish(10 * time.Second)
	if topic != "sensors/b" || string(p.Payload) != "kept" {
		t.Fatalf("received %q %q, want the in-scope publish only", topic, p.Payload)
	}
}

// TestKeyRefusedOnConnect: forged, tampered, expired keys get 0x86 (return
// code 4 in 3.1.1, which the codec reads back as 0x86); a client id without
// the key's prefix, or a will outside its scope, 0x87 (5).
func TestKeyRefusedOnConnect(t *testing.T) {
	k := clusterKeys(t, 1)
	tb := startBroker(t, withKeys(k))
	tok, _ := newKey(t, k, "sensors/#", "pub,sub", "dev-", time.Hour)
	forged, _ := newKey(t, clusterKeys(t, 2), "#", "pub,sub,replay,admin", "", time.Hour)
	stale := clusterKeys(t, 1)
	stale.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, err := stale.Create(auth.KeyClaims{Filter: "sensors/#", Rights: auth.Publish, Expires: stale.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	willOut := keyConnect("dev-w", tok)
	willOut.Will = &packet.Will{Topic: "elsewhere", Payload: []byte("bye")}
	cases := []struct {
		name string
		cp   *packet.Connect
		want packet.ReasonCode
	}{
		{"forged", keyConnect("dev-1", forged), packet.CodeBadUsernameOrPassword},
		{"tampered", keyConnect("dev-1", widenKey(t, tok)), packet.CodeBadUsernameOrPassword},
		{"expired", keyConnect("dev-1", expired), packet.CodeBadUsernameOrPassword},
		{"wrong client id prefix", keyConnect("ops-1", tok), packet.CodeNotAuthorized},
		{"will out of scope", willOut, packet.CodeNotAuthorized},
	}
	for _, tc := range cases {
		for _, v := range []byte{packet.Version5, packet.Version311} {
			if got := connackCode(t, tb.addr, v, tc.cp); got != tc.want {
				t.Errorf("%s (protocol %d): CONNACK %v, want %v", tc.name, v, got, tc.want)
			}
		}
	}
}

// widenKey rewrites a token's filter to "#", keeping its signature.
func widenKey(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["flt"] = "#"
	raw, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// TestKeyExpiresMidConnection: the connection is closed with DISCONNECT
// 0xA0 (maximum connect time) when its key expires.
func TestKeyExpiresMidConnection(t *testing.T) {
	k := clusterKeys(t, 1)
	tb := startBroker(t, withKeys(k))
	tok, c := newKey(t, k, "a/#", "pub", "", 2*time.Second)
	rc, _ := rawConnect(t, tb.addr, keyConnect("c1", tok))
	rc.expectDisconnect(packet.CodeMaximumConnectTime, time.Until(c.Expires)+5*time.Second)
	if time.Now().Before(c.Expires) {
		t.Fatalf("closed before the key expired at %v", c.Expires)
	}
}

func revokeRecord(t *testing.T, id string) log.Record {
	t.Helper()
	e := fsm.Entry{Kind: fsm.KindKeyRevoke, KeyID: id}
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestKeyRevoked: a revocation applied from the log closes the key's
// connections (DISCONNECT 0x87) and refuses the key from then on, while
// another key keeps working.
func TestKeyRevoked(t *testing.T) {
	k := clusterKeys(t, 1)
	tb := startBroker(t, withKeys(k))
	tok, c := newKey(t, k, "a/#", "pub", "", time.Hour)
	other, _ := newKey(t, k, "a/#", "pub", "", time.Hour)
	rc, _ := rawConnect(t, tb.addr, keyConnect("c1", tok))
	keep, _ := rawConnect(t, tb.addr, keyConnect("c2", other))
	if _, err := tb.fake.Propose(context.Background(), revokeRecord(t, c.ID)).Wait(); err != nil {
		t.Fatal(err)
	}
	rc.expectDisconnect(packet.CodeNotAuthorized, 10*time.Second)
	if got := connackCode(t, tb.addr, packet.Version5, keyConnect("c1", tok)); got != packet.CodeNotAuthorized {
		t.Fatalf("revoked key: CONNACK %v, want 0x87", got)
	}
	if code := keep.publish(&packet.Publish{Topic: "a/b", QoS: 1}); code.IsError() {
		t.Fatalf("the other key's client: %v", code)
	}
}

// TestKeyRevokedCluster: on a real 3-node cluster a revocation proposed on
// one follower closes the key's connection on the other follower and is
// refused by the leader too: every node applies it at the same offset.
func TestKeyRevokedCluster(t *testing.T) {
	k := clusterKeys(t, 1)
	tc := startCluster(t, 3, withKeys(k))
	tok, c := newKey(t, k, "a/#", "pub,sub", "", time.Hour)
	rc, _ := rawConnect(t, tc.nodes[2].addr, keyConnect("c1", tok))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tc.nodes[1].node.Propose(ctx, revokeRecord(t, c.ID)).Wait(); err != nil {
		t.Fatal(err)
	}
	rc.expectDisconnect(packet.CodeNotAuthorized, 10*time.Second)
	for i, nb := range tc.nodes {
		if got := connackCode(t, nb.addr, packet.Version5, keyConnect("c2", tok)); got != packet.CodeNotAuthorized {
			t.Errorf("node %d: revoked key got CONNACK %v", i+1, got)
		}
		if !nb.views.View().KeyRevoked(c.ID) {
			t.Errorf("node %d: the revocation is not in its view", i+1)
		}
	}
}
