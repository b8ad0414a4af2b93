package diagnostics

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// MarkdownOptions say where a Markdown report came from and how much it may show.
type MarkdownOptions struct {
	// Title is a line under the heading ("demo: agent-cert-expired", the host's name).
	Title string
	// Version is the mtls-doctor version that ran the checks.
	Version string
	// Args is the command line that ran them (without the program name); values of
	// secret-bearing flags are masked before it is shown.
	Args []string
	// Hostname is the machine the checks ran on.
	Hostname string
	// Catalog supplies each problem's "why"; nil leaves it out.
	Catalog Catalog
	// Redact masks host names and IP addresses (see HostNames and RedactHosts).
	Redact bool
}

// WriteMarkdown renders a report for a ticket: where and how it was made, the problems with
// evidence and fix steps, the certificates, the logs read, and every check. Private key
// blocks and token values never appear, whatever the evidence quoted, and terminal controls
// from files and logs are shown escaped (safetext.Clean over the whole text, so nothing
// assembled here slips past it); with opt.Redact host names and addresses are masked too.
func WriteMarkdown(w io.Writer, r *Report, opt MarkdownOptions) error {
	text := safetext.Clean(markdown(r, opt))
	if opt.Redact {
		names := HostNames(r.Facts)
		if opt.Hostname != "" {
			names = append(names, opt.Hostname)
		}
		text = RedactHosts(text, names)
	}
	_, err := io.WriteString(w, text)
	return err
}

// StatusWord is the report's verdict in capitals: OK, WARNING or FAIL.
func StatusWord(s Severity) string {
	switch s {
	case SeverityFail:
		return "FAIL"
	case SeverityWarn:
		return "WARNING"
	}
	return "OK"
}

func markdown(r *Report, opt MarkdownOptions) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	n := counts(r)
	p("# mtls-doctor report: %s\n\n", StatusWord(r.Status()))
	if opt.Title != "" {
		p("%s\n\n", mdText(opt.Title))
	}
	p("**%s**: %d failed, %s, %d passed, %d skipped.\n\n", StatusWord(r.Status()), n[SeverityFail],
		Plural(n[SeverityWarn], "warning"), n[SeverityOK]+n[SeverityInfo], n[SeveritySkip])

	p("| | |\n|---|---|\n")
	if opt.Hostname != "" {
		p("| Host | %s |\n", mdCell(opt.Hostname))
	}
	if r.Facts != nil && !r.Facts.Now.IsZero() {
		p("| Checked | %s |\n", r.Facts.Now.UTC().Format(timeLayout))
	}
	p("| mtls-doctor | %s |\n", mdCell(cmp.Or(opt.Version, "unknown")))
	if opt.Args != nil {
		p("| Command | %s |\n", mdCellCode(CommandLine(opt.Args)))
	}
	p("\n")

	writeTargetMarkdown(&b, r.Facts)
	writeProblemsMarkdown(&b, r, opt.Catalog)
	writeCertsMarkdown(&b, r.Facts)
	writeLogsMarkdown(&b, r.Facts)

	p("## All checks\n\n| status | check | result |\n|---|---|---|\n")
	for _, f := range r.Findings {
		p("| %s | %s | %s |\n", f.Severity, mdCellCode(f.ID), mdCell(cmp.Or(f.Summary, f.Title)))
	}
	return b.String()
}

func writeTargetMarkdown(b *strings.Builder, f *Facts) {
	if f == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## What was checked\n\n")
	if a := f.Agent; a != nil {
		switch {
		case a.Path == "" && len(a.Searched) > 0:
			p("- **Agent config** none found (searched %s)\n", mdCodes(a.Searched))
		case a.Path != "":
			cfg := mdCode(a.Path)
			if a.DynamicPath != "" {
				cfg += " + " + mdCode(a.DynamicPath)
			}
			p("- **Agent config** %s (format %s)\n", cfg, mdText(cmp.Or(string(a.Format), "not recognised")))
		}
		if addr := a.Address(); addr != "" {
			p("- **Endpoint** %s", mdCode(addr))
			if a.TLSEnabled.Value != "true" {
				p(" (plain text, no TLS)")
			}
			p("\n")
		}
		if a.ServerName.Value != "" {
			p("- **SNI** %s\n", mdCode(a.ServerName.Value))
		}
		for _, s := range []struct{ name, value string }{{"Cert", a.Cert.Value}, {"Key", a.Key.Value}, {"CA", a.CA.Value}} {
			if s.value != "" {
				p("- **%s** %s\n", s.name, mdCode(s.value))
			}
		}
	}
	if ep := f.Endpoint; ep != nil && ep.Path != "" {
		p("- **gRPC path** %s\n", mdCode(ep.Path))
	}
	if ng := f.Nginx; ng.Manager() {
		p("- **NGINX config** %s\n", mdCode(ng.Main))
	}
	if reason := f.Errors[FactAgentConfig]; f.Agent == nil && reason != "" {
		p("- **Agent config** not read: %s\n", mdText(reason))
	}
	p("\n")
}

func writeProblemsMarkdown(b *strings.Builder, r *Report, catalog Catalog) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	var problems []Finding
	for _, sev := range []Severity{SeverityFail, SeverityWarn} {
		for _, f := range r.Findings {
			if f.Severity == sev {
				problems = append(problems, f)
			}
		}
	}
	if len(problems) == 0 {
		return
	}
	p("## Problems\n\n")
	for _, f := range problems {
		p("### %s %s\n\n%s\n\n", strings.ToUpper(f.Severity.String()), mdCode(f.ID), mdText(f.Summary))
		if f.Subject.Kind != SubjectAgentLink && f.Subject.Name != "" {
			// Which link, server or mesh the finding judged: one report may name several.
			p("On %s %s.\n\n", mdText(string(f.Subject.Kind)), mdCode(f.Subject.Name))
		}
		if f.Cause.Code != "" {
			p("**Cause.** %s%s\n\n", mdCode(f.Cause.Code), causeDetail(f.Cause))
		}
		if ch, ok := catalog.Lookup(f.ID); ok && ch.Why != "" {
			p("**Why.** %s\n\n", mdText(ch.Why))
		}
		if len(f.Evidence) > 0 {
			p("**Evidence**\n\n")
			for _, ev := range f.Evidence {
				p("- %s", mdText(ev.Text))
				if ev.Location != "" {
					p(" (%s)", mdCode(ev.Location))
				}
				p("\n")
				if len(ev.Quote) > 0 {
					writeFence(b, "  ", "", ev.Quote)
				}
			}
			p("\n")
		}
		if len(f.Fix) > 0 {
			p("**Fix**\n\n")
		}
		for i, st := range f.Fix {
			p("%d. %s\n", i+1, mdText(st.Title))
			if st.Why != "" {
				p("\n   %s\n", mdText(st.Why))
			}
			if len(st.Commands) > 0 {
				writeFence(b, "   ", "sh", st.Commands)
			}
			if st.Diff != "" {
				p("\n   In %s:\n", mdCode(st.File))
				writeFence(b, "   ", "diff", strings.Split(strings.TrimRight(st.Diff, "\n"), "\n"))
			}
			if len(st.Verify) > 0 {
				p("\n   Verified by: %s\n", mdCodes(st.Verify))
			}
			p("\n")
		}
	}
}

// writeFence writes lines as a fenced code block, with a fence longer than any run of
// backticks inside so a quoted line cannot close it.
func writeFence(b *strings.Builder, indent, lang string, lines []string) {
	fence := "```"
	for _, l := range lines {
		for strings.Contains(l, fence) {
			fence += "`"
		}
	}
	fmt.Fprintf(b, "\n%s%s%s\n", indent, fence, lang)
	for _, l := range lines {
		fmt.Fprintf(b, "%s%s\n", indent, l)
	}
	fmt.Fprintf(b, "%s%s\n", indent, fence)
}

func writeCertsMarkdown(b *strings.Builder, f *Facts) {
	if f == nil {
		return
	}
	lives := CertLives(f)
	if len(lives) == 0 {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Certificates\n\n")
	for _, l := range lives {
		c := l.Cert
		p("- **%s** %s\n", l.Role, mdText(l.Subject))
		p("  - issuer %s\n", mdText(c.Issuer.String()))
		p("  - valid %s to %s", stamp(c.NotBefore), stamp(c.NotAfter))
		if l.DaysLeft >= 0 {
			p(" (%s left)", Plural(l.DaysLeft, "day"))
		}
		p("\n")
		if sev, text := CertExpiry(c, f.Now, f.Thresholds); sev != SeverityOK {
			p("  - %s: %s\n", strings.ToUpper(sev.String()), mdText(text))
		}
		p("  - SANs %s; EKU %s; key %s\n", mdText(cmp.Or(strings.Join(SANs(c), ", "), "none")),
			cmp.Or(ekuList(c), "none"), KeyDescription(c.PublicKey))
		sum := sha256.Sum256(c.Raw)
		p("  - SHA-256 %s\n", hex.EncodeToString(sum[:]))
	}
	p("\n")
}

func writeLogsMarkdown(b *strings.Builder, f *Facts) {
	if f == nil {
		return
	}
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	lr := f.Logs
	if lr == nil {
		if reason := f.Errors[FactLogs]; reason != "" {
			p("## Logs\n\n%s\n\n", mdText(reason))
		}
		return
	}
	p("## Logs\n\n")
	if !lr.From.IsZero() {
		p("Window %s to %s.\n\n", stamp(lr.From), stamp(lr.To))
	}
	for _, fr := range lr.Files {
		if fr.Skipped != "" {
			p("- %s: not read: %s\n", mdCode(fr.Path), mdText(fr.Skipped))
			continue
		}
		p("- %s: %s in the window, %d classified\n", mdCode(fr.Path), Plural(fr.Lines, "line"), fr.Classified)
	}
	if len(lr.Summaries) > 0 {
		p("\n| event | source | count | last seen | detail |\n|---|---|---|---|---|\n")
		for _, s := range lr.Summaries {
			p("| %s | %s | %d | %s | %s |\n", mdCell(string(s.Kind)), mdCell(string(s.Source)), s.Count,
				s.LastSeen.UTC().Format(time.RFC3339), mdCell(cmp.Or(s.X509Text, s.Detail)))
		}
	}
	p("\n")
}

// mdText keeps text on one line (a newline would end a list item or a table row).
func mdText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdCell is text for a table cell: one line, pipes escaped.
func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

// mdCode is s as inline code, with a delimiter longer than any backtick run inside it.
func mdCode(s string) string {
	s = mdText(s)
	delim := "`"
	for strings.Contains(s, delim) {
		delim += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return delim + pad + s + pad + delim
}

// mdCellCode is s as inline code in a table cell, where GFM needs a pipe escaped even
// inside code.
func mdCellCode(s string) string { return strings.ReplaceAll(mdCode(s), "|", `\|`) }

func mdCodes(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = mdCode(s)
	}
	return strings.Join(out, ", ")
}

// causeDetail is the OpenSSL verify error and TLS alert behind a cause, for prose:
// " (OpenSSL verify error 10, TLS alert 42)"; "" when neither is known.
func causeDetail(c Cause) string {
	var parts []string
	if c.OpenSSL != 0 {
		parts = append(parts, fmt.Sprintf("OpenSSL verify error %d", c.OpenSSL))
	}
	if c.Alert != 0 {
		parts = append(parts, fmt.Sprintf("TLS alert %d", c.Alert))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
