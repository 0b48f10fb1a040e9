package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCLIErrorsFirst: a usage mistake prints the error first and one line
// pointing at --help, never the flags; exit 2. `strata` alone prints the
// usage to stderr and exits 2.
func TestCLIErrorsFirst(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--nosuch"}, "strata serve: flag provided but not defined: -nosuch\nrun 'strata serve --help' for usage\n"},
		{[]string{"serve", "--log-level", "verbose"}, "strata serve: unknown log level verbose (debug|info|warn|error)\nrun 'strata serve --help' for usage\n"},
		{[]string{"cluster", "status", "--id", "x"}, "strata cluster status: flag provided but not defined: -id\nrun 'strata cluster status --help' for usage\n"},
		{[]string{"history", "--filter", "a", "--from", "last-x"}, "strata history: --from: \"last-x\": last-N needs a positive count N\nrun 'strata history --help' for usage\n"},
		{[]string{"passwd", "--nosuch"}, "strata passwd: flag provided but not defined: -nosuch\nrun 'strata passwd --help' for usage\n"},
		{[]string{"nosuch"}, "strata: unknown command \"nosuch\"\nrun 'strata --help' for usage\n"},
	} {
		var out, errb bytes.Buffer
		if code := run(c.args, &out, &errb); code != 2 || errb.String() != c.want || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, stderr %q", c.args, code, out.String(), errb.String(), c.want)
		}
	}
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 2 || out.Len() != 0 || !strings.Contains(errb.String(), "Usage: strata <command>") {
		t.Errorf("strata alone: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"serve", "--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-retention-age") {
		t.Errorf("serve --help: exit %d, %q", code, errb.String())
	}
}

// TestRetentionAgeDays: --retention-age takes days and weeks as well as Go
// durations, and says what it takes otherwise.
func TestRetentionAgeDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1.5d": 36 * time.Hour, "36h": 36 * time.Hour, "0": 0} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7x", "d", "-1d", "1e400d"} {
		if _, err := parseDays(in); err == nil || !strings.Contains(err.Error(), "7d, 2w, 36h") {
			t.Errorf("%q: %v, want an error naming the accepted forms", in, err)
		}
	}
	var out, errb bytes.Buffer
	code := run([]string{"serve", "--retention-age", "7x"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "want a duration such as 7d, 2w, 36h or 90m") {
		t.Fatalf("serve --retention-age 7x: exit %d %q", code, errb.String())
	}
}

// TestVersion: main.version and main.commit set with -ldflags -X (as make
// release does) are what `strata version` and `strata --version` print,
// with the Go version; without them, the build's own information.
func TestVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "strata")
	ld := "-X main.version=v9.8.7 -X main.commit=0123abcd"
	if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "strata v9.8.7 (commit 0123abcd, " + runtime.Version() + ")\n"
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || string(out) != want {
			t.Errorf("strata %s: %q %v, want %q", arg, out, err, want)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "strata ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("in-process version: exit %d %q", code, out.String())
	}
}
