package topic

import "strings"

// Overlap reports whether two valid, non-shared filters match at least one
// topic name in common: "chat/room1" overlaps "chat/+", "chat/#" and "#",
// but not "chat/room2" or "chat/+/x". Like Match, '#' also covers its
// parent level ("a/#" overlaps "a"), and a filter starting with a wildcard
// overlaps no filter whose first level is a literal starting with '$'
// [MQTT-4.7.2-1]. Overlap is symmetric, does not allocate and never panics.
func Overlap(a, b string) bool {
	if dollarVsWildcard(a, b) || dollarVsWildcard(b, a) {
		return false
	}
	for {
		al, arest, amore := strings.Cut(a, "/")
		bl, brest, bmore := strings.Cut(b, "/")
		if al == "#" || bl == "#" {
			return true
		}
		if al != "+" && bl != "+" && al != bl {
			return false
		}
		switch {
		case !amore && !bmore:
			return true
		case !amore:
			return brest == "#" // "a" overlaps "a/#"
		case !bmore:
			return arest == "#"
		}
		a, b = arest, brest
	}
}

// dollarVsWildcard reports whether lit starts with a literal '$' level and
// wild with a wildcard: such filters share no topic name.
func dollarVsWildcard(lit, wild string) bool {
	return strings.HasPrefix(lit, "$") && wild != "" && (wild[0] == '+' || wild[0] == '#')
}
