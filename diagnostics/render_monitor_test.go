package diagnostics

import (
	"bytes"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

func TestWriteNagios(t *testing.T) {
	var b bytes.Buffer
	if err := WriteNagios(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(b.String(), "\n", 2)[0]
	if strings.Count(first, "|") != 1 {
		t.Fatalf("status line must have exactly one perfdata separator: %q", first)
	}
	golden.RequireEqual(t, b.Bytes())
}

func TestWritePrometheus(t *testing.T) {
	var b bytes.Buffer
	if err := WritePrometheus(&b, renderReport(t)); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if !strings.HasPrefix(line, "#") && len(strings.Fields(line)) != 2 {
			t.Errorf("not a sample line: %q", line)
		}
	}
	golden.RequireEqual(t, b.Bytes())
}

func TestExitCode(t *testing.T) {
	for sev, want := range map[Severity]int{SeverityOK: 0, SeverityInfo: 0, SeveritySkip: 0, SeverityWarn: 1, SeverityFail: 2} {
		r := &Report{Findings: []Finding{{Severity: SeverityOK}, {Severity: sev}}}
		if got := ExitCode(r); got != want {
			t.Errorf("%s: exit %d, want %d", sev, got, want)
		}
	}
}
