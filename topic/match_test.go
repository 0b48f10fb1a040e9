package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

var matchCases = []struct {
	filter, name string
	want         bool
}{
	{"sport/tennis/player1/#", "sport/tennis/player1", true}, // [MQTT-4.7.1-2] parent level
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/#", "sport", true},
	{"#", "a/b", true},
	{"#", "/", true},
	{"sport/tennis/+", "sport/tennis/player1", true}, // [MQTT-4.7.1-3]
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true}, // + matches an empty level
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+", "a", true},
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"#", "$SYS/x", false}, // [MQTT-4.7.2-1]
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"a/#", "$a/b", false},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		if got := Match(c.filter, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %t, want %t", c.filter, c.name, got, c.want)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { Match("a/+/c/#", "a/b/c/d/e") })
	if allocs != 0 {
		t.Fatalf("Match allocates %v times", allocs)
	}
}

// randomTopic draws names and filters from a small alphabet so that matches,
// empty levels and '$' topics are frequent.
func randomLevels(r *rand.Rand, wild bool) string {
	alphabet := []string{"a", "b", "", "$x"}
	if wild {
		alphabet = append(alphabet, "+", "+", "#")
	}
	n := 1 + r.IntN(4)
	levels := make([]string, 0, n)
	for i := 0; i < n; i++ {
		l := alphabet[r.IntN(len(alphabet))]
		if l == "#" && i != n-1 {
			l = "+"
		}
		levels = append(levels, l)
	}
	return strings.Join(levels, "/")
}

// bruteMatch is an independent, level-by-level implementation of the
// matching rules used as the oracle for the property tests.
func bruteMatch(filter, name string) bool {
	fl, nl := strings.Split(filter, "/"), strings.Split(name, "/")
	if strings.HasPrefix(name, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, f := range fl {
		if f == "#" {
			return true
		}
		if i >= len(nl) || (f != "+" && f != nl[i]) {
			return false
		}
	}
	return len(fl) == len(nl)
}

func TestMatchProperty(t *testing.T) {
	const seed = 7
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < 20000; i++ {
		f, n := randomLevels(r, true), randomLevels(r, false)
		if ValidateFilter(f) != nil || ValidateName(n) != nil {
			continue
		}
		if got, want := Match(f, n), bruteMatch(f, n); got != want {
			t.Fatalf("seed %d: Match(%q, %q) = %t, oracle %t", seed, f, n, got, want)
		}
	}
}

func TestTrieMatchesBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		tr := NewTrie[int]()
		model := map[[2]string]int{}
		for i := 0; i < 300; i++ {
			f, id := randomLevels(r, true), fmt.Sprint("c", r.IntN(5))
			if ValidateFilter(f) != nil {
				continue
			}
			if r.IntN(4) == 0 {
				_, had := model[[2]string{f, id}]
				if tr.Remove(f, id) != had {
					t.Fatalf("seed %d: Remove(%q,%q) disagrees with model", seed, f, id)
				}
				delete(model, [2]string{f, id})
				continue
			}
			_, had := model[[2]string{f, id}]
			if tr.Insert(f, id, i) == had {
				t.Fatalf("seed %d: Insert(%q,%q) new=%t, model had=%t", seed, f, id, !had, had)
			}
			model[[2]string{f, id}] = i
		}
		if tr.Len() != len(model) {
			t.Fatalf("seed %d: Len %d, model %d", seed, tr.Len(), len(model))
		}
		for i := 0; i < 200; i++ {
			name := randomLevels(r, false)
			var got, want []string
			tr.Match(name, func(f, id string, v int) { got = append(got, fmt.Sprint(f, "|", id, "|", v)) })
			for k, v := range model {
				if bruteMatch(k[0], name) {
					want = append(want, fmt.Sprint(k[0], "|", k[1], "|", v))
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("seed %d: Match(%q)\n got %v\nwant %v", seed, name, got, want)
			}
		}
	}
}

func TestTrieRemovePrunes(t *testing.T) {
	tr := NewTrie[struct{}]()
	tr.Insert("a/b/c", "x", struct{}{})
	tr.Insert("a/b/c", "y", struct{}{})
	if !tr.Remove("a/b/c", "x") || tr.Remove("a/b/c", "x") {
		t.Fatal("Remove reported wrongly")
	}
	tr.Remove("a/b/c", "y")
	if tr.Len() != 0 || len(tr.root.children) != 0 {
		t.Fatalf("trie not pruned: len %d, root children %d", tr.Len(), len(tr.root.children))
	}
}

func TestTrieWalkDeterministic(t *testing.T) {
	tr := NewTrie[int]()
	for i, f := range []string{"b/#", "a/+", "a", "a/+", "$s/x"} {
		tr.Insert(f, fmt.Sprint("id", i%3), i)
	}
	var got []string
	tr.Walk(func(f, id string, v int) bool { got = append(got, f+"|"+id); return true })
	want := "$s/x|id1,a|id2,a/+|id0,a/+|id1,b/#|id0"
	if strings.Join(got, ",") != want {
		t.Fatalf("Walk order %v, want %s", got, want)
	}
	if v, ok := tr.Get("a/+", "id0"); !ok || v != 3 {
		t.Fatalf("Get(a/+, id0) = %d %t, want 3 (replaced)", v, ok)
	}
}

func TestTrieWalkOrderAndStop(t *testing.T) {
	var tr Trie[int] // the zero value is usable
	for i, f := range []string{"b", "a-x", "a/b", "a/+", "a", "/a", "#"} {
		tr.Insert(f, "c", i)
	}
	var got []string
	tr.Walk(func(f, _ string, _ int) bool { got = append(got, f); return true })
	// Depth first by level: "" < "#" < "a" < "a-x" < "b"; a node before its children.
	want := "/a,#,a,a/+,a/b,a-x,b"
	if strings.Join(got, ",") != want {
		t.Fatalf("Walk order %v, want %s", got, want)
	}
	n := 0
	tr.Walk(func(string, string, int) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Walk visited %d entries after fn returned false at the 3rd", n)
	}
}

// The trie does not unwrap shared filters (documented on Trie and Match):
// "$share/g/a/+" is indexed under its literal levels.
func TestTrieSharedFilterIsLiteral(t *testing.T) {
	tr := NewTrie[int]()
	tr.Insert("$share/g/a/+", "c", 1)
	for _, c := range []struct {
		name string
		want bool
	}{{"a/b", false}, {"$share/g/a/b", true}, {"$share/h/a/b", false}} {
		got := false
		tr.Match(c.name, func(string, string, int) { got = true })
		if got != c.want || Match("$share/g/a/+", c.name) != c.want {
			t.Errorf("Trie.Match/Match(%q) = %t/%t, want %t", c.name, got, Match("$share/g/a/+", c.name), c.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	const name = "site/12/dev/3456/temp"
	b.SetBytes(int64(len(name)))
	b.ReportAllocs()
	for b.Loop() {
		if !Match("site/+/dev/+/temp", name) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkTrieMatch(b *testing.B) {
	tr := NewTrie[int]()
	for i := 0; i < 10000; i++ {
		tr.Insert(fmt.Sprintf("site/%d/dev/%d/+", i%100, i), "c", i)
	}
	tr.Insert("site/#", "all", 0)
	const name = "site/42/dev/4242/temp"
	b.SetBytes(int64(len(name)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		tr.Match(name, func(string, string, int) { n++ })
	}
	if n != 2*b.N { // "site/42/dev/4242/+" and "site/#"
		b.Fatalf("%d matches in %d calls, want 2 per call", n, b.N)
	}
}

// TestTrieMatchOrder: Match yields each matching filter's ids in ascending
// order, also after inserts and removes change them.
func TestTrieMatchOrder(t *testing.T) {
	tr := NewTrie[int]()
	ids := []string{"c9", "c1", "c5", "c3", "c7", "c2"}
	for i, id := range ids {
		tr.Insert("a/+", id, i)
	}
	order := func() []string {
		var got []string
		tr.Match("a/b", func(filter, id string, _ int) { got = append(got, id) })
		return got
	}
	if got := order(); !slices.Equal(got, []string{"c1", "c2", "c3", "c5", "c7", "c9"}) {
		t.Fatalf("Match order %v", got)
	}
	tr.Insert("a/+", "c0", 0)
	tr.Remove("a/+", "c5")
	if got := order(); !slices.Equal(got, []string{"c0", "c1", "c2", "c3", "c7", "c9"}) {
		t.Fatalf("Match order after a change %v", got)
	}
	var v int
	tr.Insert("a/+", "c3", 42) // a new value for an existing id
	tr.Match("a/b", func(_, id string, val int) {
		if id == "c3" {
			v = val
		}
	})
	if v != 42 {
		t.Fatalf("Match gave c3's old value %d", v)
	}
}
