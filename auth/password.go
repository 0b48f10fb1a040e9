package auth

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/stratamq/strata/internal/durable"
)

// PasswordFile holds user names and bcrypt hashes read from a file of
// "user:hash" lines; blank lines and lines starting with '#' are ignored.
// `strata passwd FILE USER` writes such lines. A PasswordFile is immutable
// and safe for concurrent use.
type PasswordFile struct {
	users map[string][]byte
	// dummy is the hash unknown users are compared against, made at load
	// time at the highest cost in the file, so that the time Authenticate
	// takes does not reveal whether a user exists.
	dummy []byte
	// verified remembers, per user, a keyed digest of the last password
	// bcrypt accepted, so a client reconnecting (a reconnect storm after a
	// failover, thousands of devices at once) costs an HMAC, not a bcrypt
	// comparison (~60 ms each at cost 10: 30 CONNECTs/s per core). The key
	// is random per load and never leaves the process; a reload starts an
	// empty cache; failures are never remembered.
	verified  sync.Map // user -> HMAC-SHA256(cacheKey, password)
	nVerified atomic.Int64
	cacheKey  [32]byte
	// checks makes concurrent CONNECTs with the same user and password
	// (the first moments of a reconnect storm) wait for one bcrypt
	// comparison instead of each running their own.
	checks singleflight.Group
}

// maxVerified bounds the cache of accepted credentials (about 100 bytes
// each): past it, further users are checked with bcrypt every time.
const maxVerified = 1 << 16

// LoadPasswordFile reads a password file. Errors name the file and line
// ("strata.passwd:3: missing ':' between user and hash"); a user listed twice
// and a hash that is not bcrypt ($2a$, $2b$ or $2y$) are errors.
func LoadPasswordFile(path string) (*PasswordFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pf := &PasswordFile{users: map[string][]byte{}}
	err = scanPasswordLines(path, data, func(_, user, hash string) {
		if user != "" {
			pf.users[user] = []byte(hash)
		}
	})
	if err != nil {
		return nil, err
	}
	pf.dummy = dummyHash(pf.maxCost())
	if _, err := rand.Read(pf.cacheKey[:]); err != nil {
		return nil, err
	}
	return pf, nil
}

// Authenticate reports whether password is username's. An unknown user costs
// one bcrypt comparison too, so the time taken does not reveal who exists.
func (pf *PasswordFile) Authenticate(username string, password []byte) bool {
	hash, ok := pf.users[username]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(pf.dummy, password)
		return false
	}
	digest := pf.digest(password)
	if d, ok := pf.verified.Load(username); ok && hmac.Equal(d.([]byte), digest) {
		return true
	}
	v, _, _ := pf.checks.Do(username+"\x00"+string(digest), func() (any, error) {
		if bcrypt.CompareHashAndPassword(hash, password) != nil {
			return false, nil
		}
		pf.remember(username, digest)
		return true, nil
	})
	return v.(bool)
}

func (pf *PasswordFile) remember(username string, digest []byte) {
	if pf.nVerified.Load() < maxVerified {
		if _, loaded := pf.verified.Swap(username, digest); !loaded {
			pf.nVerified.Add(1)
		}
	}
}

// digest is the keyed hash a verified password is remembered by.
func (pf *PasswordFile) digest(password []byte) []byte {
	m := hmac.New(sha256.New, pf.cacheKey[:])
	m.Write(password)
	return m.Sum(nil)
}

// maxCost is the highest bcrypt cost of the file's hashes, or the cost of
// new hashes if there are none.
func (pf *PasswordFile) maxCost() int {
	c := 0
	for _, h := range pf.users {
		if hc, err := bcrypt.Cost(h); err == nil && hc > c {
			c = hc
		}
	}
	if c == 0 {
		return passwordCost
	}
	return c
}

func dummyHash(cost int) []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("strata: no such user"), cost)
	if err != nil {
		panic(err) // the cost was checked when the file was loaded
	}
	return h
}

// scanPasswordLines checks every line of a password file's contents and calls
// entry with each line (without its end of line), its user name and hash;
// both are empty for a blank line or a comment.
func scanPasswordLines(path string, data []byte, entry func(line, user, hash string)) error {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		user, hash, err := parsePasswordLine(sc.Text())
		switch {
		case err != nil:
			return fmt.Errorf("%s:%d: %w", path, n, err)
		case user != "" && seen[user]:
			return fmt.Errorf("%s:%d: user %q listed twice", path, n, user)
		}
		seen[user] = true
		entry(sc.Text(), user, hash)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// parsePasswordLine returns a line's user and hash; both are empty for a
// blank line or a comment.
func parsePasswordLine(line string) (user, hash string, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return "", "", nil
	}
	user, hash, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", errors.New("missing ':' between user and hash")
	}
	if err := checkUser(user); err != nil {
		return "", "", err
	}
	if err := checkHash(hash); err != nil {
		return "", "", fmt.Errorf("user %q: %w", user, err)
	}
	return user, hash, nil
}

// checkUser rejects user names a password file cannot hold.
func checkUser(user string) error {
	switch {
	case user == "":
		return errors.New("empty user name")
	case !utf8.ValidString(user):
		return fmt.Errorf("user name %q is not UTF-8", user)
	case strings.ContainsRune(user, ':'):
		return fmt.Errorf("user name %q contains ':'", user)
	case strings.IndexFunc(user, unicode.IsSpace) >= 0:
		return fmt.Errorf("user name %q contains white space", user)
	case strings.HasPrefix(user, "#"):
		return fmt.Errorf("user name %q starts with '#' (a comment line)", user)
	}
	return nil
}

// checkHash accepts bcrypt hashes of the versions $2a$, $2b$ and $2y$.
func checkHash(hash string) error {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$") {
		return errors.New("not a bcrypt hash (want $2a$, $2b$ or $2y$)")
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("bad bcrypt hash: %w", err)
	}
	if len(hash) != 60 {
		return fmt.Errorf("bad bcrypt hash: %d characters, want 60", len(hash))
	}
	return nil
}

// passwordCost is bcrypt's cost for new hashes (10: about 50 ms of one
// core per CONNECT with a password, see docs/security.md); tests lower it.
var passwordCost = bcrypt.DefaultCost

// WeakCost is the bcrypt cost below which a loaded hash is reported by
// Weak: cost 7 takes well under 10 ms to try, so a stolen file would be
// cheap to crack. Such hashes are still accepted (an old file must not stop
// a broker), and the broker warns at load and reload.
const WeakCost = 8

// Weak returns the users whose hashes have a cost below WeakCost, sorted.
func (pf *PasswordFile) Weak() []string {
	var weak []string
	for u, h := range pf.users {
		if c, err := bcrypt.Cost(h); err == nil && c < WeakCost {
			weak = append(weak, u)
		}
	}
	sort.Strings(weak)
	return weak
}

// Len returns the number of users in the file.
func (pf *PasswordFile) Len() int { return len(pf.users) }

// ErrNoSuchUser is returned by DeleteUser for a user the file does not list.
var ErrNoSuchUser = errors.New("no such user")

// DeleteUser removes user's line from the password file at path, keeping
// the other lines and comments in order. The file must exist, be valid and
// list the user; it is replaced atomically as SetPassword does.
func DeleteUser(path, user string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	found := false
	err = scanPasswordLines(path, old, func(line, u, _ string) {
		if u == user {
			found = true
			return
		}
		out.WriteString(line + "\n")
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s: %w %q", path, ErrNoSuchUser, user)
	}
	return durable.WriteFile(path, out.Bytes(), 0o600)
}

// SetPassword adds user with password to the password file at path, or
// replaces the user's hash, keeping the other lines and comments in order.
// The file is created if missing; an existing file must be valid. It is
// replaced atomically (a temporary file in the same directory, synced and
// renamed) with mode 0600.
func SetPassword(path, user string, password []byte) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if len(password) == 0 {
		return errors.New("empty password")
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword(password, passwordCost)
	if err != nil {
		return fmt.Errorf("hashing the password: %w", err)
	}
	data, err := replacePasswordLine(path, old, user, string(hash))
	if err != nil {
		return err
	}
	return durable.WriteFile(path, data, 0o600)
}

// replacePasswordLine returns the password file contents old, checked, with
// user's line set to user:hash, or appended if the user is new.
func replacePasswordLine(path string, old []byte, user, hash string) ([]byte, error) {
	var out bytes.Buffer
	replaced := false
	err := scanPasswordLines(path, old, func(line, u, _ string) {
		if u == user {
			line, replaced = user+":"+hash, true
		}
		out.WriteString(line + "\n")
	})
	if err != nil {
		return nil, err
	}
	if !replaced {
		out.WriteString(user + ":" + hash + "\n")
	}
	return out.Bytes(), nil
}
