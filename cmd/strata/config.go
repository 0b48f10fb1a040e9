package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// applyConfigFile sets fs's flags from the YAML file at path: a flat mapping
// whose keys are fs's flag names and whose values are strings, numbers or
// booleans, as they would be written after the flag on the command line:
//
//	mqtt: 127.0.0.1:1883
//	tls-cert: /etc/strata/cert.pem
//	allow-anonymous: true
//	bootstrap-expect: 3
//
// The command line wins: a flag it set is left alone. So the caller parses
// the command line first, then calls applyConfigFile with the --config
// flag's value (when not empty). An unknown key, the key "config", a value
// that is not a scalar (or is null) and a value the flag rejects are errors
// naming the file, line and key. An empty file sets nothing.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	root, err := configMapping(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if root == nil {
		return nil
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if err := checkConfigEntry(fs, k, v, seen); err != nil {
			return fmt.Errorf("%s:%d: %w", path, k.Line, err)
		}
		if onCommandLine[k.Value] {
			continue
		}
		if err := fs.Set(k.Value, v.Value); err != nil {
			return fmt.Errorf("%s:%d: invalid value %q for key %q: %w", path, v.Line, v.Value, k.Value, err)
		}
	}
	return nil
}

// configMapping decodes a config file's one YAML document: its mapping, or
// nil if the file holds no document or null.
func configMapping(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("want one YAML document, found more")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return nil, nil
	case root.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("want a mapping of flag names to values (like \"mqtt: 127.0.0.1:1883\"), found %s", nodeKind(root))
	}
	return root, nil
}

// checkConfigEntry checks one key: value pair of a config file.
func checkConfigEntry(fs *flag.FlagSet, k, v *yaml.Node, seen map[string]bool) error {
	switch {
	case k.Kind != yaml.ScalarNode:
		return fmt.Errorf("a key is %s, want a flag name", nodeKind(k))
	case k.Value == "config":
		return errors.New(`key "config" not allowed: a config file cannot name another`)
	case fs.Lookup(k.Value) == nil:
		return fmt.Errorf("unknown key %q", k.Value)
	case seen[k.Value]:
		return fmt.Errorf("key %q given twice", k.Value)
	case v.Kind != yaml.ScalarNode:
		return fmt.Errorf("key %q: value is %s, want a string, number or boolean", k.Value, nodeKind(v))
	case v.Tag == "!!null":
		return fmt.Errorf("key %q: no value (write \"\" for an empty string)", k.Value)
	}
	seen[k.Value] = true
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a " + strings.TrimPrefix(n.ShortTag(), "!!") + " value"
}
