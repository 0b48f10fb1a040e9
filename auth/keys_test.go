package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, ClusterKeySize) }

func testKeys(t *testing.T, b byte) *Keys {
	t.Helper()
	k, err := NewKeys(testSecret(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createKey(t *testing.T, k *Keys, filter string, rights Right, ttl time.Duration) (string, KeyClaims) {
	t.Helper()
	tok, c, err := k.Create(KeyClaims{Filter: filter, Rights: rights, Expires: time.Now().Add(ttl), ClientIDPrefix: "dev-"})
	if err != nil {
		t.Fatal(err)
	}
	return tok, c
}

func TestKeyRoundTrip(t *testing.T) {
	k := testKeys(t, 1)
	tok, c := createKey(t, k, "sensors/#", Publish|Replay, time.Hour)
	if !LooksLikeToken(tok) {
		t.Fatalf("token %q does not look like one", tok)
	}
	id, err := k.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	got := *id.Key
	if got.ID != c.ID || got.Filter != "sensors/#" || got.Rights != Publish|Replay || got.ClientIDPrefix != "dev-" ||
		!got.Expires.Equal(c.Expires) || !got.IssuedAt.Equal(c.IssuedAt) || id.User != "key:"+c.ID {
		t.Fatalf("verified %+v (%q), created %+v", got, id.User, c)
	}
	// Another node holding the same cluster secret verifies it too.
	if _, err := testKeys(t, 1).Verify(tok); err != nil {
		t.Fatalf("same secret, other Keys: %v", err)
	}
}

func TestKeyRefused(t *testing.T) {
	k := testKeys(t, 1)
	tok, c := createKey(t, k, "sensors/#", Publish, time.Hour)
	forged, _ := createKey(t, testKeys(t, 2), "#", Publish|Subscribe|Replay|Admin, time.Hour)
	expiredKeys := testKeys(t, 1)
	expiredKeys.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	revokedKeys := testKeys(t, 1)
	revokedKeys.Revoked = func(id string) bool { return id == c.ID }
	cases := []struct {
		name string
		k    *Keys
		tok  string
		want error
	}{
		{"forged with another cluster key", k, forged, ErrKeyInvalid},
		{"payload widened, signature kept", k, widen(t, tok), ErrKeyInvalid},
		{"signature byte flipped", k, flipLast(tok), ErrKeyInvalid},
		{"alg none", k, algNone(t, tok), ErrKeyInvalid},
		{"truncated", k, tok[:len(tok)-10], ErrKeyInvalid},
		{"garbage", k, "eyJ.x.y", ErrKeyInvalid},
		{"too long", k, "eyJ" + strings.Repeat("a", maxTokenLength), ErrKeyInvalid},
		{"expired", expiredKeys, tok, ErrKeyExpired},
		{"revoked", revokedKeys, tok, ErrKeyRevoked},
	}
	for _, tc := range cases {
		_, err := tc.k.Verify(tc.tok)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tok[len(tok)-20:]) {
			t.Errorf("%s: the error quotes the token: %v", tc.name, err)
		}
	}
}

// widen rewrites the payload's filter to "#" and keeps the signature.
func widen(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["flt"] = "#"
	raw, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func flipLast(tok string) string {
	b := []byte(tok)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

func algNone(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return h + "." + parts[1] + "."
}

func TestKeyCreateRefusesBadClaims(t *testing.T) {
	k := testKeys(t, 1)
	future := time.Now().Add(time.Hour)
	for _, c := range []KeyClaims{
		{Filter: "a/#/b", Rights: Publish, Expires: future},
		{Filter: "a/#", Rights: 0, Expires: future},
		{Filter: "$share/g/a", Rights: Subscribe, Expires: future},
		{Filter: "a/#", Rights: Publish, Expires: time.Now().Add(-time.Second)},
	} {
		if _, _, err := k.Create(c); err == nil {
			t.Errorf("created a key with %+v", c)
		}
	}
	var none *Keys
	if _, err := none.Verify("eyJ.a.b"); !errors.Is(err, ErrKeyInvalid) {
		t.Errorf("nil Keys: %v", err)
	}
	if _, err := NewKeys([]byte("short")); err == nil {
		t.Error("NewKeys accepted a 5-byte secret")
	}
}

func TestKeyChecker(t *testing.T) {
	c := KeyChecker{Claims: KeyClaims{Filter: "sensors/+/temp", Rights: Publish | Replay}}
	for _, tc := range []struct {
		right  Right
		s      string
		filter bool
		want   bool
	}{
		{Publish, "sensors/a/temp", false, true},
		{Publish, "sensors/a/hum", false, false},
		{Subscribe, "sensors/a/temp", false, false},
		{Replay, "sensors/+/temp", true, true},
		{Replay, "sensors/#", true, false},
		{Replay, "#", true, false},
		{Replay, "$share/g/sensors/x/temp", true, true},
	} {
		got := c.Allow(tc.right, tc.s)
		if tc.filter {
			got = c.AllowFilter(tc.right, tc.s)
		}
		if got != tc.want {
			t.Errorf("%v on %q (filter %v): %v, want %v", tc.right, tc.s, tc.filter, got, tc.want)
		}
	}
	scope := KeyScope{}
	if _, ok := scope.For(Identity{User: "u"}).(allowAll); !ok {
		t.Error("an identity without a key is not Base's (AllowAll)")
	}
}

func TestKeyCoversFilter(t *testing.T) {
	for _, tc := range []struct {
		outer, inner string
		want         bool
	}{
		{"#", "a/b", true}, {"#", "#", true}, {"#", "$SYS/x", false},
		{"a/#", "a", true}, {"a/#", "a/+/c", true}, {"a/#", "a/#", true}, {"a/#", "#", false},
		{"a/+", "a/b", true}, {"a/+", "a/+", true}, {"a/+", "a/#", false}, {"a/+", "a/b/c", false},
		{"a/b", "a/+", false}, {"a/b", "a/b", true}, {"a/b", "a", false}, {"a", "a/b", false},
		{"+/x", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true},
	} {
		if got := Covers(tc.outer, tc.inner); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.outer, tc.inner, got, tc.want)
		}
	}
}

func TestParseRights(t *testing.T) {
	r, err := ParseRights("pub, subscribe,history")
	if err != nil || r != Publish|Subscribe|Replay || r.String() != "pub,sub,replay" {
		t.Fatalf("%v %q %v", r, r.String(), err)
	}
	for _, bad := range []string{"", "pub,", "delete"} {
		if _, err := ParseRights(bad); err == nil {
			t.Errorf("ParseRights(%q) accepted", bad)
		}
	}
}
