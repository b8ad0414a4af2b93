package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestWrap(t *testing.T) {
	cases := []struct {
		in    string
		width int
		want  []string
	}{
		{"openssl x509 -in /etc/a.crt -noout -dates", 20, []string{"openssl x509 -in", "/etc/a.crt -noout", "-dates"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"ab abcdefghij", 4, []string{"ab", "abcd", "efgh", "ij"}},
		{"one\ntwo three", 20, []string{"one", "two three"}},
		{"", 10, []string{""}},
		{"日本語のテキスト", 5, []string{"日本", "語の", "テキ", "スト"}},
		{"xyz", 0, []string{"xy", "z"}},
	}
	for _, c := range cases {
		got := wrap(c.in, c.width)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
		for _, l := range got {
			if w := ansi.StringWidth(l); w > max(c.width, 1) && c.width > 1 {
				t.Errorf("wrap(%q, %d): line %q is %d wide", c.in, c.width, l, w)
			}
		}
	}
}

// FuzzWrap checks that no input makes a line wider than asked or loses a word's text.
func FuzzWrap(f *testing.F) {
	for _, s := range []string{"openssl x509 -in /etc/a.crt", "a  b\tc", "\x1b[31mred\x1b[0m", "日本語", "\n\n", strings.Repeat("x", 300)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, width int) {
		width = width%200 + 2
		if width < 2 {
			width = 2
		}
		lines := wrap(s, width)
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > width {
				t.Fatalf("line %q is %d wide, max %d", l, w, width)
			}
		}
		joined := strings.Join(strings.Fields(strings.Join(lines, "")), "")
		want := strings.Join(strings.Fields(s), "")
		if ansi.Strip(want) == want && !strings.ContainsFunc(want, func(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 }) && joined != want {
			t.Fatalf("text changed: %q -> %q", want, joined)
		}
	})
}
