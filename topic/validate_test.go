package topic

import (
	"errors"
	"strings"
	"testing"
)

var nameCases = []struct {
	name, topic string
	ok          bool
}{
	{"simple", "a/b/c", true},
	{"empty levels allowed [MQTT-4.7.1-1]", "a//b", true},
	{"leading slash", "/a", true},
	{"single slash", "/", true},
	{"dollar topic", "$SYS/broker/load", true},
	{"space", "a b/c", true},
	{"unicode", "gauge/température/°C", true},
	{"empty [MQTT-4.7.3-1]", "", false},
	{"null char [MQTT-4.7.3-2]", "a\x00b", false},
	{"plus in name [MQTT-3.3.2-2]", "a/+/b", false},
	{"hash in name [MQTT-3.3.2-2]", "a/#", false},
	{"embedded plus [MQTT-3.3.2-2]", "a+b", false},
	{"ill-formed utf-8 [MQTT-1.5.4-1]", "a/\xff", false},
	{"encoded surrogate [MQTT-1.5.4-1]", "a/\xed\xa0\x80", false},
	{"max length [MQTT-4.7.3-3]", strings.Repeat("a", MaxLen), true},
	{"over max length [MQTT-4.7.3-3]", strings.Repeat("a", MaxLen+1), false},
}

func TestValidateName(t *testing.T) {
	for _, c := range nameCases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateName(c.topic)
			if (err == nil) != c.ok {
				t.Fatalf("ValidateName(%.20q) = %v, want ok=%t", c.topic, err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

var filterCases = []struct {
	name, filter string
	ok           bool
	rule         string // substring of the error for invalid cases
}{
	{"plain", "a/b", true, ""},
	{"hash alone [MQTT-4.7.1-2]", "#", true, ""},
	{"plus alone [MQTT-4.7.1-3]", "+", true, ""},
	{"hash last", "sport/tennis/#", true, ""},
	{"plus middle", "sport/+/player1", true, ""},
	{"plus plus", "+/+", true, ""},
	{"plus then hash", "+/#", true, ""},
	{"empty level plus", "/+", true, ""},
	{"dollar", "$SYS/#", true, ""},
	{"hash not last [MQTT-4.7.1-2]", "a/#/b", false, "MQTT-4.7.1-2"},
	{"hash partial level [MQTT-4.7.1-2]", "a/b#", false, "MQTT-4.7.1-2"},
	{"hash prefix level [MQTT-4.7.1-2]", "a/#b", false, "MQTT-4.7.1-2"},
	{"plus partial level [MQTT-4.7.1-3]", "a/b+", false, "MQTT-4.7.1-3"},
	{"plus prefix level [MQTT-4.7.1-3]", "+a/b", false, "MQTT-4.7.1-3"},
	{"empty [MQTT-4.7.3-1]", "", false, "MQTT-4.7.3-1"},
	{"null [MQTT-4.7.3-2]", "a/\x00", false, "MQTT-4.7.3-2"},
	{"bad utf-8 [MQTT-1.5.4-1]", "\xc3\x28", false, "MQTT-1.5.4-1"},
	{"shared [MQTT-4.8.2-1]", "$share/g1/a/+", true, ""},
	{"shared hash", "$share/g/#", true, ""},
	{"shared empty group [MQTT-4.8.2-1]", "$share//a", false, "MQTT-4.8.2-1"},
	{"shared group plus [MQTT-4.8.2-2]", "$share/g+/a", false, "MQTT-4.8.2-2"},
	{"shared group hash [MQTT-4.8.2-2]", "$share/#/a", false, "MQTT-4.8.2-2"},
	{"shared no filter [MQTT-4.8.2-2]", "$share/g", false, "MQTT-4.8.2-2"},
	{"shared empty filter [MQTT-4.8.2-2]", "$share/g/", false, "MQTT-4.8.2-2"},
	{"shared bad inner [MQTT-4.7.1-2]", "$share/g/a/#/b", false, "MQTT-4.7.1-2"},
	{"shared inside shared (found by FuzzValidateFilter)", "$share/0/$share/", false, "cannot be a shared subscription"},
	{"not shared: $shared", "$shared/x", true, ""},
}

func TestValidateFilter(t *testing.T) {
	for _, c := range filterCases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateFilter(c.filter)
			if (err == nil) != c.ok {
				t.Fatalf("ValidateFilter(%q) = %v, want ok=%t", c.filter, err, c.ok)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.rule)) {
				t.Fatalf("error %q: want ErrInvalid naming %s", err, c.rule)
			}
		})
	}
}

func TestParseShare(t *testing.T) {
	cases := []struct {
		name, filter, group, inner string
		shared                     bool
		rule                       string // substring of the error; "" for no error
	}{
		{"shared [MQTT-4.8.2-1]", "$share/consumers/sensors/+/temp", "consumers", "sensors/+/temp", true, ""},
		{"inner may start with $", "$share/g/$SYS/#", "g", "$SYS/#", true, ""},
		{"inner empty level", "$share/g//a", "g", "/a", true, ""},
		{"not shared", "sensors/#", "", "", false, ""},
		{"not shared: no slash", "$share", "", "", false, ""},
		{"not shared: case matters", "$SHARE/g/a", "", "", false, ""},
		{"empty share name [MQTT-4.8.2-1]", "$share//a", "", "", true, "MQTT-4.8.2-1"},
		{"share name with + [MQTT-4.8.2-2]", "$share/+/a", "", "", true, "MQTT-4.8.2-2"},
		{"no inner filter [MQTT-4.8.2-2]", "$share/g", "", "", true, "MQTT-4.8.2-2"},
		{"inner + partial [MQTT-4.7.1-3]", "$share/g/a+", "", "", true, "MQTT-4.7.1-3"},
		{"null in share name [MQTT-4.7.3-2]", "$share/g\x00/a", "", "", true, "MQTT-4.7.3-2"},
		{"bad utf-8 inner [MQTT-1.5.4-1]", "$share/g/\xff", "", "", true, "MQTT-1.5.4-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, inner, shared, err := ParseShare(c.filter)
			if shared != c.shared || g != c.group || inner != c.inner {
				t.Fatalf("ParseShare(%q) = %q %q %t, want %q %q %t", c.filter, g, inner, shared, c.group, c.inner, c.shared)
			}
			if (err == nil) != (c.rule == "") {
				t.Fatalf("ParseShare(%q) err = %v, want rule %q", c.filter, err, c.rule)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.rule)) {
				t.Fatalf("error %q: want ErrInvalid naming %s", err, c.rule)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	err := ValidateFilter("a/#/b")
	want := `topic: invalid: "a/#/b": '#' must be the last character and occupy an entire level [MQTT-4.7.1-2]`
	if err == nil || err.Error() != want {
		t.Fatalf("ValidateFilter(a/#/b) = %v, want %s", err, want)
	}
	long := ValidateName(strings.Repeat("x", MaxLen+1)).Error()
	if len(long) > 200 || !strings.Contains(long, "MQTT-4.7.3-3") {
		t.Fatalf("error for a long name is not truncated or lacks the rule: %.300s", long)
	}
}
