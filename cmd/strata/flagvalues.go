package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// logLevels are the --log-level values, in order.
var logLevels = []string{"debug", "info", "warn", "error"}

// parseLogLevel reads --log-level: one of logLevels (zerolog's other names,
// trace to panic, are not offered: they would only confuse).
func parseLogLevel(s string) (zerolog.Level, error) {
	for _, name := range logLevels {
		if s == name {
			return zerolog.ParseLevel(s)
		}
	}
	return zerolog.NoLevel, fmt.Errorf("%w: unknown log level %s (%s)", errUsage, s, strings.Join(logLevels, "|"))
}

// daysDuration is a time.Duration flag that also takes days and weeks
// (7d, 2w, 1.5d), which time.ParseDuration does not: retention is sized in
// days.
type daysDuration struct{ d *time.Duration }

func (f daysDuration) String() string {
	switch {
	case f.d == nil:
		return ""
	case *f.d != 0 && *f.d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(*f.d/(24*time.Hour)), 10) + "d"
	}
	return f.d.String()
}

func (f daysDuration) Set(s string) error {
	d, err := parseDays(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// parseDays reads a Go duration (36h, 90m) or a number of days or weeks
// (7d, 2w, 1.5d).
func parseDays(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("want a duration such as 7d, 2w, 36h or 90m")
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit != 0 {
		n, err := strconv.ParseFloat(s[:len(s)-1], 64)
		if err == nil && n >= 0 && n*float64(unit) < float64(1<<63-1) {
			return time.Duration(n * float64(unit)), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("%q: want a duration such as 7d, 2w, 36h or 90m (units: w, d, h, m, s; 0 keeps forever)", s)
}
