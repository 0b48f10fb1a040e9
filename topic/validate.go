package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched (errors.Is) by every validation error; the error text
// says which rule was broken.
var ErrInvalid = errors.New("topic: invalid")

// MaxLen is the longest topic name or filter in bytes [MQTT-4.7.3-3].
const MaxLen = 65535

func invalid(s, rule string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Errorf("%w: %q: %s", ErrInvalid, s, rule)
}

// checkString applies the rules common to names and filters.
func checkString(s string) error {
	switch {
	case s == "":
		return invalid(s, "must be at least one character long [MQTT-4.7.3-1]")
	case len(s) > MaxLen:
		return invalid(s, "longer than 65535 bytes [MQTT-4.7.3-3]")
	case strings.IndexByte(s, 0) >= 0:
		return invalid(s, "must not contain U+0000 [MQTT-4.7.3-2]")
	case !utf8.ValidString(s):
		// utf8.ValidString also rejects encoded surrogates U+D800..U+DFFF
		// ([MQTT-1.5.3-1] in 3.1.1, [MQTT-1.5.4-1] in 5.0).
		return invalid(s, "must be well-formed UTF-8 [MQTT-1.5.4-1]")
	}
	return nil
}

// ValidateName checks a topic name used in PUBLISH: no wildcards [MQTT-3.3.2-2].
func ValidateName(name string) error {
	if err := checkString(name); err != nil {
		return err
	}
	if strings.ContainsAny(name, "+#") {
		return invalid(name, "a topic name must not contain wildcards [MQTT-3.3.2-2]")
	}
	return nil
}

// ValidateFilter checks a subscription filter, including "$share/group/filter".
func ValidateFilter(filter string) error {
	if _, _, shared, err := ParseShare(filter); shared {
		return err
	}
	if err := checkString(filter); err != nil {
		return err
	}
	return checkLevels(filter)
}

// checkLevels applies the wildcard placement rules to a non-shared filter.
func checkLevels(filter string) error {
	for i, n := 0, len(filter); i < n; i++ {
		c := filter[i]
		if c != '+' && c != '#' {
			continue
		}
		whole := (i == 0 || filter[i-1] == '/') && (i+1 == n || filter[i+1] == '/')
		if c == '+' && !whole {
			return invalid(filter, "'+' must occupy an entire level [MQTT-4.7.1-3]")
		}
		if c == '#' && (!whole || i+1 != n) {
			return invalid(filter, "'#' must be the last character and occupy an entire level [MQTT-4.7.1-2]")
		}
	}
	return nil
}
