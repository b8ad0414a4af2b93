package tui

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// reportDoneMsg says where a report was written, or why it was not.
type reportDoneMsg struct {
	path string
	err  error
}

// exportCmd renders the report now (the findings change under a later Update) and writes
// it in a command.
func (m Model) exportCmd() tea.Cmd {
	if len(m.findings) == 0 {
		return func() tea.Msg { return reportDoneMsg{err: errors.New("nothing has been checked yet")} }
	}
	text := m.markdownReport()
	names := m.hostNames()
	redact, dir := m.opts.Redact, m.opts.ReportDir
	stamp := m.clock()
	return func() tea.Msg {
		if redact {
			if h, err := os.Hostname(); err == nil {
				names = append(names, h)
			}
			text = redactHosts(text, names)
		}
		if stamp.IsZero() {
			stamp = time.Now()
		}
		path, err := writeReport(dir, stamp, text)
		return reportDoneMsg{path: path, err: err}
	}
}

// writeReport writes text to a new file named after stamp in dir, readable by the owner
// only, never overwriting an earlier report.
func writeReport(dir string, stamp time.Time, text string) (string, error) {
	if dir == "" {
		dir = "."
	}
	base := "mtls-doctor-report-" + stamp.UTC().Format("20060102-150405")
	for i := 1; i < 100; i++ {
		name := base + ".md"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.md", base, i)
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", err
		}
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return path, nil
	}
	return "", fmt.Errorf("too many reports named %s-*.md in %s", base, dir)
}

// markdownReport renders host facts, problems with evidence and steps, certificates and
// every check, for pasting into a ticket. Secrets and control sequences are removed from
// the whole text (safetext.Clean).
func (m Model) markdownReport() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# mtls-doctor report\n\n")
	if m.opts.Title != "" {
		p("%s\n\n", m.opts.Title)
	}
	findings := m.sortedFindings()
	n := m.counts()
	status := "OK"
	switch {
	case n[diagnostics.SeverityFail] > 0:
		status = "FAIL"
	case n[diagnostics.SeverityWarn] > 0:
		status = "WARNING"
	}
	if now := m.clock(); !now.IsZero() {
		p("Checked %s. ", now.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	p("**%s**: %d failed, %s, %d passed, %d skipped.\n\n", status, n[diagnostics.SeverityFail],
		diagnostics.Plural(n[diagnostics.SeverityWarn], "warning"), n[diagnostics.SeverityOK]+n[diagnostics.SeverityInfo], n[diagnostics.SeveritySkip])

	p("## Host\n\n")
	for _, l := range m.hostLines(1 << 20) {
		if f := strings.Fields(stripANSI(l)); len(f) > 0 {
			p("- **%s** %s\n", f[0], strings.Join(f[1:], " "))
		}
	}
	if m.host.endpoint != nil && m.host.endpoint.Path != "" {
		p("- **gRPC path** `%s`\n", m.host.endpoint.Path)
	}
	p("\n")

	var problems []diagnostics.Finding
	for _, f := range findings {
		if f.Problem() {
			problems = append(problems, f)
		}
	}
	if len(problems) > 0 {
		p("## Problems\n\n")
	}
	for _, f := range problems {
		ch, _ := m.check(f.ID)
		p("### %s `%s`\n\n%s\n\n", strings.ToUpper(f.Severity.String()), f.ID, f.Summary)
		if ch.Why != "" {
			p("**Why.** %s\n\n", ch.Why)
		}
		if len(f.Evidence) > 0 {
			p("**Evidence**\n\n")
			for _, ev := range f.Evidence {
				p("- %s", ev.Text)
				if ev.Location != "" {
					p(" (`%s`)", ev.Location)
				}
				p("\n")
				if len(ev.Quote) > 0 {
					p("\n  ```\n")
					for _, q := range ev.Quote {
						p("  %s\n", q)
					}
					p("  ```\n")
				}
			}
			p("\n")
		}
		if len(f.Fix) > 0 {
			p("**Fix**\n\n")
			for i, st := range f.Fix {
				p("%d. %s\n", i+1, st.Title)
				if st.Why != "" {
					p("\n   %s\n", st.Why)
				}
				if len(st.Commands) > 0 {
					p("\n   ```sh\n")
					for _, c := range st.Commands {
						p("   %s\n", c)
					}
					p("   ```\n")
				}
				if st.Diff != "" {
					p("\n   In `%s`:\n\n   ```diff\n", st.File)
					for _, l := range strings.Split(strings.TrimRight(st.Diff, "\n"), "\n") {
						p("   %s\n", l)
					}
					p("   ```\n")
				}
				if len(st.Verify) > 0 {
					p("\n   Verified by: %s\n", strings.Join(st.Verify, ", "))
				}
				p("\n")
			}
		}
	}

	p("## Certificates\n\n")
	for gi, g := range m.certGroups() {
		p("### %s\n\n", g.title)
		if g.source != "" {
			p("Source: `%s`\n\n", g.source)
		}
		if g.note != "" {
			p("%s\n\n", g.note)
		}
		role := [...]certRole{roleAgent, roleServer, roleCA}[gi]
		for _, chain := range g.chains {
			for depth, nd := range chain {
				ind := strings.Repeat("  ", depth)
				if nd.cert == nil {
					p("%s- **missing:** %s\n", ind, nd.gap)
					continue
				}
				c := nd.cert
				sum := sha256.Sum256(c.Raw)
				p("%s- **%s**", ind, dnString(c.Subject.String()))
				if nd.where != "" {
					p(" (%s)", nd.where)
				}
				p("\n%s  issuer %s; valid %s to %s", ind, dnString(c.Issuer.String()),
					c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02"))
				if now := m.clock(); !now.IsZero() {
					p(" (%d days left)", diagnostics.DaysLeft(c, now))
				}
				p("\n%s  SANs %s; %s; %s\n", ind, cmp.Or(strings.Join(sanList(c), ", "), "none"), usageText(c), diagnostics.KeyDescription(c.PublicKey))
				p("%s  SHA-256 %s\n", ind, hex.EncodeToString(sum[:]))
				for _, pr := range m.problems(c, role, depth == 0) {
					p("%s  - %s: %s\n", ind, strings.ToUpper(pr.sev.String()), pr.text)
				}
			}
		}
		p("\n")
	}

	p("## All checks\n\n| status | check | result |\n|---|---|---|\n")
	for _, f := range findings {
		text := f.Summary
		if f.Severity == diagnostics.SeverityOK && text == "" {
			text = f.Title
		}
		p("| %s | `%s` | %s |\n", f.Severity, f.ID, strings.ReplaceAll(text, "|", `\|`))
	}
	return safetext.Clean(b.String())
}

// sortedFindings are the latest findings in catalog order.
func (m Model) sortedFindings() []diagnostics.Finding {
	out := make([]diagnostics.Finding, 0, len(m.findings))
	for _, f := range m.findings {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b diagnostics.Finding) int {
		ia, oka := m.index[a.ID]
		ib, okb := m.index[b.ID]
		if oka && okb {
			return cmp.Compare(ia, ib)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;:]*[A-Za-z]`)

func stripANSI(s string) string { return ansiRE.ReplaceAllString(s, "") }

// hostNames are the host names and addresses the facts mention, for --redact.
func (m Model) hostNames() []string {
	var names []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.Trim(s, "[]"); s != "" {
				names = append(names, s)
			}
		}
	}
	if a := m.host.agent; a != nil {
		add(a.Host.Value, a.ServerName.Value)
	}
	if ep := m.host.endpoint; ep != nil {
		if h, _, err := net.SplitHostPort(ep.Address); err == nil {
			add(h)
		}
		if h, _, err := net.SplitHostPort(ep.TCPAddr); err == nil {
			add(h)
		}
		add(ep.ServerName, ep.VerifyName, ep.Authority)
		add(ep.DNSAddrs...)
	}
	for _, g := range m.certGroups() {
		for _, chain := range g.chains {
			for _, n := range chain {
				if n.cert == nil {
					continue
				}
				add(n.cert.DNSNames...)
				for _, ip := range n.cert.IPAddresses {
					add(ip.String())
				}
				if cn := n.cert.Subject.CommonName; strings.Contains(cn, ".") {
					add(cn)
				}
			}
		}
	}
	return names
}

var (
	ipv4RE = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	ipv6RE = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(%[0-9A-Za-z]+)?`)
)

// redactHosts replaces each name with a stable placeholder (host-1, host-2 …) and every
// IP address with ip-1, ip-2 …, so a report can be shared without naming the network.
func redactHosts(s string, names []string) string {
	ips := map[string]string{}
	ipRepl := func(v string) string {
		if net.ParseIP(strings.SplitN(v, "%", 2)[0]) == nil {
			return v
		}
		if r, ok := ips[v]; ok {
			return r
		}
		ips[v] = fmt.Sprintf("ip-%d", len(ips)+1)
		return ips[v]
	}
	var hosts []string
	for _, n := range names {
		if net.ParseIP(n) == nil && !slices.Contains(hosts, n) {
			hosts = append(hosts, n)
		}
	}
	if len(hosts) > 0 {
		// Longest first (RE2 alternation is leftmost-first), so a.example.com is not
		// half-replaced by example.com; \b keeps "nim" from matching inside "animal".
		slices.SortStableFunc(hosts, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
		quoted := make([]string, len(hosts))
		for i, h := range hosts {
			quoted[i] = regexp.QuoteMeta(h)
		}
		re := regexp.MustCompile(`(?i)\b(` + strings.Join(quoted, "|") + `)\b`)
		seen := map[string]string{}
		s = re.ReplaceAllStringFunc(s, func(v string) string {
			k := strings.ToLower(v)
			if r, ok := seen[k]; ok {
				return r
			}
			seen[k] = fmt.Sprintf("host-%d", len(seen)+1)
			return seen[k]
		})
	}
	s = ipv6RE.ReplaceAllStringFunc(s, ipRepl)
	return ipv4RE.ReplaceAllStringFunc(s, ipRepl)
}
