package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCompareWritesSection: `strata bench compare` starts a real Strata
// node (the test binary's build of serve is not the strata binary, so this
// runs the built binary), measures a small scenario and replaces the compare
// section of the output file, keeping the rest.
func TestBenchCompareWritesSection(t *testing.T) {
	bin := buildStrata(t)
	out := filepath.Join(t.TempDir(), "bench.md")
	os.WriteFile(out, []byte("# Benchmarks\n\nkept\n"+compareBegin+"\nold\n"+compareEnd+"\ntail kept\n"), 0o644)
	for i := 0; i < 2; i++ { // the second run replaces the first's section
		cmd := exec.Command(bin, "bench", "compare", "--peers", "", "--runs", "1", "--scale", "0.01", "--scenarios", "b,d", "--out", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("compare: %v\n%s", err, stderr.String())
		}
	}
	data, _ := os.ReadFile(out)
	text := string(data)
	for _, want := range []string{"kept\n", "tail kept\n", "**b. QoS 1 fan-in", "| strata |", "**d. QoS 1 at 1,000"} {
		if !strings.Contains(text, want) {
			t.Fatalf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "runs failed") || !strings.Contains(text, "0 / 0 / 0") {
		t.Fatalf("runs failed or lost messages:\n%s", text)
	}
	if strings.Contains(text, "\nold\n") || strings.Count(text, compareBegin) != 1 {
		t.Fatalf("section not replaced exactly once:\n%s", text)
	}
}
