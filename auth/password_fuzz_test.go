package auth

import (
	"testing"
)

// FuzzPasswordFile: any file content is either rejected with an error or
// yields entries that parse again to the same user and hash; never a panic.
func FuzzPasswordFile(f *testing.F) {
	f.Add([]byte("alice:$2a$04$abcdefghijklmnopqrstuuOxm2mVS1bsVsbNTGRK/fEUmnq8bhgNa\n# comment\n\n"))
	f.Add([]byte("bob\n"))
	f.Add([]byte("a:b:c\n"))
	f.Add([]byte(" :$2b$04$abcdefghijklmnopqrstuuOxm2mVS1bsVsbNTGRK/fEUmnq8bhgNa"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = scanPasswordLines("fuzz", data, func(line, user, hash string) {
			u, h, err := parsePasswordLine(line)
			if err != nil || u != user || h != hash {
				t.Fatalf("line %q accepted as (%q, %q) but parses again as (%q, %q, %v)", line, user, hash, u, h, err)
			}
			if user != "" && checkUser(user) != nil {
				t.Fatalf("accepted bad user %q", user)
			}
		})
	})
}
