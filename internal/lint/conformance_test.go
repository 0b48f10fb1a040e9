package lint

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docs/conformance.md lists every MQTT normative statement with the test
// that covers it. These checks keep it in step with the tests: a tag a test
// cites must be listed (else a covered statement looks like a gap, or the
// tag is a typo), and a test the file names must exist (else a renamed or
// deleted test leaves a statement looking covered).

const conformanceDoc = "docs/conformance.md"

var (
	// tagRE matches a statement tag as tests cite it. The 3.1.1 spec's
	// one dotted tag ("MQTT-3.1.2.7") is matched too.
	tagRE = regexp.MustCompile(`MQTT-\d+\.\d+\.\d+[-.]\d+`)
	// testRefRE matches a row's reference to a test: `path_test.go` Name.
	testRefRE = regexp.MustCompile("`([\\w./-]+_test\\.go)` ((?:Test|Fuzz|Benchmark|Example)\\w*)")
)

func TestConformanceDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("../..", conformanceDoc))
	if err != nil {
		t.Fatal(err)
	}
	tests := readTestFiles(t, "../..")
	for _, m := range missingTags(string(doc), tests) {
		t.Errorf("%s is cited in %s but not listed in %s", m.tag, m.file, conformanceDoc)
	}
	for _, bad := range badTestRefs(string(doc), tests) {
		t.Errorf("%s names %s, which does not exist", conformanceDoc, bad)
	}
	for _, row := range rowsWithoutStatus(string(doc)) {
		t.Errorf("%s: row without a test or a reason (a GAP): %s", conformanceDoc, row)
	}
}

// rowsWithoutStatus returns the statement rows whose last column is none
// of: a test reference, "n/a: reason". A GAP (a statement a server must
// meet with no test) fails the check: issue 13's "done when".
func rowsWithoutStatus(doc string) []string {
	var bad []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| MQTT-") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "| "), " | ")
		last := cols[len(cols)-1]
		ok := len(cols) == 3 && (testRefRE.MatchString(last) || strings.HasPrefix(last, "n/a: ") && len(last) > 10)
		if !ok {
			bad = append(bad, line)
		}
	}
	return bad
}

// readTestFiles returns the text of every _test.go file under root, by
// slash-separated path relative to root.
func readTestFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

type citation struct{ tag, file string }

// missingTags returns the tags cited in tests that doc does not list, each
// once (with the first file citing it, in path order).
func missingTags(doc string, tests map[string]string) []citation {
	listed := map[string]bool{}
	for _, tag := range tagRE.FindAllString(doc, -1) {
		listed[tag] = true
	}
	var missing []citation
	for _, path := range sortedKeys(tests) {
		if path == "internal/lint/conformance_test.go" {
			continue // its examples are not citations
		}
		for _, tag := range tagRE.FindAllString(tests[path], -1) {
			if !listed[tag] {
				listed[tag] = true // report once
				missing = append(missing, citation{tag, path})
			}
		}
	}
	return missing
}

// badTestRefs returns the "file Name" references in doc whose file has no
// func Name.
func badTestRefs(doc string, tests map[string]string) []string {
	var bad []string
	seen := map[string]bool{}
	for _, m := range testRefRE.FindAllStringSubmatch(doc, -1) {
		ref := m[1] + " " + m[2]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if !strings.Contains(tests[m[1]], "\nfunc "+m[2]+"(") {
			bad = append(bad, ref)
		}
	}
	return bad
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestConformanceChecks shows the checks catch what they are for.
func TestConformanceChecks(t *testing.T) {
	doc := "| MQTT-3.1.0-1 | first packet | `a/x_test.go` TestFirst; `a/x_test.go` TestGone |\n"
	tests := map[string]string{
		"a/x_test.go": "package a\n\nfunc TestFirst(t *testing.T) {} // [MQTT-3.1.0-1]\n",
		"b/y_test.go": "package b\n\n// [" + "MQTT-9.9.9-9] is not in the doc\nfunc TestY(t *testing.T) {}\n",
	}
	if m := missingTags(doc, tests); len(m) != 1 || m[0].tag != "MQTT-9.9.9-9" || m[0].file != "b/y_test.go" {
		t.Errorf("missingTags = %v, want MQTT-9.9.9-9 in b/y_test.go", m)
	}
	if b := badTestRefs(doc, tests); len(b) != 1 || b[0] != "a/x_test.go TestGone" {
		t.Errorf("badTestRefs = %v, want a/x_test.go TestGone", b)
	}
	rows := doc + "| MQTT-3.1.0-2 | second connect | n/a: a client-only statement |\n" +
		"| MQTT-3.1.2-1 | protocol name | |\n| MQTT-3.1.2-2 | version | maybe |\n"
	if r := rowsWithoutStatus(rows); len(r) != 2 {
		t.Errorf("rowsWithoutStatus = %q, want the last two rows", r)
	}
}
