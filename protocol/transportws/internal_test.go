package transportws

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLimitReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"short", "Invalid message received", "Invalid message received"},
		{"exactly the limit", strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{"one byte over", strings.Repeat("a", 124), strings.Repeat("a", 123)},
		{"cut inside a two-byte rune", strings.Repeat("a", 122) + "é", strings.Repeat("a", 122)},
		{"cut inside a four-byte rune", strings.Repeat("a", 121) + "😀b", strings.Repeat("a", 121)},
		{"rune ending at the limit", strings.Repeat("a", 119) + "😀b", strings.Repeat("a", 119) + "😀"},
		{"invalid UTF-8 is replaced", "bad \xff byte", "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := limitReason(tt.in)
			if got != tt.want {
				t.Fatalf("limitReason(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > MaxCloseReason || !utf8.ValidString(got) {
				t.Fatalf("limitReason(%q) = %q does not fit a close frame", tt.in, got)
			}
		})
	}
}
