package tui

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// reportDoneMsg says where a report was written, or why it was not.
type reportDoneMsg struct {
	path string
	err  error
}

// exportCmd renders the report now (the findings change under a later Update) with the
// same Markdown renderer as `--check -o markdown`, and writes it in a command.
func (m Model) exportCmd() tea.Cmd {
	if len(m.findings) == 0 {
		return func() tea.Msg { return reportDoneMsg{err: errors.New("nothing has been checked yet")} }
	}
	text := m.markdownReport()
	name := reportName(m.opts.Hostname, m.report(), m.opts.Redact)
	dir, stamp := m.opts.ReportDir, m.clock()
	return func() tea.Msg {
		if stamp.IsZero() {
			stamp = time.Now()
		}
		path, err := writeReport(dir, name+"-"+stamp.UTC().Format("20060102-150405"), []byte(text))
		return reportDoneMsg{path: path, err: err}
	}
}

// report is the latest findings, in catalog order, over the last run's facts.
func (m Model) report() *diagnostics.Report {
	return &diagnostics.Report{Findings: m.sortedFindings(), Facts: m.facts}
}

// markdownReport is the report `e` writes: the same Markdown as --check -o markdown.
func (m Model) markdownReport() string {
	var text strings.Builder // writing to a Builder cannot fail
	_ = diagnostics.WriteMarkdown(&text, m.report(), diagnostics.MarkdownOptions{
		Title: m.opts.Title, Version: m.opts.Version, Args: m.opts.Args, Hostname: m.opts.Hostname,
		Catalog: m.engine.Catalog, Redact: m.opts.Redact,
	})
	return text.String()
}

var unsafeNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._-]+`) })

// reportName is the start of a report's file name: the host and the first failure (or
// "ok"), so a directory of reports reads as a list of incidents. A redacted report's name
// does not give the host away.
func reportName(host string, r *diagnostics.Report, redact bool) string {
	if redact || host == "" {
		host = "host"
	}
	finding := "ok"
	for _, sev := range []diagnostics.Severity{diagnostics.SeverityFail, diagnostics.SeverityWarn} {
		if i := slices.IndexFunc(r.Findings, func(f diagnostics.Finding) bool { return f.Severity == sev }); i >= 0 {
			finding = r.Findings[i].ID
			break
		}
	}
	host = strings.Trim(unsafeNameRE().ReplaceAllString(host, "_"), "._")
	return "mtls-doctor-" + cmp.Or(host, "host") + "-" + unsafeNameRE().ReplaceAllString(finding, "_")
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

// writeReport writes text to a new file base.md in dir (base-2.md … when taken), readable
// by the owner only, never overwriting an earlier report.
func writeReport(dir, base string, text []byte) (string, error) {
	if dir == "" {
		dir = "."
	}
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
		_, err = f.Write(text)
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
