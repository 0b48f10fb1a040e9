package auth

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/stratamq/strata/topic"
)

// ACL is a parsed access control list: mosquitto's acl_file (ParseACL) or
// its YAML form (ParseACLYAML), with the rights replay and admin added.
// What it does not grant is denied; a deny rule takes every topic right
// away on the topics it matches, whatever else grants them. An ACL is
// immutable and safe for concurrent use; Policy holds the current one.
type ACL struct {
	// Anonymous are the rules of clients without a user name (the lines
	// before the first "user").
	Anonymous []Rule
	// Users are the rules of each user ("user NAME" and its lines).
	Users map[string][]Rule
	// Patterns apply to every identity, %u and %c substituted ("pattern"
	// lines, wherever they are in the file).
	Patterns []Rule
}

// Rule is one "topic" or "pattern" line.
type Rule struct {
	// Rights granted on Topic; zero for a deny rule.
	Rights Right
	// Deny takes every topic right away on what Topic matches.
	Deny bool
	// Topic is a topic filter ("" for a rule granting only Admin).
	Topic string
	// Line is where the rule was read (1-based), for messages.
	Line int
}

// topicRights are the rights that apply to topics (Admin does not).
const topicRights = Publish | Subscribe | Replay

// accessWords maps the access words of rules to rights; "deny" is apart.
var accessWords = map[string]Right{
	"read": Subscribe, "write": Publish, "readwrite": Publish | Subscribe,
	"replay": Replay, "admin": Admin,
}

// LoadACL reads an ACL file: the YAML form when the name ends in .yaml or
// .yml, mosquitto's acl_file syntax otherwise.
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the ACL: %w", err)
	}
	if IsYAMLName(path) {
		return ParseACLYAML(path, data)
	}
	return ParseACL(path, data)
}

// IsYAMLName reports whether an ACL file name says it is YAML.
func IsYAMLName(path string) bool {
	return strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")
}

// parseAccess reads an access word or a comma-separated list of them
// ("read,replay"); deny stands alone.
func parseAccess(s string) (rights Right, deny bool, err error) {
	if s == "deny" {
		return 0, true, nil
	}
	for w := range strings.SplitSeq(s, ",") {
		r, ok := accessWords[w]
		if !ok {
			return 0, false, fmt.Errorf("unknown access %q (want read, write, readwrite, replay, admin, deny, or a comma-separated list without deny)", w)
		}
		rights |= r
	}
	return rights, false, nil
}

// accessString is the inverse of parseAccess.
func accessString(r Rule) string {
	if r.Deny {
		return "deny"
	}
	var words []string
	if r.Rights&(Publish|Subscribe) == Publish|Subscribe {
		words = append(words, "readwrite")
	} else if r.Rights&Subscribe != 0 {
		words = append(words, "read")
	} else if r.Rights&Publish != 0 {
		words = append(words, "write")
	}
	if r.Rights&Replay != 0 {
		words = append(words, "replay")
	}
	if r.Rights&Admin != 0 {
		words = append(words, "admin")
	}
	return strings.Join(words, ",")
}

// checkRule checks a rule once read; pattern says %u and %c are
// placeholders.
func checkRule(r Rule, pattern bool) error {
	switch {
	case r.Rights == 0 && !r.Deny:
		return fmt.Errorf("no rights")
	case r.Topic == "" && (r.Deny || r.Rights&topicRights != 0):
		return fmt.Errorf("no topic (only admin goes without one)")
	case r.Topic != "" && r.Rights == Admin:
		return fmt.Errorf("admin takes no topic")
	case strings.TrimSpace(r.Topic) != r.Topic || strings.ContainsAny(r.Topic, "\r\n"):
		return fmt.Errorf("topic %q has leading or trailing white space or a line break", r.Topic)
	case r.Topic == "":
		return nil
	}
	t := r.Topic
	if pattern {
		t = strings.NewReplacer("%u", "u", "%c", "c").Replace(t)
	}
	if err := topic.ValidateFilter(t); err != nil {
		return fmt.Errorf("topic: %w", err)
	}
	if _, _, shared, _ := topic.ParseShare(t); shared {
		return fmt.Errorf("topic %q: a rule names topics, not a shared subscription", r.Topic)
	}
	return nil
}

// String prints the ACL in mosquitto's syntax (our extensions included):
// the anonymous rules, then the patterns, then each user in name order.
// ParseACL reads it back to an equal ACL (lines aside).
func (a *ACL) String() string {
	var b strings.Builder
	writeRules(&b, "topic", a.Anonymous)
	writeRules(&b, "pattern", a.Patterns)
	users := make([]string, 0, len(a.Users))
	for u := range a.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		fmt.Fprintf(&b, "\nuser %s\n", u)
		writeRules(&b, "topic", a.Users[u])
	}
	return b.String()
}

func writeRules(b *strings.Builder, word string, rules []Rule) {
	for _, r := range rules {
		fmt.Fprintf(b, "%s %s", word, accessString(r))
		if r.Topic != "" {
			b.WriteString(" " + r.Topic)
		}
		b.WriteByte('\n')
	}
}

// Equal reports whether two ACLs hold the same rules in the same order,
// lines aside (a user without rules equals a user not listed).
func (a *ACL) Equal(o *ACL) bool {
	if !rulesEqual(a.Anonymous, o.Anonymous) || !rulesEqual(a.Patterns, o.Patterns) {
		return false
	}
	for u, rs := range a.Users {
		if !rulesEqual(rs, o.Users[u]) {
			return false
		}
	}
	for u, rs := range o.Users {
		if !rulesEqual(rs, a.Users[u]) {
			return false
		}
	}
	return true
}

func rulesEqual(a, b []Rule) bool {
	return slices.EqualFunc(a, b, func(x, y Rule) bool {
		return x.Rights == y.Rights && x.Deny == y.Deny && x.Topic == y.Topic
	})
}
