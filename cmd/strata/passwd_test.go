package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamq/strata/auth"
)

// TestPasswd: the password is stdin's first line without its line ending;
// a second run replaces it; the file is one the broker loads.
func TestPasswd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strata.passwd")
	var out, errb bytes.Buffer
	if err := passwd([]string{path, "alice"}, strings.NewReader("s3cret pass\r\nignored\n"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"alice"`) || errb.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
	if err := passwd([]string{path, "bob"}, strings.NewReader("no newline"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	pf, err := auth.LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !pf.Authenticate("alice", []byte("s3cret pass")) || pf.Authenticate("alice", []byte("s3cret pass\r")) {
		t.Error("alice's password is not the first line without CR LF")
	}
	if !pf.Authenticate("bob", []byte("no newline")) {
		t.Error("bob's password is not stdin without a newline")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %v, %v; want mode 0600", fi, err)
	}
}

func TestPasswdErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strata.passwd")
	for _, tc := range []struct {
		args  []string
		stdin string
		usage bool
		want  string
	}{
		{nil, "x\n", true, "want FILE USER, got 0 argument(s)"},
		{[]string{path}, "x\n", true, "got 1 argument(s)"},
		{[]string{path, "alice", "extra"}, "x\n", true, "got 3 argument(s)"},
		{[]string{"--cost", "4", path, "alice"}, "x\n", true, "flag provided but not defined"},
		{[]string{path, "alice"}, "", false, "empty password"},
		{[]string{path, "alice"}, "\n", false, "empty password"},
		{[]string{path, "al:ice"}, "x\n", false, `user name "al:ice" contains ':'`},
	} {
		err := passwd(tc.args, strings.NewReader(tc.stdin), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%q with stdin %q: %v, want %q (usage error: %v)", tc.args, tc.stdin, err, tc.want, tc.usage)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a failed passwd wrote the file: %v", err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"passwd", "--help"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "Usage: strata passwd FILE USER") {
		t.Fatalf("--help: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if run([]string{"--help"}, &out, &errb); !strings.Contains(out.String(), "passwd") {
		t.Fatalf("usage does not list passwd:\n%s", out.String())
	}
}

// TestPasswdDelete: -D removes a user without reading a password; deleting
// an absent user or from a missing file is a clear error, exit code 1.
func TestPasswdDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "strata.passwd")
	for _, u := range []string{"alice", "bob"} {
		if err := passwd([]string{path, u}, strings.NewReader("pw-"+u+"\n"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"passwd", "-D", path, "alice"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `user "alice" deleted`) {
		t.Fatalf("-D: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	pf, err := auth.LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Authenticate("alice", []byte("pw-alice")) || !pf.Authenticate("bob", []byte("pw-bob")) || pf.Len() != 1 {
		t.Fatal("-D did not remove exactly alice")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after -D", fi.Mode().Perm())
	}
	errb.Reset()
	if code := run([]string{"passwd", "-D", path, "alice"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `no such user "alice"`) {
		t.Fatalf("-D absent user: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	missing := filepath.Join(t.TempDir(), "none")
	if code := run([]string{"passwd", "-D", missing, "bob"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), missing) {
		t.Fatalf("-D missing file: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("-D created a file")
	}
}
