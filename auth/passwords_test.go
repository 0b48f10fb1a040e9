package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPasswordsReload(t *testing.T) {
	path := writeFile(t, "alice:"+minCostHash(t, "one")+"\n")
	p, err := OpenPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Reloader = p
	os.WriteFile(path, []byte("alice:"+minCostHash(t, "two")+"\nbob:"+minCostHash(t, "b")+"\n"), 0o600)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if p.Authenticate("alice", []byte("one")) || !p.Authenticate("alice", []byte("two")) || !p.Authenticate("bob", []byte("b")) {
		t.Fatal("reload did not take the new file")
	}
	os.WriteFile(path, []byte("alice:"+minCostHash(t, "three")+"\nbroken\n"), 0o600)
	err = p.Reload()
	if err == nil || !strings.Contains(err.Error(), "kept as it was") || !strings.Contains(err.Error(), ":2: missing ':'") {
		t.Fatalf("bad file: %v", err)
	}
	if !p.Authenticate("alice", []byte("two")) || p.Authenticate("alice", []byte("three")) {
		t.Fatal("a failed reload changed the users")
	}
	os.Remove(path)
	if p.Reload() == nil || !p.Authenticate("bob", []byte("b")) {
		t.Fatal("a missing file replaced the users")
	}
}

func TestDeleteUser(t *testing.T) {
	a, b := minCostHash(t, "a"), minCostHash(t, "b")
	path := writeFile(t, "# head\nalice:"+a+"\n\n# bob\nbob:"+b+"\n")
	if err := DeleteUser(path, "alice"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "# head\n\n# bob\nbob:"+b+"\n" {
		t.Fatalf("file after delete:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	err := DeleteUser(path, "alice")
	if !errors.Is(err, ErrNoSuchUser) || !strings.Contains(err.Error(), `no such user "alice"`) {
		t.Fatalf("deleting an absent user: %v", err)
	}
	if d2, _ := os.ReadFile(path); string(d2) != string(data) {
		t.Fatal("failed delete changed the file")
	}
	bad := writeFile(t, "bob:"+b+"\nbroken\n")
	if err := DeleteUser(bad, "bob"); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("malformed file: %v", err)
	}
}

func TestWeakHashes(t *testing.T) {
	if passwordCost < 10 {
		t.Fatalf("new hashes at cost %d, want 10 or more", passwordCost)
	}
	fastBcrypt(t)
	strong := "$2a$10$" + strings.Repeat("a", 53)
	path := writeFile(t, "zed:"+minCostHash(t, "z")+"\nann:"+strong+"\namy:"+minCostHash(t, "a")+"\n")
	pf, err := LoadPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(pf.Weak(), ","); got != "amy,zed" {
		t.Fatalf("weak users %q, want amy,zed", got)
	}
}

// BenchmarkAuthenticate is the CPU one CONNECT with a password costs at
// the cost of new hashes (docs/security.md).
func BenchmarkAuthenticate(b *testing.B) {
	path := filepath.Join(b.TempDir(), "p")
	if err := SetPassword(path, "alice", []byte("secret")); err != nil {
		b.Fatal(err)
	}
	p, err := OpenPasswords(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if !p.Authenticate("alice", []byte("secret")) {
			b.Fatal("refused")
		}
	}
}
