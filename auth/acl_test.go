package auth

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stratamq/strata/topic"
)

const sampleACL = `# anonymous clients
topic read public/#
topic   deny   public/secret/#

pattern readwrite users/%u/#
pattern write clients/%c/status

user alice
topic read,replay sensors/#
topic deny sensors/private/#
topic admin
topic write cmd/+/set
user bob
topic write chat with spaces
topic chat
topic readwrite $SYS/#
`

const sampleYAML = `anonymous:
  - {topic: public/#, access: read}
  - {topic: public/secret/#, access: deny}
patterns:
  - {topic: users/%u/#, access: readwrite}
  - {topic: clients/%c/status, access: write}
users:
  alice:
    - {topic: sensors/#, access: [read, replay]}
    - {topic: sensors/private/#, access: deny}
    - {access: admin}
    - {topic: cmd/+/set, access: write}
  bob:
    - {topic: chat with spaces, access: write}
    - topic: chat
    - {topic: $SYS/#, access: readwrite}
`

func mustParse(t *testing.T, text string) *ACL {
	t.Helper()
	a, err := ParseACL("acl.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestParseACL: mosquitto's syntax with our rights; the YAML form means the
// same; what prints parses back equal.
func TestParseACL(t *testing.T) {
	a := mustParse(t, sampleACL)
	if len(a.Anonymous) != 2 || len(a.Patterns) != 2 || len(a.Users["alice"]) != 4 || len(a.Users["bob"]) != 3 {
		t.Fatalf("parsed %+v", a)
	}
	if r := a.Users["bob"][1]; r.Topic != "chat" || r.Rights != Publish|Subscribe {
		t.Errorf("no access word: %+v, want readwrite", r)
	}
	if r := a.Users["bob"][0]; r.Topic != "chat with spaces" || r.Rights != Publish || r.Line != 14 {
		t.Errorf("topic with spaces: %+v, want write on the rest of line 14", r)
	}
	if r := a.Users["alice"][0]; r.Rights != Subscribe|Replay {
		t.Errorf("read,replay: %+v", r)
	}
	y, err := ParseACLYAML("acl.yaml", []byte(sampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(y) {
		t.Errorf("YAML form differs:\n%s\nvs\n%s", a, y)
	}
	b := mustParse(t, a.String())
	if !a.Equal(b) || b.String() != a.String() {
		t.Errorf("printed form does not parse back the same:\n%s\nvs\n%s", a, b)
	}
}

// TestParseACLErrors: each error names file:line and what is wrong.
func TestParseACLErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"topic reed a/b", `acl.conf:1: unknown access "reed"`},
		{"topic chat with spaces", `a topic holding spaces needs its access word first`},
		{"\n\nuser\n", "acl.conf:3: empty user name"},
		{"topic read", "acl.conf:1: no topic"},
		{"topic", "acl.conf:1: no access and no topic"},
		{"topic admin a/b", "acl.conf:1: admin takes no topic"},
		{"topic read a/#/b", "acl.conf:1: topic: topic: invalid"},
		{"topic read,deny a", `unknown access "deny"`},
		{"topic read $share/g/a", "not a shared subscription"},
		{"users alice", `acl.conf:1: unknown keyword "users"`},
		{"user a:b", `user name "a:b" contains ':'`},
		{"pattern read a/%u+/b", "'+' must occupy an entire level"},
	} {
		_, err := ParseACL("acl.conf", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"users:\n  alice:\n    - {topic: a, acess: read}\n", `line 3: unknown key "acess"`},
		{"users:\n  alice:\n    - {topic: a, access: [read, deny]}\n", "acl.yaml:3: deny stands alone"},
		{"anonymous:\n  - {topic: a, access: reed}\n", `acl.yaml:2: unknown access "reed"`},
		{"anonymous:\n  - {access: read}\n", "acl.yaml:2: no topic"},
		{"anon:\n  - {topic: a}\n", "field anon not found"},
		{"users:\n  'a b':\n    - {topic: a}\n", "white space"},
		{"anonymous:\n  - {topic: ' a'}\n", "white space"},
	} {
		_, err := ParseACLYAML("acl.yaml", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestAllow: what is not granted is denied, deny wins, patterns
// substitute, '$' topics follow [MQTT-4.7.2-1].
func TestAllow(t *testing.T) {
	a := mustParse(t, sampleACL+"user carol\ntopic #\n")
	alice := a.For(Identity{User: "alice", ClientID: "c1"})
	anon := a.For(Identity{ClientID: "c2", Anonymous: true})
	bob := a.For(Identity{User: "bob", ClientID: "b/+"})
	carol := a.For(Identity{User: "carol", ClientID: "c3"})
	for _, tc := range []struct {
		name  string
		c     Checker
		right Right
		topic string
		want  bool
	}{
		{"alice reads sensors", alice, Subscribe, "sensors/t1", true},
		{"alice replays sensors", alice, Replay, "sensors/t1", true},
		{"alice cannot publish sensors", alice, Publish, "sensors/t1", false},
		{"deny wins", alice, Subscribe, "sensors/private/x", false},
		{"deny wins over replay", alice, Replay, "sensors/private", false},
		{"alice is admin", alice, Admin, "", true},
		{"bob is not", bob, Admin, "", false},
		{"not granted: denied", alice, Subscribe, "other", false},
		{"pattern %u", alice, Publish, "users/alice/x", true},
		{"pattern %u, someone else's", alice, Publish, "users/bob/x", false},
		{"pattern %c", alice, Publish, "clients/c1/status", true},
		{"pattern %c, read not granted", alice, Subscribe, "clients/c1/status", false},
		{"a client id with '+' gets no pattern", bob, Publish, "clients/b/+/status", false},
		{"anonymous: the first lines", anon, Subscribe, "public/news", true},
		{"anonymous: deny", anon, Subscribe, "public/secret/x", false},
		{"anonymous: %u does not apply", anon, Publish, "users//x", false},
		{"anonymous: %c applies", anon, Publish, "clients/c2/status", true},
		{"user rules are not anonymous'", alice, Subscribe, "public/news", false},
		{"topic with spaces", bob, Publish, "chat with spaces", true},
		{"# does not match $SYS [MQTT-4.7.2-1]", carol, Subscribe, "$SYS/broker/uptime", false},
		{"$SYS/# matches $SYS", bob, Subscribe, "$SYS/broker/uptime", true},
		{"# matches the rest", carol, Publish, "a/b", true},
		{"no right", carol, 0, "a/b", false},
	} {
		if got := tc.c.Allow(tc.right, tc.topic); got != tc.want {
			t.Errorf("%s: Allow(%v, %q) = %v", tc.name, tc.right, tc.topic, got)
		}
	}
}

// TestAllowFilter: a filter is granted when one rule covers every topic it
// can match and no deny rule meets any.
func TestAllowFilter(t *testing.T) {
	a := mustParse(t, sampleACL+"user carol\ntopic #\ntopic read a/+\ntopic read a\n")
	alice := a.For(Identity{User: "alice"})
	carol := a.For(Identity{User: "carol"})
	for _, tc := range []struct {
		c      Checker
		right  Right
		filter string
		want   bool
	}{
		{alice, Subscribe, "sensors/+/t", false}, // meets sensors/private/t
		{alice, Subscribe, "sensors/x/+", true},
		{alice, Subscribe, "sensors/#", false}, // meets sensors/private/#
		{alice, Subscribe, "sensors/public/#", true},
		{alice, Subscribe, "sensors/x/#", true},
		{alice, Subscribe, "sensors/+/#", false}, // sensors/private/x
		{alice, Subscribe, "#", false},
		{alice, Replay, "sensors/a/#", true},
		{alice, Publish, "cmd/x/set", true},
		{alice, Subscribe, "cmd/x/set", false},
		{carol, Subscribe, "#", true},
		{carol, Subscribe, "$SYS/#", false}, // '#' covers no '$' topic
		{carol, Subscribe, "+/x", true},
	} {
		if got := tc.c.AllowFilter(tc.right, tc.filter); got != tc.want {
			t.Errorf("AllowFilter(%v, %q) = %v, want %v", tc.right, tc.filter, got, tc.want)
		}
	}
}

// filters are every valid filter of up to three levels over a small
// alphabet; names every name of up to four levels over one that also
// holds a level no filter names.
func smallFilters() (filters, names []string) {
	var gen func(prefix []string, depth int, levels []string, out *[]string, filter bool)
	gen = func(prefix []string, depth int, levels []string, out *[]string, filter bool) {
		if len(prefix) > 0 {
			s := strings.Join(prefix, "/")
			if (filter && topic.ValidateFilter(s) == nil) || (!filter && topic.ValidateName(s) == nil) {
				*out = append(*out, s)
			}
		}
		if depth == 0 || (len(prefix) > 0 && prefix[len(prefix)-1] == "#") {
			return
		}
		for _, l := range levels {
			gen(append(prefix[:len(prefix):len(prefix)], l), depth-1, levels, out, filter)
		}
	}
	gen(nil, 3, []string{"a", "$x", "+", "#", ""}, &filters, true)
	gen(nil, 4, []string{"a", "$x", "z", ""}, &names, false)
	return filters, names
}

// TestCoversIntersects checks Covers and Intersects against topic.Match
// over every small filter and name.
func TestCoversIntersects(t *testing.T) {
	filters, names := smallFilters()
	matches := map[string][]bool{}
	for _, f := range filters {
		for _, n := range names {
			matches[f] = append(matches[f], topic.Match(f, n))
		}
	}
	for _, g := range filters {
		for _, f := range filters {
			cover, meet := true, false
			for i := range names {
				if matches[f][i] && !matches[g][i] {
					cover = false
				}
				if matches[f][i] && matches[g][i] {
					meet = true
				}
			}
			if Covers(g, f) != cover {
				t.Errorf("Covers(%q, %q) = %v, want %v", g, f, !cover, cover)
			}
			if Intersects(g, f) != meet {
				t.Errorf("Intersects(%q, %q) = %v, want %v", g, f, !meet, meet)
			}
		}
	}
}

// TestPolicyReload: a reload applies to checkers handed out before it; a
// file that does not parse leaves the old ACL in force.
func TestPolicyReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl.conf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("user alice\ntopic read a/#\n")
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	c := p.For(Identity{User: "alice"})
	if !c.Allow(Subscribe, "a/b") || c.Allow(Subscribe, "b") {
		t.Fatal("first ACL not applied")
	}
	write("user alice\ntopic read b\n")
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if c.Allow(Subscribe, "a/b") || !c.Allow(Subscribe, "b") {
		t.Fatal("an existing checker did not follow the reload")
	}
	write("user alice\ntopic reed c\n")
	err = p.Reload()
	if err == nil || !strings.Contains(err.Error(), "acl.conf:2: unknown access") {
		t.Fatalf("bad reload: %v", err)
	}
	if !c.Allow(Subscribe, "b") {
		t.Fatal("a failed reload changed the ACL")
	}
	yp := filepath.Join(t.TempDir(), "acl.yml")
	os.WriteFile(yp, []byte("users:\n  alice:\n    - {topic: y, access: read}\n"), 0o600)
	if p, err := LoadPolicy(yp); err != nil || !p.For(Identity{User: "alice"}).Allow(Subscribe, "y") {
		t.Fatalf(".yml not read as YAML: %v", err)
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

// bigACL has n users of three rules each, plus patterns.
func bigACL(n int) *ACL {
	var b strings.Builder
	b.WriteString("pattern readwrite users/%u/#\n")
	for i := range n {
		b.WriteString("user u" + itoa(i) + "\n")
		b.WriteString("topic read sensors/" + itoa(i) + "/#\n")
		b.WriteString("topic write cmd/" + itoa(i) + "/+\n")
		b.WriteString("topic deny sensors/" + itoa(i) + "/private\n")
	}
	b.WriteString("user big\n")
	for i := range n {
		b.WriteString("topic read room/" + itoa(i) + "/+\n")
	}
	a, err := ParseACL("bench", []byte(b.String()))
	if err != nil {
		panic(err)
	}
	return a
}

func itoa(i int) string { return strconv.Itoa(i) }

// BenchmarkAllow1000: a user holding 1,000 rules; Allow walks the topic's
// levels in the trie, it does not scan the rules.
func BenchmarkAllow1000(b *testing.B) {
	c := NewPolicy(bigACL(1000)).For(Identity{User: "big"})
	if !c.Allow(Subscribe, "room/517/x") || c.Allow(Subscribe, "room/517") {
		b.Fatal("wrong answers")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Allow(Subscribe, "room/517/x")
	}
}

// TestDocExamples: the examples of docs/security.md parse, and the two
// forms mean the same.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(fence string) string {
		_, rest, ok := strings.Cut(string(doc), fence+"\n")
		if !ok {
			t.Fatalf("no %s block", fence)
		}
		body, _, _ := strings.Cut(rest, "```\n")
		return body
	}
	text := mustParse(t, block("### Text form\n\n```"))
	y, err := ParseACLYAML("doc.yaml", []byte(block("```yaml")))
	if err != nil {
		t.Fatal(err)
	}
	alice := text.For(Identity{User: "alice"})
	if !alice.AllowFilter(Subscribe, "sensors/kitchen/#") || alice.AllowFilter(Subscribe, "sensors/+/temp") || !alice.Allow(Admin, "") {
		t.Error("the text example does not mean what the doc says")
	}
	for _, u := range []string{"alice", "bob"} {
		for _, tp := range []string{"sensors/a", "sensors/private/a", "chat/x", "room with spaces", "users/" + u + "/x", "public/x"} {
			for _, r := range []Right{Publish, Subscribe, Replay} {
				id := Identity{User: u}
				if text.For(id).Allow(r, tp) != y.For(id).Allow(r, tp) {
					t.Errorf("%s %v %s: the forms differ", u, r, tp)
				}
			}
		}
	}
}
