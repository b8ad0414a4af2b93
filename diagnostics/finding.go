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
	CategoryUpstream    Category = "upstream"     // NGINX as the TLS client of its upstreams (proxy_ssl_*, grpc_ssl_*)
	CategoryLogs        Category = "logs"         // what NGINX and the agent logged
	CategoryMesh        Category = "mesh"         // NGINX Service Mesh: SPIRE's upstream CA, mTLS settings, annotations
)

// Categories is the display order of categories.
var Categories = []Category{
	CategoryAgentConfig, CategoryAgentFiles, CategoryAgentCert, CategoryNetwork,
	CategoryServerCert, CategoryClientAuth, CategoryGRPC, CategoryManager, CategoryUpstream, CategoryLogs, CategoryMesh,
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
	// Host is where the commands run: HostAgent, HostManager, HostUpstream, HostCluster, or ""
	// for the host judged.
	Host Host `json:"host,omitempty"`
	// Changes lists the files the commands write, so an apply can back them up first.
	Changes []string `json:"changes,omitempty"`
	// Inputs are the placeholders in Commands that only the user can fill (the CA's key,
	// a host name, a password), written literally in the commands.
	Inputs []Input `json:"inputs,omitempty"`
	// Manual says why the step cannot be run as it is shown; empty when it can.
	Manual string `json:"manual,omitempty"`
}

// Host names the machine a step runs on.
type Host string

const (
	// HostAgent is the machine the NGINX Agent runs on.
	HostAgent Host = "agent"
	// HostManager is the machine whose NGINX serves the agents (the management plane).
	HostManager Host = "manager"
	// HostUpstream is the machine that serves an upstream NGINX proxies to: its
	// certificate, its service, its allow-list and its log are there.
	HostUpstream Host = "upstream"
	// HostCluster is where the mesh is administered: a machine with kubectl, helm and
	// nginx-meshctl that reach the cluster, and the files they are given.
	HostCluster Host = "cluster"
)

// Place words where a step runs, after "runs": "on the agent host", "where the cluster is
// administered (…)".
func (h Host) Place() string {
	if h == HostCluster {
		return "where the cluster is administered (kubectl, helm, nginx-meshctl)"
	}
	return "on the " + string(h) + " host"
}

// Input is a placeholder a step's commands hold until the user fills it.
type Input struct {
	// Name is the placeholder as written in the commands, in angle brackets ("<ca-key-path>").
	Name string `json:"name"`
	// Prompt says what to put there ("path of the private key of the CA that issues agents").
	Prompt string `json:"prompt"`
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
	// Subject is what was judged (an agent link, a server block, an upstream link …).
	Subject Subject `json:"subject,omitzero"`
	// Cause is the machine-readable reason of a warning or failure.
	Cause Cause `json:"cause,omitzero"`
}

// Problem reports whether the finding needs action (warn or fail).
func (f Finding) Problem() bool { return f.Severity >= SeverityWarn }

// cleaned returns f with every string made safe to show (safetext.Clean): a finding quotes
// certificates, log lines, nginx's output and the user's own flags and files, any of which
// may hold key material or terminal control sequences. f's slices are not modified.
func (f Finding) cleaned() Finding {
	f.Title, f.Summary = safetext.Clean(f.Title), safetext.Clean(f.Summary)
	f.Subject.Name, f.Cause.Code = safetext.Clean(f.Subject.Name), safetext.Clean(f.Cause.Code)
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
				File: safetext.Clean(st.File), Diff: safetext.Clean(st.Diff), Verify: st.Verify,
				Host: st.Host, Changes: cleanAll(st.Changes), Inputs: cleanInputs(st.Inputs), Manual: safetext.Clean(st.Manual)}
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

func cleanInputs(in []Input) []Input {
	if in == nil {
		return nil
	}
	out := make([]Input, len(in))
	for i, x := range in {
		out[i] = Input{Name: safetext.Clean(x.Name), Prompt: safetext.Clean(x.Prompt)}
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
	// Cause is why the check warned or failed, for Fix and tests (the summary is prose).
	Cause Cause
	// Subject is what was judged; zero means the engine's default for the check's category
	// (defaultSubject).
	Subject Subject

	// sides records which halves of a two-sided check warned or failed (bothSides), so
	// that its Fix gives each side's playbook without evaluating again.
	sides problemSides
	// agentHalf and managerHalf are the halves' own results (bothSides), so that each
	// half's Fix switches on its own Cause and Subject.
	agentHalf, managerHalf *Result
}

// Cause is the machine-readable reason behind a warning or a failure, as crypto/x509's
// CertificateInvalidError carries a Reason: Fix functions and tests switch on it, never
// on the summary's words.
type Cause struct {
	// Code names the reason in kebab-case, stable within its check ("expired",
	// "unknown-ca", "ip-only-san"); empty when the check has a single reason.
	Code string `json:"code,omitempty"`
	// OpenSSL is the X509_V_ERR_* number of the verdict that names the reason
	// (openssl/x509_vfy.h), 0 when none does.
	OpenSSL int `json:"openssl_verify_error,omitzero"`
	// Alert is the TLS alert description the peer sent (RFC 8446 §6.2: 42
	// bad_certificate, 48 unknown_ca, 116 certificate_required …), 0 when none was
	// (close_notify is never a cause).
	Alert int `json:"tls_alert,omitzero"`
}

// IsZero reports whether no cause is recorded.
func (c Cause) IsZero() bool { return c == Cause{} }

// SubjectKind names what kind of thing a finding judges.
type SubjectKind string

const (
	// SubjectAgentLink is an NGINX Agent's connection to its management plane.
	SubjectAgentLink SubjectKind = "agent-link"
	// SubjectNginxServer is an NGINX server block that serves agents.
	SubjectNginxServer SubjectKind = "nginx-server"
	// SubjectServedCert is a certificate NGINX presents.
	SubjectServedCert SubjectKind = "served-cert"
	// SubjectUpstreamLink is NGINX presenting a client certificate to an upstream.
	SubjectUpstreamLink SubjectKind = "upstream-link"
	// SubjectMeshCA is NGINX Service Mesh's upstream certificate authority (SPIRE).
	SubjectMeshCA SubjectKind = "mesh-ca"
	// SubjectMesh is NGINX Service Mesh's mTLS settings and annotations.
	SubjectMesh SubjectKind = "mesh"
	// SubjectLogs is what the logs say when no link can be named.
	SubjectLogs SubjectKind = "logs"
)

// Subject is the thing a finding judges: one agent link, one server block, one upstream
// link, one CA. Name is how a user would point at it ("nginx-agent → nim.example.com:443",
// "front.conf:12 → 10.0.0.5:8443").
type Subject struct {
	Kind SubjectKind `json:"kind"`
	Name string      `json:"name,omitempty"`
}

// IsZero reports whether no subject is recorded.
func (s Subject) IsZero() bool { return s == Subject{} }

// String is "kind name", or the kind alone.
func (s Subject) String() string {
	if s.Name == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + " " + s.Name
}

// problemSides is a set of the halves of a two-sided check that warned or failed.
type problemSides uint8

const (
	agentSideProblem problemSides = 1 << iota
	managerSideProblem
)

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

// Because returns r with cause code set (see Cause.Code).
func (r Result) Because(code string) Result {
	r.Cause.Code = code
	return r
}

// WithCause returns r with cause c (a code with the OpenSSL error or TLS alert behind it).
func (r Result) WithCause(c Cause) Result {
	r.Cause = c
	return r
}

// About returns r judging subject s.
func (r Result) About(s Subject) Result {
	r.Subject = s
	return r
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
