package topic

import "testing"

func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"chat/room1", "chat/room1", true},
		{"chat/room1", "chat/+", true},
		{"chat/room1", "chat/#", true},
		{"chat/room1", "#", true},
		{"chat/room1", "+/room1", true},
		{"chat/room1", "chat/room2", false},
		{"chat/room1", "chat/+/x", false},
		{"chat/room1", "chat", false},
		{"chat", "chat/#", true},
		{"chat/+", "chat/room1/x", false},
		{"chat/+", "+/+", true},
		{"chat/+/x", "chat/y/+", true},
		{"chat/+/x", "chat/y/z", false},
		{"$SYS/a", "#", false},
		{"$SYS/a", "+/a", false},
		{"$SYS/a", "$SYS/#", true},
		{"a//b", "a/+/b", true},
		{"", "+", true},
	} {
		if got := Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := Overlap(c.b, c.a); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v, want %v (symmetry)", c.b, c.a, got, c.want)
		}
	}
}
