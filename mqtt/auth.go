package mqtt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// PasswordFile holds user names and bcrypt hashes: one "user:hash" per
// line; blank lines and lines starting with '#' are ignored.
type PasswordFile struct {
	users map[string][]byte
}

// dummyHash is compared against for unknown users, so the time taken does
// not reveal whether a user exists.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("strata-no-such-user"), bcrypt.DefaultCost)

// LoadPasswordFile reads a password file; errors name the file and line.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pf := &PasswordFile{users: map[string][]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%s:%d: missing ':' between user and hash", path, n)
		case checkUser(user) != nil:
			return nil, fmt.Errorf("%s:%d: %v", path, n, checkUser(user))
		case pf.users[user] != nil:
			return nil, fmt.Errorf("%s:%d: user %q listed twice", path, n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash: %v", path, n, user, err)
		}
		pf.users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pf, nil
}

// Authenticate reports whether password is user's.
func (pf *PasswordFile) Authenticate(user string, password []byte) bool {
	hash, ok := pf.users[user]
	if !ok {
		bcrypt.CompareHashAndPassword(dummyHash, password)
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, password) == nil
}

func checkUser(user string) error {
	switch {
	case user == "":
		return errors.New("empty user name")
	case strings.ContainsAny(user, ": \t\r\n"):
		return fmt.Errorf("user name %q holds ':' or white space", user)
	}
	return nil
}

// passwordCost is bcrypt's cost for new hashes (lowered by tests).
var passwordCost = bcrypt.DefaultCost

// SetPassword adds user to the file at path, or replaces its hash, keeping
// the other lines; the file is replaced atomically with mode 0600.
func SetPassword(path, user string, password []byte) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if len(password) == 0 {
		return errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword(password, passwordCost)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var out bytes.Buffer
	replaced := false
	for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		if line == "" && len(old) == 0 {
			continue
		}
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if replaced {
				continue
			}
			line, replaced = user+":"+string(hash), true
		}
		out.WriteString(line + "\n")
	}
	if !replaced {
		out.WriteString(user + ":" + string(hash) + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".passwd-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
