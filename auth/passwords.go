package auth

import (
	"fmt"
	"sync/atomic"
)

// Reloader is state the broker reloads from its files on SIGHUP (the
// password file, the ACL). Reload replaces the state atomically, or, when
// the new files are not valid, keeps the old state and returns an error
// that names the file and line but holds no secret.
type Reloader interface {
	Reload() error
}

// Passwords is a password file that SIGHUP can reload while connections
// and requests use it: Authenticate always sees one whole file, the old or
// the new. MQTT (mqtt.Options.Auth) and the HTTP API share one. Safe for
// concurrent use.
type Passwords struct {
	path string
	cur  atomic.Pointer[PasswordFile]
}

// OpenPasswords loads the password file at path.
func OpenPasswords(path string) (*Passwords, error) {
	pf, err := LoadPasswordFile(path)
	if err != nil {
		return nil, err
	}
	p := &Passwords{path: path}
	p.cur.Store(pf)
	return p, nil
}

// Authenticate reports whether password is username's in the current file.
func (p *Passwords) Authenticate(username string, password []byte) bool {
	return p.cur.Load().Authenticate(username, password)
}

// Reload reads the file again; a file that does not load leaves the
// current one in use. Connections already admitted are not checked again.
func (p *Passwords) Reload() error {
	pf, err := LoadPasswordFile(p.path)
	if err != nil {
		return fmt.Errorf("password file kept as it was: %w", err)
	}
	p.cur.Store(pf)
	return nil
}

// Current returns the file in use.
func (p *Passwords) Current() *PasswordFile { return p.cur.Load() }

// Path returns the file's path.
func (p *Passwords) Path() string { return p.path }
