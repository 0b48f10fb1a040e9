package auth

import (
	"testing"
)

// FuzzParseACL: no input panics; what parses prints and parses back to an
// equal ACL that prints the same; every checker answers without panicking.
func FuzzParseACL(f *testing.F) {
	f.Add([]byte(sampleACL))
	f.Add([]byte("topic read,replay a/+/#\nuser x\ntopic admin\npattern deny %u/%c\n"))
	f.Add([]byte("topic $SYS/#\n#c\n\n user  a \n topic  write  a b \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseACL("f", data)
		if err != nil {
			return
		}
		b, err := ParseACL("f", []byte(a.String()))
		if err != nil {
			t.Fatalf("printed form does not parse: %v\n%s", err, a)
		}
		if !a.Equal(b) || a.String() != b.String() {
			t.Fatalf("printed form parses differently:\n%s\nvs\n%s", a, b)
		}
		exercise(a)
	})
}

// FuzzParseACLYAML: no input panics; what parses prints in the text form
// and parses back equal.
func FuzzParseACLYAML(f *testing.F) {
	f.Add([]byte(sampleYAML))
	f.Add([]byte("users:\n  a:\n    - {access: admin}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseACLYAML("f.yaml", data)
		if err != nil {
			return
		}
		b, err := ParseACL("f", []byte(a.String()))
		if err != nil {
			t.Fatalf("printed form does not parse: %v\n%s", err, a)
		}
		if !a.Equal(b) {
			t.Fatalf("printed form parses differently:\n%s\nvs\n%s", a, b)
		}
		exercise(a)
	})
}

// FuzzCovers: Covers implies Intersects, and a filter covers itself.
func FuzzCovers(f *testing.F) {
	f.Add("a/+/#", "a/b/c")
	f.Add("#", "$SYS/x")
	f.Fuzz(func(t *testing.T, g, h string) {
		if checkRule(Rule{Rights: Subscribe, Topic: g}, false) != nil || checkRule(Rule{Rights: Subscribe, Topic: h}, false) != nil {
			return
		}
		if !Covers(g, g) || !Intersects(g, g) {
			t.Fatalf("%q does not cover or meet itself", g)
		}
		if Covers(g, h) && !Intersects(g, h) {
			t.Fatalf("Covers(%q, %q) but they do not intersect", g, h)
		}
		if Intersects(g, h) != Intersects(h, g) {
			t.Fatalf("Intersects(%q, %q) is not symmetric", g, h)
		}
	})
}

func exercise(a *ACL) {
	for _, id := range []Identity{{Anonymous: true, ClientID: "c"}, {User: "x", ClientID: "y"}} {
		c := a.For(id)
		for _, tp := range []string{"a", "a/b", "$SYS/x", "x/y/z"} {
			c.Allow(Subscribe, tp)
			c.AllowFilter(Replay, tp)
		}
		c.AllowFilter(Subscribe, "#")
		c.Allow(Admin, "")
	}
}
