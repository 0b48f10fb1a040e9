package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stratamq/strata/auth"
)

// Passwords checks a user's password: an auth.PasswordFile, or a holder
// that reloads one.
type Passwords interface {
	Authenticate(user string, password []byte) bool
}

// TokenVerifier checks an HTTP bearer token (a signed scoped key) and
// returns the identity it acts for; an error refuses it (401).
type TokenVerifier interface {
	Verify(token string) (auth.Identity, error)
}

// FailureLimiter bans source addresses that fail authentication too often
// (auth.FailureLimiter). Addresses are http.Request.RemoteAddr (host:port).
type FailureLimiter interface {
	// BannedFor is how long addr stays banned; 0 if it is not.
	BannedFor(addr string) time.Duration
	// Failed records a failed authentication from addr.
	Failed(addr string) bool
}

// RequireAuth is the rule for a listener bound to addr: off loopback every
// endpoint but /healthz and /readyz needs credentials; on loopback only when
// a password file is configured, unless anonymous callers are allowed there
// (--allow-anonymous), as mosquitto 2 does for MQTT. An unspecified address
// (0.0.0.0, [::]) listens on every interface and is not loopback.
func RequireAuth(addr net.Addr, passwordFile, allowAnonymous bool) bool {
	return !isLoopback(addr) || (passwordFile && !allowAnonymous)
}

func isLoopback(a net.Addr) bool {
	if a == nil {
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// access is what a route asks of its callers.
type access struct {
	public bool // no credentials at all (/healthz, /readyz)
	admin  bool // the Admin right is needed; else any caller (topic rights: the handler)
}

var (
	public  = access{public: true}
	caller  = access{}            // status, identity, publish, messages: any authenticated caller
	adminOp = access{admin: true} // join, remove, snapshot, key revocation, pprof
)

// Nodes call nothing here: what only they call is InternalHandler's, served
// on node connections behind the cluster's mutual TLS (trust.Split).

type callerKey struct{}

// callerInfo is who guard let through, for the handlers' topic checks.
type callerInfo struct {
	id auth.Identity
	c  auth.Checker
}

// guard is the one place where requests are authenticated and admin rights
// checked; topic rights are checked by the handlers, which know the topic,
// with the checker guard puts in the request's context. A refused request
// reaches no handler, so it changes nothing.
func (s *server) guard(a access, h http.HandlerFunc) http.HandlerFunc {
	if a.public {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if s.banned(w, r) {
			return
		}
		id, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		c := s.authorizer().For(id)
		if a.admin && !c.Allow(auth.Admin, "") {
			s.forbid(w, r, id, "the admin right is needed")
			return
		}
		h(w, withCaller(r, id, c))
	}
}

func (s *server) authorizer() auth.Authorizer {
	if s.o.Authorizer == nil {
		return auth.AllowAll{}
	}
	return s.o.Authorizer
}

func withCaller(r *http.Request, id auth.Identity, c auth.Checker) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, callerInfo{id, c}))
}

// callerOf is the identity and checker guard stored for a handler. Every
// route that reads it is guarded; a request without one gets nothing.
func callerOf(r *http.Request) (auth.Identity, auth.Checker) {
	if ci, ok := r.Context().Value(callerKey{}).(callerInfo); ok {
		return ci.id, ci.c
	}
	return auth.Identity{}, denyAll{}
}

type denyAll struct{}

func (denyAll) Allow(auth.Right, string) bool       { return false }
func (denyAll) AllowFilter(auth.Right, string) bool { return false }

// authenticate returns the caller's identity, or answers 401. Credentials
// that are present are always checked, also where none are required: a
// wrong password is never served as an anonymous call.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if s.o.RequireAuth {
			s.unauthorized(w, r, "", "no credentials", false)
			return auth.Identity{}, false
		}
		return auth.Identity{Anonymous: true}, true
	}
	if user, password, ok := r.BasicAuth(); ok {
		if s.o.Passwords == nil || !s.o.Passwords.Authenticate(user, []byte(password)) {
			s.unauthorized(w, r, user, "wrong user name or password", true)
			return auth.Identity{}, false
		}
		return auth.Identity{User: user}, true
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		s.unauthorized(w, r, "", "unsupported Authorization scheme", true)
		return auth.Identity{}, false
	}
	id, err := s.verifyToken(strings.TrimSpace(token))
	if err != nil {
		s.unauthorized(w, r, "", "bearer token refused: "+err.Error(), true)
		return auth.Identity{}, false
	}
	return id, true
}

var errNoTokens = errors.New("this node accepts no bearer tokens")

func (s *server) verifyToken(token string) (auth.Identity, error) {
	if s.o.Tokens == nil {
		return auth.Identity{}, errNoTokens
	}
	return s.o.Tokens.Verify(token)
}

// unauthorized answers 401 with the schemes this node accepts, and logs the
// attempt: who and from where, never the password or token. A guess (wrong
// credentials, not missing ones) counts against the source address.
func (s *server) unauthorized(w http.ResponseWriter, r *http.Request, user, why string, guess bool) {
	if guess && s.o.Limiter != nil {
		s.o.Limiter.Failed(r.RemoteAddr)
	}
	s.o.Counters.authFailed()
	s.o.Logger.Warn().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
		Str("user", user).Str("reason", why).Msg("HTTP authentication failed")
	w.Header().Add("WWW-Authenticate", `Basic realm="strata", charset="UTF-8"`)
	if s.o.Tokens != nil {
		w.Header().Add("WWW-Authenticate", `Bearer realm="strata"`)
	}
	writeError(w, http.StatusUnauthorized, errors.New("authentication required: "+why))
}

// banned answers 429 to an address the limiter banned, before any
// password is compared (bcrypt is what a guesser would make us spend).
func (s *server) banned(w http.ResponseWriter, r *http.Request) bool {
	if s.o.Limiter == nil {
		return false
	}
	d := s.o.Limiter.BannedFor(r.RemoteAddr)
	if d <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	writeError(w, http.StatusTooManyRequests, errors.New("too many failed authentications from this address; retry later"))
	return true
}

// forbid answers 403 for an identity without the right, and logs it.
func (s *server) forbid(w http.ResponseWriter, r *http.Request, id auth.Identity, why string) {
	s.o.Logger.Warn().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).
		Str("user", id.User).Bool("anonymous", id.Anonymous).Str("reason", why).Msg("HTTP request forbidden")
	writeError(w, http.StatusForbidden, errors.New("forbidden: "+why))
}
