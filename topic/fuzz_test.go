package topic

import (
	"strings"
	"testing"
)

func FuzzValidateName(f *testing.F) {
	for _, c := range nameCases {
		if len(c.topic) < 1000 {
			f.Add(c.topic)
		}
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if ValidateFilter(name) != nil && !strings.HasPrefix(name, sharePrefix) {
			t.Fatalf("valid name %q is not a valid filter", name)
		}
		if !Match(name, name) {
			t.Fatalf("name %q does not match itself as a filter", name)
		}
	})
}

func FuzzValidateFilter(f *testing.F) {
	for _, c := range filterCases {
		f.Add(c.filter, "a/b")
	}
	for _, c := range matchCases {
		f.Add(c.filter, c.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		Match(filter, name) // never panics, whatever the arguments
		if ValidateFilter(filter) != nil {
			return
		}
		if _, inner, shared, err := ParseShare(filter); shared {
			if err != nil || inner == "" || ValidateFilter(inner) != nil {
				t.Fatalf("ParseShare(%q) = %q, %v after ValidateFilter accepted it", filter, inner, err)
			}
			filter = inner
		} else if !hasWildcard(filter) && ValidateName(filter) != nil {
			t.Fatalf("filter %q without wildcards is not a valid name", filter)
		}
		if ValidateName(name) != nil {
			return
		}
		want := bruteMatch(filter, name)
		if Match(filter, name) != want {
			t.Fatalf("Match(%q, %q) disagrees with the oracle", filter, name)
		}
		var tr Trie[struct{}]
		tr.Insert(filter, "c", struct{}{})
		got := false
		tr.Match(name, func(string, string, struct{}) { got = true })
		if got != want {
			t.Fatalf("Trie.Match(%q) with filter %q = %t, want %t", name, filter, got, want)
		}
	})
}

// hasWildcard reports whether a filter contains '+' or '#'.
func hasWildcard(filter string) bool { return strings.ContainsAny(filter, "+#") }
