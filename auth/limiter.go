package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LimiterOptions configure a FailureLimiter. Start from
// DefaultLimiterOptions.
type LimiterOptions struct {
	// Failures is how many failed authentications an address may have in
	// Window before it is banned; 0 disables the limiter.
	Failures int
	// Window is the period Failures are counted over: the allowance comes
	// back at Failures per Window.
	Window time.Duration
	// Ban is how long a banned address is refused without its credentials
	// being checked.
	Ban time.Duration
	// MaxAddresses bounds the addresses tracked; past it idle ones are
	// forgotten first, then arbitrary ones.
	MaxAddresses int
	// Now is the clock; nil is the wall clock.
	Now func() time.Time
}

// DefaultLimiterOptions: 10 failures a minute, then 5 minutes banned.
func DefaultLimiterOptions() LimiterOptions {
	return LimiterOptions{Failures: 10, Window: time.Minute, Ban: 5 * time.Minute, MaxAddresses: 65536}
}

// FailureLimiter bans source addresses that fail authentication too often
// (password guessing): an address is a token bucket of Failures tokens
// refilled over Window; each failure takes one, and the failure that takes
// the last bans the address for Ban. Successes take nothing. IPv6 addresses count by
// their /64, which one host usually holds whole. A nil *FailureLimiter
// limits nothing. Safe for concurrent use.
type FailureLimiter struct {
	o  LimiterOptions
	mu sync.Mutex
	m  map[netip.Addr]*source
}

type source struct {
	bucket      *rate.Limiter
	bannedUntil time.Time
	last        time.Time // last failure
}

// NewFailureLimiter returns a limiter, or nil (no limit) when o.Failures is 0.
func NewFailureLimiter(o LimiterOptions) *FailureLimiter {
	if o.Failures <= 0 || o.Window <= 0 {
		return nil
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = DefaultLimiterOptions().MaxAddresses
	}
	return &FailureLimiter{o: o, m: map[netip.Addr]*source{}}
}

// Banned reports whether addr (an IP, or host:port as net.Addr.String and
// http.Request.RemoteAddr give) is banned now. Callers ask before checking
// credentials, so a banned address costs no bcrypt comparison.
func (l *FailureLimiter) Banned(addr string) bool { return l.BannedFor(addr) > 0 }

// BannedFor returns how long addr stays banned, 0 if it is not: an HTTP
// 429's Retry-After.
func (l *FailureLimiter) BannedFor(addr string) time.Duration {
	key, ok := sourceKey(addr)
	if l == nil || !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[key]
	if s == nil {
		return 0
	}
	return max(0, s.bannedUntil.Sub(l.o.Now()))
}

// Failed records a failed authentication from addr and reports whether
// the address is now banned.
func (l *FailureLimiter) Failed(addr string) bool {
	key, ok := sourceKey(addr)
	if l == nil || !ok {
		return false
	}
	now := l.o.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.m[key]
	if s == nil {
		l.makeRoom(now)
		every := rate.Every(l.o.Window / time.Duration(l.o.Failures))
		s = &source{bucket: rate.NewLimiter(every, l.o.Failures)}
		l.m[key] = s
	}
	s.last = now
	// The failure that takes the last token bans: Failures failures in a
	// burst are the most an address gets.
	if !s.bucket.AllowN(now, 1) || s.bucket.TokensAt(now) < 1 {
		s.bannedUntil = now.Add(l.o.Ban)
	}
	return now.Before(s.bannedUntil)
}

// makeRoom keeps the map under MaxAddresses: it forgets addresses whose
// bucket has refilled and whose ban is over, and if none is, an arbitrary
// one (an attacker with that many addresses is not stopped by this).
func (l *FailureLimiter) makeRoom(now time.Time) {
	if len(l.m) < l.o.MaxAddresses {
		return
	}
	for k, s := range l.m {
		if now.Sub(s.last) > l.o.Window && !now.Before(s.bannedUntil) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < l.o.MaxAddresses {
			break
		}
		delete(l.m, k)
	}
}

// Len returns the number of addresses tracked.
func (l *FailureLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// sourceKey is the address an attempt is counted against: the IP of addr,
// IPv4-mapped addresses as IPv4, IPv6 by its /64.
func sourceKey(addr string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		host, _, serr := net.SplitHostPort(addr)
		if serr != nil {
			return netip.Addr{}, false
		}
		if ip, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}, false
		}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr(), true
	}
	return ip, true
}
