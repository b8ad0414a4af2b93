package diagnostics

import (
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// Severity grades one finding. The zero value is SeveritySkip.
type Severity int

const (
	// SeveritySkip means the check could not apply here; Summary says why.
	SeveritySkip Severity = iota
	// SeverityOK means the healthy condition holds.
	SeverityOK
	// SeverityInfo is worth knowing but needs no action.
	SeverityInfo
	// SeverityWarn needs attention soon but does not stop the agent today.
	SeverityWarn
	// SeverityFail stops (or will stop) the agent from connecting.
	SeverityFail
)

var severityNames = [...]string{"skip", "ok", "info", "warn", "fail"}

// String returns the lower-case name used in every output format.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity is the inverse of String.
func ParseSeverity(name string) (Severity, error) {
	for i, n := range severityNames {
		if n == name {
			return Severity(i), nil
		}
	}
	return SeveritySkip, fmt.Errorf("unknown severity %q", name)
}

// Category groups checks in output, in the order a connection is built.
type Category string

const (
	CategoryAgentConfig Category = "agent-config" // the agent's configuration file and env
	CategoryAgentFiles  Category = "agent-files"  // cert, key and CA files on disk
	CategoryAgentCert   Category = "agent-cert"   // the agent's client certificate itself
	CategoryNetwork     Category = "network"      // DNS, TCP, TLS version, ALPN
	CategoryServerCert  Category = "server-cert"  // the server certificate as the agent verifies it
	CategoryClientAuth  Category = "client-auth"  // how NGINX judges the agent's certificate
	CategoryGRPC        Category = "grpc"         // what answers behind NGINX
	CategoryManager     Category = "manager"      // the manager's NGINX configuration
	CategoryLogs        Category = "logs"         // what NGINX and the agent logged
	CategoryMesh        Category = "mesh"         // NGINX Service Mesh: SPIRE's upstream CA, mTLS settings, annotations
)

// Categories is the display order of categories.
var Categories = []Category{
	CategoryAgentConfig, CategoryAgentFiles, CategoryAgentCert, CategoryNetwork,
	CategoryServerCert, CategoryClientAuth, CategoryGRPC, CategoryManager, CategoryLogs, CategoryMesh,
}

// Evidence is one observation that backs a finding.
type Evidence struct {
	// Text states the observation in plain words.
	Text string `json:"text"`
	// Location is where it was seen: "file:line", a probe step or a log file.
	Location string `json:"location,omitempty"`
	// Quote holds verbatim lines (log lines, config lines, server replies).
	Quote []string `json:"quote,omitempty"`
}

// Step is one fix step for this host: what to do, why, and which checks confirm it.
type Step struct {
	// Title is the imperative one-liner ("Add the intermediate to the agent's cert file").
	Title string `json:"title"`
	// Why explains the step in a sentence or two.
	Why string `json:"why,omitempty"`
	// Commands are shell commands for this host, with real paths and names.
	Commands []string `json:"commands,omitempty"`
	// File and Diff describe a config edit as a unified-diff fragment of File.
	File string `json:"file,omitempty"`
	Diff string `json:"diff,omitempty"`
	// Verify lists the check IDs whose passing confirms the step.
	Verify []string `json:"verify,omitempty"`
}

// Finding is the result of one check on this host.
type Finding struct {
	// ID is the check's stable kebab-case ID (a public contract).
	ID       string   `json:"id"`
	Category Category `json:"category"`
	Severity Severity `json:"severity"`
	// Title is the check's healthy condition ("agent certificate is within its validity period").
	Title string `json:"title"`
	// Summary is one line phrased for this host.
	Summary  string     `json:"summary"`
	Evidence []Evidence `json:"evidence,omitempty"`
	// Fix is the playbook, present on warn and fail.
	Fix []Step `json:"fix,omitempty"`
}

// Problem reports whether the finding needs action (warn or fail).
func (f Finding) Problem() bool { return f.Severity >= SeverityWarn }

// cleaned returns f with every string made safe to show (safetext.Clean): a finding quotes
// certificates, log lines, nginx's output and the user's own flags and files, any of which
// may hold key material or terminal control sequences. f's slices are not modified.
func (f Finding) cleaned() Finding {
	f.Title, f.Summary = safetext.Clean(f.Title), safetext.Clean(f.Summary)
	if f.Evidence != nil {
		ev := make([]Evidence, len(f.Evidence))
		for i, e := range f.Evidence {
			ev[i] = Evidence{Text: safetext.Clean(e.Text), Location: safetext.Clean(e.Location), Quote: cleanLines(e.Quote)}
		}
		f.Evidence = ev
	}
	if f.Fix != nil {
		steps := make([]Step, len(f.Fix))
		for i, st := range f.Fix {
			steps[i] = Step{Title: safetext.Clean(st.Title), Why: safetext.Clean(st.Why), Commands: cleanAll(st.Commands),
				File: safetext.Clean(st.File), Diff: safetext.Clean(st.Diff), Verify: st.Verify}
		}
		f.Fix = steps
	}
	return f
}

// cleanLines cleans consecutive lines (nginx's output, a log excerpt) as one stream, so
// that a private key nginx printed across lines is removed from each of them.
func cleanLines(ss []string) []string {
	if ss == nil {
		return nil
	}
	var secrets safetext.LineScrubber
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safetext.Escape(secrets.Scrub(s))
	}
	return out
}

func cleanAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = safetext.Clean(s)
	}
	return out
}

// Result is what a check's Evaluate returns; the engine completes it into a Finding.
type Result struct {
	Severity Severity
	Summary  string
	Evidence []Evidence
}

// OK, Info, Warn, Fail and Skip build Results; the summary is formatted like fmt.Sprintf.
func OK(format string, a ...any) Result   { return result(SeverityOK, format, a) }
func Info(format string, a ...any) Result { return result(SeverityInfo, format, a) }
func Warn(format string, a ...any) Result { return result(SeverityWarn, format, a) }
func Fail(format string, a ...any) Result { return result(SeverityFail, format, a) }
func Skip(format string, a ...any) Result { return result(SeveritySkip, format, a) }

func result(s Severity, format string, a []any) Result {
	summary := format
	if len(a) > 0 {
		summary = fmt.Sprintf(format, a...)
	}
	return Result{Severity: s, Summary: summary}
}

// With returns r with evidence appended.
func (r Result) With(ev ...Evidence) Result {
	r.Evidence = append(r.Evidence, ev...)
	return r
}

// Note is shorthand for an Evidence with text and an optional location.
func Note(location, format string, a ...any) Evidence {
	return Evidence{Text: fmt.Sprintf(format, a...), Location: location}
}

// Quoted is an Evidence with verbatim lines.
func Quoted(location, text string, lines ...string) Evidence {
	return Evidence{Text: text, Location: location, Quote: lines}
}

// joinNames joins up to max names with commas and says how many more there are.
func joinNames(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(" and %d more", len(names)-max)
}
