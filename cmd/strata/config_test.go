package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testFlags is a FlagSet like serve's, parsed from args.
type testFlags struct {
	fs      *flag.FlagSet
	mqtt    *string
	cert    *string
	anon    *bool
	expect  *int
	timeout *time.Duration
	config  *string
}

func parseTestFlags(t *testing.T, args ...string) testFlags {
	t.Helper()
	fs := newFlagSet("test", io.Discard)
	f := testFlags{fs: fs,
		mqtt:    fs.String("mqtt", "127.0.0.1:1883", ""),
		cert:    fs.String("tls-cert", "", ""),
		anon:    fs.Bool("allow-anonymous", false, ""),
		expect:  fs.Int("bootstrap-expect", 1, ""),
		timeout: fs.Duration("connect-timeout", 10*time.Second, ""),
		config:  fs.String("config", "", ""),
	}
	if err := parseFlags(fs, args); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFilePrecedence: the file sets flags the command line did not;
// the command line wins where both set one.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfig(t, `# node 1
mqtt: 0.0.0.0:1883
tls-cert: /etc/strata/cert.pem
allow-anonymous: true
bootstrap-expect: 3
connect-timeout: 5s
`)
	f := parseTestFlags(t, "--config", path, "--mqtt", "127.0.0.1:2883", "--bootstrap-expect=5")
	if err := applyConfigFile(f.fs, *f.config); err != nil {
		t.Fatal(err)
	}
	if *f.mqtt != "127.0.0.1:2883" || *f.expect != 5 {
		t.Errorf("command line lost: mqtt %q, bootstrap-expect %d", *f.mqtt, *f.expect)
	}
	if *f.cert != "/etc/strata/cert.pem" || !*f.anon || *f.timeout != 5*time.Second {
		t.Errorf("file not applied: tls-cert %q, allow-anonymous %v, connect-timeout %v", *f.cert, *f.anon, *f.timeout)
	}
	// A command-line false beats the file's true.
	f = parseTestFlags(t, "--allow-anonymous=false")
	if err := applyConfigFile(f.fs, path); err != nil {
		t.Fatal(err)
	}
	if *f.anon || *f.mqtt != "0.0.0.0:1883" {
		t.Errorf("allow-anonymous %v, mqtt %q; want false, 0.0.0.0:1883", *f.anon, *f.mqtt)
	}
}

func TestConfigFileEmpty(t *testing.T) {
	for _, content := range []string{"", "\n", "# nothing yet\n", "---\n", "~\n"} {
		f := parseTestFlags(t)
		if err := applyConfigFile(f.fs, writeConfig(t, content)); err != nil {
			t.Errorf("%q: %v", content, err)
		}
		if *f.mqtt != "127.0.0.1:1883" || *f.expect != 1 {
			t.Errorf("%q changed flags", content)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct{ content, want string }{
		{"mqtt: x\nmqtt-addr: y\n", `strata.yaml:2: unknown key "mqtt-addr"`},
		{"config: other.yaml\n", `strata.yaml:1: key "config" not allowed`},
		{"bootstrap-expect: three\n", `strata.yaml:1: invalid value "three" for key "bootstrap-expect": parse error`},
		{"allow-anonymous: maybe\n", `invalid value "maybe" for key "allow-anonymous"`},
		{"connect-timeout: 5\n", `invalid value "5" for key "connect-timeout"`},
		{"tls:\n  cert: a.pem\n", `strata.yaml:1: unknown key "tls"`},
		{"tls-cert:\n  path: a.pem\n", `strata.yaml:1: key "tls-cert": value is a mapping`},
		{"mqtt: [a, b]\n", `key "mqtt": value is a list`},
		{"tls-cert:\n", `key "tls-cert": no value`},
		{"mqtt: a\nmqtt: b\n", `key "mqtt" given twice`},
		{"- mqtt: a\n", `strata.yaml: want a mapping of flag names to values`},
		{"just a string\n", "found a string"},
		{"mqtt: a\n---\nmqtt: b\n", "want one YAML document"},
		{"mqtt: [\n", "strata.yaml: yaml:"},
	} {
		f := parseTestFlags(t)
		err := applyConfigFile(f.fs, writeConfig(t, tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.content, err, tc.want)
		}
	}
	// An unknown key's error lists nothing but the key and the file.
	f := parseTestFlags(t)
	err := applyConfigFile(f.fs, writeConfig(t, "nope: 1\n"))
	if err == nil || strings.Contains(err.Error(), "mqtt") || !strings.HasSuffix(err.Error(), `strata.yaml:1: unknown key "nope"`) {
		t.Errorf("unknown key: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.yaml")
	if err := applyConfigFile(f.fs, missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
}
