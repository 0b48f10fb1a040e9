package topic

import "strings"

// sharePrefix starts a shared subscription filter [MQTT-4.8.2].
const sharePrefix = "$share/"

// ParseShare splits "$share/{ShareName}/{filter}" into its share name and
// inner filter. ok is false (and err nil) for a filter that does not start
// with "$share/". A shared filter is fully validated: the share name is
// non-empty and holds no '/', '+' or '#' [MQTT-4.8.2-1, MQTT-4.8.2-2], the
// inner filter is non-empty and valid; otherwise err wraps ErrInvalid (ok is
// still true, so callers can tell "malformed shared" from "not shared").
func ParseShare(filter string) (group, inner string, ok bool, err error) {
	rest, found := strings.CutPrefix(filter, sharePrefix)
	if !found {
		return "", "", false, nil
	}
	if err := checkString(filter); err != nil {
		return "", "", true, err
	}
	group, inner, found = strings.Cut(rest, "/") // so group never holds '/'
	switch {
	case group == "":
		return "", "", true, invalid(filter, "a share name must be at least one character long [MQTT-4.8.2-1]")
	case strings.ContainsAny(group, "+#"):
		return "", "", true, invalid(filter, "a share name must not contain '+' or '#' [MQTT-4.8.2-2]")
	case !found || inner == "":
		return "", "", true, invalid(filter, "a shared subscription needs a topic filter after the share name [MQTT-4.8.2-2]")
	case strings.HasPrefix(inner, sharePrefix):
		// Its filter would read as a shared subscription again wherever it is
		// checked or matched on its own.
		return "", "", true, invalid(filter, "a shared subscription's filter cannot be a shared subscription")
	}
	if err := checkLevels(inner); err != nil {
		return "", "", true, err
	}
	return group, inner, true, nil
}
