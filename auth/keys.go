package auth

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stratamq/strata/topic"
)

// Signed scoped keys are JSON Web Tokens (RFC 7519) signed with HMAC-SHA256
// under a key derived from the cluster secret: every node holding the
// cluster key file can verify them, nobody without it can forge one, and
// changing a byte of a token breaks its signature. golang-jwt does the
// encoding and the checks that are easy to get wrong by hand (constant-time
// signature comparison, refusing "alg":"none" and other algorithms,
// expiry); the format lets operators inspect a token with any JWT tool.

// keySigningLabel is the HKDF info of the tokens' signing key: the transport
// derives its keys from the same secret under other labels.
const keySigningLabel = "strata key signing v1"

const (
	keyIssuer      = "strata"
	maxTokenLength = 4096 // longer passwords are not tokens: no parse is tried
	keyIDBytes     = 16
)

// Key errors, matched with errors.Is. Their text never contains the token.
var (
	// ErrKeyInvalid: not a token of this cluster (malformed, forged, tampered).
	ErrKeyInvalid = errors.New("invalid key")
	// ErrKeyExpired: the key's expiry has passed.
	ErrKeyExpired = errors.New("key expired")
	// ErrKeyRevoked: the key was revoked (an entry in the log).
	ErrKeyRevoked = errors.New("key revoked")
)

// KeyClaims are what a signed key grants: Rights on the topics its Filter
// matches, until Expires, to clients whose id starts with ClientIDPrefix.
type KeyClaims struct {
	ID             string // random, hex; what `strata key revoke` names
	Filter         string // a valid topic filter
	Rights         Right
	IssuedAt       time.Time
	Expires        time.Time
	ClientIDPrefix string // "" for any client id
}

// Keys creates and verifies signed keys. Safe for concurrent use once
// configured.
type Keys struct {
	secret []byte
	// Revoked, if set, reports whether a key id was revoked; Verify refuses
	// such keys. The broker wires it to the replicated view of revocations.
	Revoked func(id string) bool
	// Now is the clock for expiry; nil is time.Now.
	Now func() time.Time
}

// NewKeys returns the keys of the cluster whose secret is clusterSecret
// (the --cluster-key file, trust.LoadKeyFile).
func NewKeys(clusterSecret []byte) (*Keys, error) {
	k, err := deriveKey(clusterSecret, keySigningLabel)
	if err != nil {
		return nil, fmt.Errorf("key signing: %w", err)
	}
	return &Keys{secret: k}, nil
}

func (k *Keys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// tokenClaims is the token's JSON payload.
type tokenClaims struct {
	jwt.RegisteredClaims
	Filter string   `json:"flt"`
	Rights []string `json:"rts"`
	Prefix string   `json:"cip,omitempty"`
}

// Create signs a key granting c.Rights on c.Filter until c.Expires; it sets
// c.ID and c.IssuedAt and returns the token with the claims it holds.
func (k *Keys) Create(c KeyClaims) (string, KeyClaims, error) {
	c.IssuedAt = k.now().Truncate(time.Second)
	c.Expires = c.Expires.Truncate(time.Second)
	var id [keyIDBytes]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", c, fmt.Errorf("key id: %w", err)
	}
	c.ID = hex.EncodeToString(id[:])
	if err := c.validate(); err != nil {
		return "", c, err
	}
	if !c.Expires.After(c.IssuedAt) {
		return "", c, errors.New("key: expiry must be in the future")
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{ID: c.ID, Issuer: keyIssuer,
			IssuedAt: jwt.NewNumericDate(c.IssuedAt), ExpiresAt: jwt.NewNumericDate(c.Expires)},
		Filter: c.Filter, Rights: c.Rights.names(), Prefix: c.ClientIDPrefix,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(k.secret)
	if err != nil {
		return "", c, fmt.Errorf("key: signing: %w", err)
	}
	return tok, c, nil
}

// Parse checks a token's signature, expiry and claims; it does not consult
// revocations (Verify does). Errors wrap ErrKeyInvalid or ErrKeyExpired.
func (k *Keys) Parse(token string) (KeyClaims, error) {
	if len(token) > maxTokenLength {
		return KeyClaims{}, fmt.Errorf("%w: longer than %d bytes", ErrKeyInvalid, maxTokenLength)
	}
	var tc tokenClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(), jwt.WithIssuer(keyIssuer), jwt.WithTimeFunc(k.now))
	_, err := p.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return k.secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return KeyClaims{}, ErrKeyExpired
	case err != nil:
		return KeyClaims{}, fmt.Errorf("%w: %s", ErrKeyInvalid, jwtReason(err))
	}
	return tc.claims()
}

// jwtReason names what was wrong with a token without quoting it.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unsupported signing method"
	}
	return "bad claims"
}

// claims converts a verified payload, checking what the signer promised.
func (tc *tokenClaims) claims() (KeyClaims, error) {
	c := KeyClaims{ID: tc.ID, Filter: tc.Filter, ClientIDPrefix: tc.Prefix}
	if tc.ExpiresAt != nil {
		c.Expires = tc.ExpiresAt.Time
	}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	r, err := ParseRights(strings.Join(tc.Rights, ","))
	if err != nil {
		return KeyClaims{}, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	c.Rights = r
	if err := c.validate(); err != nil {
		return KeyClaims{}, fmt.Errorf("%w: %w", ErrKeyInvalid, err)
	}
	return c, nil
}

func (c *KeyClaims) validate() error {
	if len(c.ID) != 2*keyIDBytes {
		return errors.New("key: bad id")
	}
	if _, err := hex.DecodeString(c.ID); err != nil {
		return errors.New("key: bad id")
	}
	if err := topic.ValidateFilter(c.Filter); err != nil {
		return fmt.Errorf("key: filter: %w", err)
	}
	if strings.HasPrefix(c.Filter, "$share/") {
		return errors.New("key: filter: a shared subscription is not a scope")
	}
	if c.Rights == 0 {
		return errors.New("key: no rights")
	}
	if len(c.ClientIDPrefix) > 256 {
		return errors.New("key: client id prefix longer than 256 bytes")
	}
	return nil
}

// Verify checks a token (Parse) and that its key is not revoked, and
// returns the identity it acts for: User "key:ID", Key its claims. It is
// what an HTTP bearer token or an MQTT password holding a token resolves to.
func (k *Keys) Verify(token string) (Identity, error) {
	if k == nil { // a nil *Keys in an interface (no --cluster-key) accepts no token
		return Identity{}, fmt.Errorf("%w: this node accepts no keys", ErrKeyInvalid)
	}
	c, err := k.Parse(token)
	if err != nil {
		return Identity{}, err
	}
	if k.Revoked != nil && k.Revoked(c.ID) {
		return Identity{}, fmt.Errorf("%w: %s", ErrKeyRevoked, c.ID)
	}
	return Identity{User: "key:" + c.ID, Key: &c}, nil
}

// LooksLikeToken reports whether a password has the shape of a signed key
// (three base64url parts, a JWT header first): such a password is checked
// as a key, never against the password file.
func LooksLikeToken(s string) bool {
	return len(s) <= maxTokenLength && strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// rightNames are the names of rights in tokens and on the command line
// (short form first: the one tokens carry).
var rightNames = []struct {
	r     Right
	names []string
}{
	{Publish, []string{"pub", "publish", "write"}},
	{Subscribe, []string{"sub", "subscribe", "read"}},
	{Replay, []string{"replay", "history"}},
	{Admin, []string{"admin"}},
}

// ParseRights parses a comma-separated list of rights: pub|publish,
// sub|subscribe, replay|history, admin.
func ParseRights(s string) (Right, error) {
	var r Right
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		found := false
		for _, rn := range rightNames {
			for _, n := range rn.names {
				if w == n {
					r, found = r|rn.r, true
				}
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown right %q (want pub, sub, replay or admin)", w)
		}
	}
	return r, nil
}

func (r Right) names() []string {
	var out []string
	for _, rn := range rightNames {
		if r&rn.r != 0 {
			out = append(out, rn.names[0])
		}
	}
	return out
}

// String is the comma-separated short names of the rights in r.
func (r Right) String() string { return strings.Join(r.names(), ",") }

// ClusterKeySize is the length of the cluster secret in bytes (trust.KeySize).
const ClusterKeySize = 32

// deriveKey derives the key for one purpose from the cluster secret, so the
// tokens' key and the transport's (trust/) differ.
func deriveKey(secret []byte, purpose string) ([]byte, error) {
	if len(secret) < ClusterKeySize {
		return nil, fmt.Errorf("cluster secret of %d bytes, want at least %d", len(secret), ClusterKeySize)
	}
	return hkdf.Key(sha256.New, secret, nil, purpose, 32)
}
