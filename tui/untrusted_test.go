package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// hostile is what a server certificate's CN or a grpc-message can carry: an OSC that sets
// the window title, ended by BEL, then a CSI that clears the screen.
const hostile = "evil\x1b]0;pwned\x07\x1b[2J\u009b31m"

// keyNoEnd is a private key block cut short: BEGIN and body, no END line.
const keyNoEnd = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSYbpUIenu92u2F6A\nnH2TOfJ4RP+xJ1GV3KNQQXYM+vKhRANCAATEUNEii4WbzH6bzg2NTN"

// untrustedModel is the assistant after a run whose findings and facts carry hostile text
// and a key without its END line in the first problem's evidence, before four more problems.
func untrustedModel(t *testing.T) Model {
	t.Helper()
	e := &diagnostics.Engine{Catalog: diagnostics.DefaultCatalog()}
	m := New(Options{Engine: e})
	m, _ = m.update(tea.WindowSizeMsg{Width: 100, Height: 40})
	var findings []diagnostics.Finding
	for i, ch := range e.Catalog[:5] {
		f := diagnostics.Finding{ID: ch.ID, Category: ch.Category, Title: ch.Title, Severity: diagnostics.SeverityWarn,
			Summary: "problem " + ch.ID + " " + hostile}
		if i == 0 {
			f.Severity = diagnostics.SeverityFail
			f.Evidence = []diagnostics.Evidence{{Text: "nginx -t said", Quote: []string{keyNoEnd, "after the key " + hostile}}}
			f.Subject = diagnostics.Subject{Kind: diagnostics.SubjectNginxServer, Name: "/etc/nginx/conf.d/agents.conf:3" + hostile}
		}
		findings = append(findings, f)
	}
	facts := &diagnostics.Facts{Agent: &probes.AgentConfig{Path: "/etc/nginx-agent/nginx-agent.conf", Format: probes.FormatV2,
		Host: probes.Setting{Value: "nim" + hostile, Source: probes.Source{Kind: probes.SourceEnv}}}}
	r := &diagnostics.Report{Findings: findings, Facts: facts}
	m.gen++
	m.run = &engineRun{gen: m.gen, cancel: func() {}, finished: map[string]bool{}}
	m, _ = m.update(engineDoneMsg{gen: m.gen, report: r})
	return m
}

// TestFindingNamesItsSubject: a finding about something other than the agent link says
// what it judged on the finding screen.
func TestFindingNamesItsSubject(t *testing.T) {
	m := untrustedModel(t)
	mm, _ := m.update(keyMsg("2"))
	if frame := mm.frame(); !strings.Contains(frame, "on nginx-server /etc/nginx/conf.d/agents.conf:3") {
		t.Errorf("the finding screen does not name the subject:\n%s", frame)
	}
}

func assertTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"\x1b]", "\x07", "\x1b[2J", "\u009b"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s holds %q raw", what, bad)
		}
	}
	if strings.Contains(s, "MIGHAgEAMBMG") || strings.Contains(s, "nH2TOfJ4RP") {
		t.Errorf("%s holds key material", what)
	}
}

// TestReportRedactsKeyWithoutEnd: a private key without its END line in evidence is
// removed, and the report still lists every problem after it.
func TestReportRedactsKeyWithoutEnd(t *testing.T) {
	m := untrustedModel(t)
	md := m.markdownReport()
	assertTerminalSafe(t, "the report", md)
	if n := strings.Count(md, "\n### "); n < 5 {
		t.Errorf("the report lists %d problems, want 5:\n%s", n, md)
	}
	if !strings.Contains(md, "after the key") {
		t.Errorf("the evidence after the key was lost:\n%s", md)
	}
}

// TestScreensEscapeUntrusted: no screen passes a certificate's or the network's escape
// sequences to the terminal.
func TestScreensEscapeUntrusted(t *testing.T) {
	m := untrustedModel(t)
	for _, screen := range []struct {
		name string
		key  string
	}{{"overview", "1"}, {"finding", "2"}, {"fix", "3"}, {"certificates", "4"}, {"logs", "5"}} {
		mm, _ := m.update(keyMsg(screen.key))
		assertTerminalSafe(t, screen.name, mm.frame())
	}
}
