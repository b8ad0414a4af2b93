package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// realLog is NGINX's own error.log lines, recorded from a real nginx (see its .md).
// Tests run in the package directory; the path is relative so goldens do not name it.
var realLog = filepath.Join("..", "testdata", "logs", "nginx-error-real.log")

// TestScreensGolden drives the real program over the fixed test catalog and host
// (catalog_test.go) and compares every screen, ANSI stripped, at 80x24, 120x40 and 60x20.
// A check added to or reworded in diagnostics changes none of these.
func TestScreensGolden(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}, {60, 20}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			opts := fixedOptions(t)
			opts.Logs = LogFileSource(realLog, time.UTC)
			h := drive(t, New(opts), size[0], size[1])
			h.idle()
			h.waitFor("the log lines", 10*time.Second, func(m Model) bool { return m.logs.ended })
			shots := []struct {
				name string
				keys []string
			}{
				{"overview", nil},
				{"overview-scrolled", []string{"G"}},
				{"finding", []string{"2"}},
				{"fix-step1", []string{"enter"}},
				{"fix-step2", []string{"n"}},
				{"certificates", []string{"4"}},
				{"certificates-scrolled", []string{"pgdown"}},
				{"logs", []string{"5"}},
				{"logs-filtered", []string{"/", "e", "x", "p", "i", "r", "e", "d", "enter"}},
				{"help", []string{"?"}},
			}
			for _, s := range shots {
				t.Run(s.name, func(t *testing.T) {
					h.press(s.keys...)
					screen := h.screen()
					assertFits(t, screen, size[0], size[1])
					golden.RequireEqual(t, normalize(screen))
				})
			}
		})
	}
}

// TestEndToEndGolden is the one golden over the real catalog: the demo lab's
// agent-cert-expired scenario on the Overview at 80x24, through the real probes.
func TestEndToEndGolden(t *testing.T) {
	tl := startLab(t, "agent-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	screen := h.screen()
	assertFits(t, screen, 80, 24)
	golden.RequireEqual(t, normalize(screen))
}

// TestEndToEndUpstreamGolden is the demo lab's upstream-client-cert-expired scenario on
// the Overview at 80x24: the upstream checks grouped under their link
// ("upstream · front.test.local → 127.0.0.1:PORT"), the failure among the problems.
func TestEndToEndUpstreamGolden(t *testing.T) {
	tl := startLab(t, "upstream-client-cert-expired")
	h := drive(t, New(tl.options()), 80, 24)
	h.idle()
	screen := h.screen()
	assertFits(t, screen, 80, 24)
	for _, want := range []string{"upstream · front.test.local → 127.0.0.1:", "CN=front-proxy.test.local expired"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the Overview does not show %q:\n%s", want, screen)
		}
	}
	golden.RequireEqual(t, normalize(screen))
}

// assertFits fails when a frame is not exactly height lines of at most width cells.
func assertFits(t *testing.T, screen string, width, height int) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != height {
		t.Errorf("frame has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide (max %d): %q", i+1, w, width, l)
		}
	}
}
