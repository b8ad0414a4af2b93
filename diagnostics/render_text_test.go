package diagnostics

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

func TestWriteText(t *testing.T) {
	for name, opt := range map[string]TextOptions{
		"unicode": {}, "ascii": {ASCII: true}, "verbose": {Verbose: true}, "color": {Color: true},
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteText(&b, renderReport(t), opt); err != nil {
				t.Fatal(err)
			}
			if !opt.Color && strings.Contains(b.String(), "\x1b") {
				t.Fatal("escape codes without Color")
			}
			golden.RequireEqual(t, b.Bytes())
		})
	}
}
