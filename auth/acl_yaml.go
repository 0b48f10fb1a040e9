package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The YAML form of an ACL, read with gopkg.in/yaml.v3 (already the config
// file's reader; it gives every node its line, for messages):
//
//	anonymous:
//	  - {topic: public/#, access: read}
//	patterns:
//	  - {topic: users/%u/#, access: readwrite}
//	users:
//	  alice:
//	    - {topic: sensors/#, access: [read, replay]}
//	    - {topic: sensors/secret/#, access: deny}
//	    - {access: admin}
//
// access is one word of the text form or a list of them; a rule without
// access is readwrite, as in the text form.
type yamlACL struct {
	Anonymous []yamlRule            `yaml:"anonymous"`
	Patterns  []yamlRule            `yaml:"patterns"`
	Users     map[string][]yamlRule `yaml:"users"`
}

type yamlRule struct {
	Topic  string   `yaml:"topic"`
	Access []string `yaml:"access"`
	line   int
}

// UnmarshalYAML reads a rule, keeping its line; access may be one word.
func (r *yamlRule) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Topic  string    `yaml:"topic"`
		Access yaml.Node `yaml:"access"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	if err := checkKeys(n, "topic", "access"); err != nil {
		return err
	}
	r.Topic, r.line = raw.Topic, n.Line
	switch raw.Access.Kind {
	case 0:
	case yaml.ScalarNode:
		r.Access = []string{raw.Access.Value}
	default:
		if err := raw.Access.Decode(&r.Access); err != nil {
			return err
		}
	}
	return nil
}

// checkKeys refuses keys of a mapping other than those named (Decode into
// a struct ignores them, and a misspelt "acess" would grant readwrite).
func checkKeys(n *yaml.Node, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a rule is a mapping with topic and access", n.Line)
	}
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(keys, k.Value) {
			return fmt.Errorf("line %d: unknown key %q (want %s)", k.Line, k.Value, strings.Join(keys, " or "))
		}
	}
	return nil
}

// ParseACLYAML reads the YAML form of an ACL; name is the file's name for
// messages ("acl.yaml:7: ...").
func ParseACLYAML(name string, data []byte) (*ACL, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var y yamlACL
	if err := dec.Decode(&y); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	a := &ACL{Users: map[string][]Rule{}}
	var err error
	if a.Anonymous, err = yamlRules(name, y.Anonymous, false); err != nil {
		return nil, err
	}
	if a.Patterns, err = yamlRules(name, y.Patterns, true); err != nil {
		return nil, err
	}
	for u, rs := range y.Users {
		if err := checkUser(u); err != nil {
			return nil, fmt.Errorf("%s: users: %w", name, err)
		}
		if a.Users[u], err = yamlRules(name, rs, false); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// yamlRules converts and checks the rules of one section.
func yamlRules(name string, ys []yamlRule, pattern bool) ([]Rule, error) {
	rules := make([]Rule, 0, len(ys))
	for _, y := range ys {
		r := Rule{Rights: Publish | Subscribe, Topic: y.Topic, Line: y.line}
		if len(y.Access) > 0 {
			var err error
			if r.Rights, r.Deny, err = parseAccessList(y.Access); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, y.line, err)
			}
		}
		if err := checkRule(r, pattern); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, y.line, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// parseAccessList reads access words; deny stands alone.
func parseAccessList(words []string) (Right, bool, error) {
	for _, w := range words {
		if w == "deny" && len(words) > 1 {
			return 0, false, errors.New("deny stands alone: it takes every right away")
		}
		if w == "" || strings.Contains(w, ",") {
			return 0, false, fmt.Errorf("unknown access %q (want read, write, readwrite, replay, admin or deny)", w)
		}
	}
	return parseAccess(strings.Join(words, ","))
}
