package fsm

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the actual output")

// TestGolden runs the scenarios in testdata/*.txt (etcd raft / pebble
// datadriven style). A case is one or more command lines, a "----" line,
// then the expected output up to a blank line. Lines starting with '#'
// between cases are comments. With -update the files are rewritten.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) { runGolden(t, path) })
	}
}

func runGolden(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness()
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			out.WriteString(text + "\n")
			continue
		}
		var cmds []string
		for ; text != "----"; line++ {
			cmds = append(cmds, text)
			if !sc.Scan() {
				t.Fatalf("%s:%d: case without ----", path, line)
			}
			text = sc.Text()
		}
		var want strings.Builder
		for sc.Scan() && sc.Text() != "" {
			line++
			want.WriteString(sc.Text() + "\n")
		}
		line++
		got := h.run(t, cmds)
		if !*update && got != want.String() {
			t.Errorf("%s:%d: %s\ngot:\n%swant:\n%s", path, line, strings.Join(cmds, "; "), got, want.String())
		}
		out.WriteString(strings.Join(cmds, "\n") + "\n----\n" + got + "\n")
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
