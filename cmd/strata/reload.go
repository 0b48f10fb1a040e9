package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/stratamq/strata/auth"
)

// reloaders is what SIGHUP reloads: the password file, the ACL, any file
// the broker reads at start and may read again without dropping
// connections. Each reloads on its own; one that fails keeps its previous
// state. Safe for concurrent use.
type reloaders struct {
	logger zerolog.Logger
	mu     sync.Mutex
	list   []namedReloader
}

type namedReloader struct {
	name string // what it reloads, for the log: "password file", "acl"
	r    auth.Reloader
}

func (rs *reloaders) add(name string, r auth.Reloader) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.list = append(rs.list, namedReloader{name, r})
}

// reload reloads each in turn and returns how many failed. Errors name the
// file and line, never a secret (auth.Reloader's contract).
func (rs *reloaders) reload() (failed int) {
	rs.mu.Lock()
	list := append([]namedReloader(nil), rs.list...)
	rs.mu.Unlock()
	for _, nr := range list {
		if err := nr.r.Reload(); err != nil {
			failed++
			rs.logger.Error().Err(err).Str("what", nr.name).Msg("reload failed: the previous state stays in force")
			continue
		}
		rs.logger.Info().Str("what", nr.name).Msg("reloaded")
	}
	return failed
}

// onSIGHUP reloads on every SIGHUP until ctx ends. It is called before the
// node starts, so a SIGHUP during start-up no longer kills the process (Go's
// default for SIGHUP); the reloaders added by then are what it reloads.
func (rs *reloaders) onSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rs.logger.Info().Msg("SIGHUP: reloading")
				rs.reload()
			}
		}
	}()
}

// authLimitFlags registers the failed-authentication limit's flags.
func authLimitFlags(fs *flag.FlagSet, o *auth.LimiterOptions) {
	*o = auth.DefaultLimiterOptions()
	fs.IntVar(&o.Failures, "auth-fail-limit", o.Failures, "failed authentications from one source address (IPv6: its /64) within --auth-fail-window that get it banned (0: no limit)")
	fs.DurationVar(&o.Window, "auth-fail-window", o.Window, "period over which --auth-fail-limit failures are allowed")
	fs.DurationVar(&o.Ban, "auth-ban", o.Ban, "how long a banned address is refused (MQTT CONNACK 0x8A banned, or 5 in 3.1.1; HTTP 429) without its credentials being checked")
}

func checkAuthLimit(o auth.LimiterOptions) error {
	if o.Failures < 0 || (o.Failures > 0 && (o.Window <= 0 || o.Ban <= 0)) {
		return fmt.Errorf("%w: --auth-fail-limit must not be negative, and --auth-fail-window and --auth-ban must be positive", errUsage)
	}
	return nil
}

// openPasswords loads --password-file into a holder SIGHUP reloads, and
// warns about weak hashes now and at each reload; nil for no file.
func openPasswords(path string, rs *reloaders, logger zerolog.Logger) (*auth.Passwords, error) {
	if path == "" {
		return nil, nil
	}
	pw, err := auth.OpenPasswords(path)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %w", err)
	}
	w := weakWarning{pw: pw, logger: logger}
	w.warn()
	rs.add("password file", w)
	return pw, nil
}

// weakWarning reloads the passwords and warns about users whose bcrypt cost
// is below auth.WeakCost: accepted, so an old file does not stop a broker,
// but cheap to crack if the file leaks.
type weakWarning struct {
	pw     *auth.Passwords
	logger zerolog.Logger
}

func (w weakWarning) Reload() error {
	if err := w.pw.Reload(); err != nil {
		return err
	}
	w.warn()
	return nil
}

func (w weakWarning) warn() {
	pf := w.pw.Current()
	if weak := pf.Weak(); len(weak) > 0 {
		w.logger.Warn().Str("file", w.pw.Path()).Str("users", strings.Join(weak, ",")).Int("below_cost", auth.WeakCost).
			Msg("password hashes with a low bcrypt cost: set these passwords again with 'strata passwd'")
	}
	w.logger.Info().Str("file", w.pw.Path()).Int("users", pf.Len()).Msg("password file loaded")
}
