package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// fastBcrypt lowers the cost of new hashes for the test.
func fastBcrypt(t *testing.T) {
	old := passwordCost
	passwordCost = bcrypt.MinCost
	t.Cleanup(func() { passwordCost = old })
}

func minCostHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.passwd")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPasswordFileAuthenticate(t *testing.T) {
	a := minCostHash(t, "alpha")
	b := "$2b$" + minCostHash(t, "beta")[4:]
	y := "$2y$" + minCostHash(t, "gamma")[4:]
	path := writeFile(t, "# users\n\nalice:"+a+"\n  bob:"+b+"  \r\ncarol:"+y+"\n#dave:"+a+"\n")
	pf, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"alice", "alpha", true},
		{"bob", "beta", true},
		{"carol", "gamma", true},
		{"alice", "beta", false},
		{"alice", "", false},
		{"alice", "alpha ", false},
		{"dave", "alpha", false}, // commented out
		{"nobody", "alpha", false},
		{"", "", false},
	} {
		if got := pf.Authenticate(tc.user, []byte(tc.password)); got != tc.ok {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tc.user, tc.password, got, tc.ok)
		}
	}
}

func TestLoadPasswordFileErrors(t *testing.T) {
	h := minCostHash(t, "x")
	for _, tc := range []struct{ content, want string }{
		{"# c\n\nalice " + h + "\n", `strata.passwd:3: missing ':'`},
		{"alice:" + h + "\nalice:" + h + "\n", `strata.passwd:2: user "alice" listed twice`},
		{":" + h + "\n", `strata.passwd:1: empty user name`},
		{"al ice:" + h + "\n", `strata.passwd:1: user name "al ice" contains white space`},
		{"alice:plain\n", `strata.passwd:1: user "alice": not a bcrypt hash`},
		{"alice:$1$abc$def\n", `strata.passwd:1: user "alice": not a bcrypt hash`},
		{"alice:$2x$" + h[4:] + "\n", `strata.passwd:1: user "alice": not a bcrypt hash`},
		{"alice:" + h[:40] + "\n", `strata.passwd:1: user "alice": bad bcrypt hash`},
		{"alice:" + h + "x\n", `strata.passwd:1: user "alice": bad bcrypt hash`},
		{"alice:$2a$99$" + h[7:] + "\n", `strata.passwd:1: user "alice": bad bcrypt hash`},
	} {
		_, err := LoadPasswordFile(writeFile(t, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.content, err, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.passwd")
	if _, err := LoadPasswordFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v, want it named", err)
	}
}

func TestLoadPasswordFileEmpty(t *testing.T) {
	fastBcrypt(t)
	pf, err := LoadPasswordFile(writeFile(t, "# nobody yet\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pf.Authenticate("alice", []byte("x")) {
		t.Fatal("empty file authenticated alice")
	}
}

var hashRE = regexp.MustCompile(`\$2a\$04\$[./A-Za-z0-9]{53}`)

func TestSetPassword(t *testing.T) {
	fastBcrypt(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "strata.passwd")
	if err := SetPassword(path, "alice", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v, %v; want mode 0600", fi, err)
	}
	// Other lines and comments stay in order; alice's line is replaced in place.
	old, _ := os.ReadFile(path)
	bob := minCostHash(t, "bob")
	content := "# Strata users\n" + string(old) + "\n# bob is a bridge\nbob:" + bob + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ user, password string }{{"alice", "two"}, {"carol", "three"}} {
		if err := SetPassword(path, step.user, []byte(step.password)); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	got := hashRE.ReplaceAllString(string(data), "H")
	want := "# Strata users\nalice:H\n\n# bob is a bridge\nbob:H\ncarol:H\n"
	if got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("replaced file mode %v, want 0600", fi.Mode().Perm())
	}
	pf, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{{"alice", "two", true}, {"alice", "one", false}, {"bob", "bob", true}, {"carol", "three", true}} {
		if got := pf.Authenticate(tc.user, []byte(tc.password)); got != tc.ok {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tc.user, tc.password, got, tc.ok)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the password file", len(entries))
	}
}

func TestSetPasswordRejects(t *testing.T) {
	fastBcrypt(t)
	path := writeFile(t, "# keep\n")
	for _, tc := range []struct{ user, password, want string }{
		{"alice", "", "empty password"},
		{"", "x", "empty user name"},
		{"a:b", "x", `user name "a:b" contains ':'`},
		{"a b", "x", "contains white space"},
		{"a\tb", "x", "contains white space"},
		{"#a", "x", "starts with '#'"},
		{"a\xff", "x", "not UTF-8"},
		{"alice", strings.Repeat("x", 73), "password length exceeds 72 bytes"},
	} {
		err := SetPassword(path, tc.user, []byte(tc.password))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetPassword(%q, %q): %v, want %q", tc.user, tc.password, err, tc.want)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "# keep\n" {
		t.Fatalf("file changed to %q", data)
	}
}

// TestSetPasswordMalformedFile: a file the broker could not load is left
// alone, and the error names its bad line.
func TestSetPasswordMalformedFile(t *testing.T) {
	fastBcrypt(t)
	content := "alice:" + minCostHash(t, "a") + "\nbob\n"
	path := writeFile(t, content)
	err := SetPassword(path, "alice", []byte("new"))
	if err == nil || !strings.Contains(err.Error(), "strata.passwd:2: missing ':'") {
		t.Fatalf("error %v, want strata.passwd:2: missing ':'", err)
	}
	if data, _ := os.ReadFile(path); !bytes.Equal(data, []byte(content)) {
		t.Fatalf("file changed to %q", data)
	}
}

func TestSetPasswordMissingDir(t *testing.T) {
	fastBcrypt(t)
	path := filepath.Join(t.TempDir(), "no", "strata.passwd")
	if err := SetPassword(path, "alice", []byte("x")); err == nil {
		t.Fatal("SetPassword into a missing directory succeeded")
	}
}

// TestPasswordFileRemembersVerified: an accepted password is remembered
// (reconnects cost an HMAC, not bcrypt), only ever for the password bcrypt
// accepted: a wrong one is refused with or without a remembered entry and is
// never remembered, and a new load forgets everything.
func TestPasswordFileRemembersVerified(t *testing.T) {
	path := writeFile(t, "alice:"+minCostHash(t, "alpha")+"\n")
	pf, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Authenticate("alice", []byte("wrong")) {
		t.Fatal("wrong password accepted")
	}
	if _, ok := pf.verified.Load("alice"); ok {
		t.Fatal("a refused password was remembered")
	}
	for i := 0; i < 2; i++ {
		if !pf.Authenticate("alice", []byte("alpha")) {
			t.Fatalf("attempt %d: right password refused", i)
		}
	}
	if _, ok := pf.verified.Load("alice"); !ok || pf.nVerified.Load() != 1 {
		t.Fatalf("the accepted password was not remembered once (%d entries)", pf.nVerified.Load())
	}
	if pf.Authenticate("alice", []byte("alphA")) || pf.Authenticate("alice", nil) {
		t.Fatal("a wrong password accepted while the right one is remembered")
	}
	again, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.verified.Load("alice"); ok {
		t.Fatal("a new load kept the old cache")
	}
}

// TestPasswordFileConcurrentVerify: concurrent CONNECTs of one user share a
// verification: all with the right password are accepted, all with a wrong
// one refused, whichever finishes first.
func TestPasswordFileConcurrentVerify(t *testing.T) {
	pf, err := LoadPasswordFile(writeFile(t, "alice:"+minCostHash(t, "alpha")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var wrongOK, rightRefused atomic.Int32
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 && !pf.Authenticate("alice", []byte("alpha")) {
				rightRefused.Add(1)
			}
			if i%2 == 1 && pf.Authenticate("alice", []byte("beta")) {
				wrongOK.Add(1)
			}
		}()
	}
	wg.Wait()
	if wrongOK.Load() != 0 || rightRefused.Load() != 0 {
		t.Fatalf("%d wrong passwords accepted, %d right ones refused", wrongOK.Load(), rightRefused.Load())
	}
}
