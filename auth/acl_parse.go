package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ParseACL reads mosquitto's acl_file syntax; name is the file's name for
// messages ("acl.conf:3: unknown access \"reed\" ...").
//
//	# comment
//	topic read public/#            lines before the first user: anonymous clients
//	pattern readwrite users/%u/#   every identity (%u user name, %c client id)
//	user alice
//	topic read,replay sensors/#    access: read, write, readwrite, replay, admin,
//	topic deny sensors/secret/#    a comma-separated list of them, or deny
//	topic admin                    cluster operations: no topic
//	topic chat/#                   no access word: readwrite
//
// A topic is the rest of its line and may hold spaces; when it does, the
// access word must be given. A user may be listed more than once: its
// rules add up.
func ParseACL(name string, data []byte) (*ACL, error) {
	a := &ACL{Users: map[string][]Rule{}}
	user, inUser := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, rest := cutWord(line)
		var err error
		switch word {
		case "user":
			user, inUser, err = rest, true, checkUser(rest)
			if err == nil && a.Users[user] == nil {
				a.Users[user] = []Rule{}
			}
		case "topic", "pattern":
			err = a.addLine(word, rest, n, user, inUser)
		default:
			err = fmt.Errorf("unknown keyword %q (want user, topic or pattern)", word)
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

// addLine adds a topic or pattern line's rule where it belongs.
func (a *ACL) addLine(word, rest string, n int, user string, inUser bool) error {
	r, err := parseRuleText(rest)
	if err != nil {
		return err
	}
	r.Line = n
	if err := checkRule(r, word == "pattern"); err != nil {
		return err
	}
	switch {
	case word == "pattern":
		a.Patterns = append(a.Patterns, r)
	case inUser:
		a.Users[user] = append(a.Users[user], r)
	default:
		a.Anonymous = append(a.Anonymous, r)
	}
	return nil
}

// parseRuleText reads "[access] topic" (or "admin").
func parseRuleText(rest string) (Rule, error) {
	if rest == "" {
		return Rule{}, errors.New("no access and no topic")
	}
	first, tail := cutWord(rest)
	rights, deny, err := parseAccess(first)
	switch {
	case err == nil:
		return Rule{Rights: rights, Deny: deny, Topic: tail}, nil
	case tail != "" || strings.Contains(first, ","):
		// "topic reed a/b": a misspelt access word, not a topic with a space.
		return Rule{}, fmt.Errorf("%w; a topic holding spaces needs its access word first", err)
	}
	return Rule{Rights: Publish | Subscribe, Topic: rest}, nil
}

// cutWord splits s at its first run of white space.
func cutWord(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}
