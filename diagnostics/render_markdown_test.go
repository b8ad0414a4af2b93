package diagnostics

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/charmbracelet/x/exp/golden"
)

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	opt := MarkdownOptions{Title: "demo: agent-cert-expired", Version: "1.2.3", Hostname: "agent-7",
		Args: []string{"--check", "-o", "markdown", "--logs", "/var/log/nginx/my error.log"}, Catalog: DefaultCatalog()}
	if err := WriteMarkdown(&b, renderReport(t), opt); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# mtls-doctor report: FAIL",
		"| mtls-doctor | 1.2.3 |",
		"| Host | agent-7 |",
		"`mtls-doctor --check -o markdown --logs '/var/log/nginx/my error.log'`",
		"### FAIL `agent-cert-expired`",
		"**Why.** ", // from the catalog
		"```sh\n   openssl x509 -req",
		"| skip | `agent-skip-verify` | skipped: TLS is off |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The test certificates' keys are random, so are their fingerprints.
	golden.RequireEqual(t, fingerprintRE.ReplaceAll(b.Bytes(), []byte("SHA-256 <fingerprint>")))
}

var fingerprintRE = regexp.MustCompile(`SHA-256 [0-9a-f]{64}`)

// A problem names its subject when it is not the agent link, and its cause.
func TestWriteMarkdownSubjectAndCause(t *testing.T) {
	r := renderReport(t)
	i := slices.IndexFunc(r.Findings, func(f Finding) bool { return f.Problem() })
	r.Findings[i].Subject = Subject{Kind: SubjectNginxServer, Name: "/etc/nginx/conf.d/agents.conf:3"}
	r.Findings[i].Cause = Cause{Code: CauseUntrusted, OpenSSL: 20, Alert: 48}
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r, MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"On nginx-server `/etc/nginx/conf.d/agents.conf:3`.", "**Cause.** `untrusted` (OpenSSL verify error 20, TLS alert 48)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A report never carries key material or tokens, even when evidence quotes them, and a
// quote cannot drive the terminal the report is printed on nor close its code block.
func TestWriteMarkdownScrubs(t *testing.T) {
	r := renderReport(t)
	r.Findings[2].Evidence = append(r.Findings[2].Evidence, Quoted("/etc/nginx-agent/nginx-agent.conf", "the agent's settings",
		"-----BEGIN PRIVATE KEY-----", "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg", "-----END PRIVATE KEY-----",
		"  token: s3cr3t-t0ken", "Authorization: Bearer eyJhbGciOi.payload.sig",
		"\x1b]52;c;ZWNobyBwd25lZA==\x07 title", "``` closed?"))
	var b bytes.Buffer
	opt := MarkdownOptions{Args: []string{"--check", "--token", "hunter2", "--api-key=abc123"}}
	if err := WriteMarkdown(&b, r, opt); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"MIGHAgEAMBMG", "s3cr3t-t0ken", "eyJhbGciOi", "hunter2", "abc123", "\x1b", "\x07"} {
		if strings.Contains(out, secret) {
			t.Errorf("report contains %q", secret)
		}
	}
	for _, want := range []string{"[private key removed]", "token: [redacted]", "--token [redacted] --api-key=[redacted]", "````"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestWriteMarkdownRedact(t *testing.T) {
	r := renderReport(t)
	r.Findings[2].Evidence = append(r.Findings[2].Evidence, Note("", "dialled 192.0.2.10:443 and [2001:db8::5]:443 for nim.example.com"))
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r, MarkdownOptions{Redact: true, Hostname: "agent-7.corp"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, name := range []string{"nim.example.com", "agent.example.com", "agent-7.corp", "192.0.2.10", "2001:db8::5"} {
		if strings.Contains(out, name) {
			t.Errorf("redacted report names %q", name)
		}
	}
	for _, want := range []string{"host-1", "ip-1", "ip-2"} {
		if !strings.Contains(out, want) {
			t.Errorf("redacted report lacks the placeholder %q", want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "mtls-doctor"},
		{[]string{"--check", "--server", "nim:443"}, "mtls-doctor --check --server nim:443"},
		{[]string{"--cert", "it's.pem"}, `mtls-doctor --cert 'it'\''s.pem'`},
		{[]string{"--password", "x", "--check"}, "mtls-doctor --password [redacted] --check"},
		{[]string{"--logs", "token=abc"}, "mtls-doctor --logs token=[redacted]"},
		{[]string{"--since="}, "mtls-doctor --since="},
	} {
		if got := CommandLine(tc.args); got != tc.want {
			t.Errorf("CommandLine(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// FuzzWriteMarkdown feeds arbitrary evidence, titles and arguments through the renderer:
// it must not fail, and its output must carry no control characters (a report printed to
// a terminal cannot drive it) and none of a private key block's body.
func FuzzWriteMarkdown(f *testing.F) {
	f.Add("2026/11/22 09:59:58 [info] verify error", "--token", "x", "CN=a|b`c")
	f.Add("\x1b]52;c;AAAA\x07", "--api-key=1", "", "```")
	f.Add("-----BEGIN EC PRIVATE KEY-----\nSECRETBODY\n-----END EC PRIVATE KEY-----", "", "", "\u2028")
	f.Fuzz(func(t *testing.T, quote, arg1, arg2, summary string) {
		r := &Report{Findings: []Finding{{ID: "agent-cert-expired", Category: CategoryAgentCert, Severity: SeverityFail,
			Title: "t", Summary: summary, Evidence: []Evidence{Quoted("f", summary, strings.Split(quote, "\n")...)},
			Fix: []Step{{Title: summary, Commands: []string{quote}, File: "f", Diff: quote}}}}}
		var b bytes.Buffer
		if err := WriteMarkdown(&b, r, MarkdownOptions{Args: []string{arg1, arg2}, Title: summary, Redact: true}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && r != '\t' && unicode.IsControl(r) }); i >= 0 {
			t.Fatalf("control character %q in the report", out[i:i+1])
		}
		if strings.Contains(quote, "-----BEGIN EC PRIVATE KEY-----\nSECRETBODY") && strings.Contains(out, "SECRETBODY") {
			t.Fatal("private key body in the report")
		}
	})
}
