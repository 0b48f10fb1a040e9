package auth

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func testLimiter(c *fakeClock, max int) *FailureLimiter {
	return NewFailureLimiter(LimiterOptions{Failures: 3, Window: time.Minute, Ban: 5 * time.Minute, MaxAddresses: max, Now: c.now})
}

// TestFailureLimiterBans: the failure past the allowance bans the address,
// and only it, until the ban ends; the allowance refills over the window.
func TestFailureLimiterBans(t *testing.T) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	l := testLimiter(c, 0)
	for i := 0; i < 2; i++ {
		if l.Failed("192.0.2.1:1000") || l.Banned("192.0.2.1") {
			t.Fatalf("banned after %d failures", i+1)
		}
	}
	if !l.Failed("192.0.2.1:2000") || !l.Banned("192.0.2.1:3000") {
		t.Fatal("3rd failure in a minute did not ban")
	}
	if l.Banned("192.0.2.2:1000") {
		t.Fatal("another address banned")
	}
	c.t = c.t.Add(5*time.Minute - time.Second)
	if d := l.BannedFor("192.0.2.1:1"); d != time.Second {
		t.Fatalf("BannedFor %v, want 1s", d)
	}
	if !l.Banned("192.0.2.1:1") {
		t.Fatal("ban ended early")
	}
	c.t = c.t.Add(time.Second)
	if l.Banned("192.0.2.1:1") {
		t.Fatal("ban did not end")
	}
	// One failure every 20 s is the refill rate: never banned.
	for i := 0; i < 20; i++ {
		c.t = c.t.Add(20 * time.Second)
		if l.Failed("192.0.2.3:1") {
			t.Fatalf("banned at the refill rate after %d failures", i+1)
		}
	}
}

func TestFailureLimiterKeys(t *testing.T) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	l := testLimiter(c, 0)
	for _, a := range []string{"[2001:db8::1]:5", "[2001:db8::2%eth0]:6", "2001:db8::ffff"} {
		l.Failed(a) // one /64
	}
	if !l.Banned("[2001:db8::9]:1") || l.Banned("[2001:db8:0:1::9]:1") {
		t.Fatal("IPv6 not counted by /64")
	}
	for i := 0; i < 3; i++ {
		l.Failed("[::ffff:198.51.100.7]:9")
	}
	if !l.Banned("198.51.100.7:1") {
		t.Fatal("IPv4-mapped address counted apart from IPv4")
	}
	if l.Failed("not an address") || l.Banned("@unix") {
		t.Fatal("unparsable address limited")
	}
	var none *FailureLimiter
	if none.Failed("192.0.2.1:1") || none.Banned("192.0.2.1:1") || NewFailureLimiter(LimiterOptions{}) != nil {
		t.Fatal("a nil limiter limits")
	}
}

// TestFailureLimiterBounded: memory stays under MaxAddresses, idle
// addresses going first, while a banned one is kept.
func TestFailureLimiterBounded(t *testing.T) {
	c := &fakeClock{t: time.Unix(1e9, 0)}
	l := testLimiter(c, 100)
	for i := 0; i < 3; i++ {
		l.Failed("203.0.113.1:1")
	}
	for i := 0; i < 99; i++ {
		l.Failed(fmt.Sprintf("10.0.%d.%d:1", i/250, i%250))
	}
	c.t = c.t.Add(2 * time.Minute)
	for i := 0; i < 1000; i++ {
		l.Failed(fmt.Sprintf("10.1.%d.%d:1", i/250, i%250))
		if l.Len() > 100 {
			t.Fatalf("%d addresses tracked, max 100", l.Len())
		}
		if i < 50 && !l.Banned("203.0.113.1:1") {
			t.Fatalf("banned address forgotten while idle ones remained (%d)", i)
		}
	}
}

// FuzzSourceKey: any remote address string is either not limited or
// counted under a valid IP; parsing never panics, and an address counts
// as itself with any port.
func FuzzSourceKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1:1883", "[2001:db8::1%eth0]:1", "::ffff:10.0.0.1", "@", "", "[::1]", "1.2.3.4:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		key, ok := sourceKey(addr)
		if !ok {
			return
		}
		if !key.IsValid() || key.Zone() != "" || key.Is4In6() {
			t.Fatalf("%q keyed as %v", addr, key)
		}
		again, ok := sourceKey(key.String())
		if !ok || again != key {
			t.Fatalf("%q keyed as %v, which keys as %v", addr, key, again)
		}
	})
}
