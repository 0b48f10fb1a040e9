package topic

import "strings"

// Match reports whether a valid topic name matches a valid, non-shared filter.
// It does not allocate.
//
// '#' matches the parent level and any number of child levels [MQTT-4.7.1-2];
// '+' matches exactly one level, which may be empty [MQTT-4.7.1-3]; a name that
// starts with '$' is not matched by a filter starting with a wildcard
// [MQTT-4.7.2-1].
//
// A shared filter is not unwrapped: Match("$share/g/a/+", name) compares
// the string literally, level by level, so it matches only names such as
// "$share/g/a/x". Callers pass the inner filter from ParseShare. Match never
// panics, whatever its arguments; for invalid ones the result is unspecified.
func Match(filter, name string) bool {
	if strings.HasPrefix(name, "$") && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore && !nmore:
			return true
		case !nmore:
			// name ended; "a/#" still matches "a" [MQTT-4.7.1-2].
			return frest == "#"
		case !fmore:
			return false
		}
		filter, name = frest, nrest
	}
}
