package diagnostics

import (
	"fmt"
	"io"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// nagiosState maps a status to the Nagios plugin word; the exit code is the same number.
var nagiosState = map[Severity]string{SeverityOK: "OK", SeverityWarn: "WARNING", SeverityFail: "CRITICAL"}

// WriteNagios writes a Nagios/Icinga plugin result: one status line with perfdata
// (days left on each certificate, with the warn/crit thresholds), then one line per problem
// as long output. The caller exits with ExitCode(r).
func WriteNagios(w io.Writer, r *Report) error {
	status := r.Status()
	var problems []Finding
	for _, sev := range []Severity{SeverityFail, SeverityWarn} {
		for _, f := range r.Findings {
			if f.Severity == sev {
				problems = append(problems, f)
			}
		}
	}
	head := "all mTLS checks passed"
	if len(problems) > 0 {
		head = problems[0].ID + ": " + problems[0].Summary
		if len(problems) > 1 {
			head += fmt.Sprintf(" (+%d more)", len(problems)-1)
		}
	}
	n := counts(r)
	perf := []string{
		fmt.Sprintf("failures=%d;;1;0;", n[SeverityFail]),
		fmt.Sprintf("warnings=%d;1;;0;", n[SeverityWarn]),
	}
	if r.Facts != nil {
		// One label per role, with the role's soonest expiry: a label per certificate would
		// change with the number of CA certificates and break the graphs keyed on it.
		th := r.Facts.Thresholds
		var roles []string
		soonest := map[string]int{}
		for _, c := range CertLives(r.Facts) {
			if d, ok := soonest[c.Role]; !ok || c.DaysLeft < d {
				if !ok {
					roles = append(roles, c.Role)
				}
				soonest[c.Role] = c.DaysLeft
			}
		}
		for _, role := range roles {
			perf = append(perf, fmt.Sprintf("%s_cert_days=%d;%d:;%d:;;", role, soonest[role], th.WarnDays, th.CritDays))
		}
	}
	// '|' separates perfdata in the plugin protocol, so it must not appear in the text, and
	// the status line is one line.
	head = nagiosText(head)
	_, err := fmt.Fprintf(w, "MTLS-DOCTOR %s - %s | %s\n", nagiosState[status], head, strings.Join(perf, " "))
	for _, f := range problems {
		if err == nil {
			_, err = fmt.Fprintf(w, "%s %s: %s\n", strings.ToUpper(f.Severity.String()), f.ID,
				nagiosText(f.Summary))
		}
	}
	return err
}

// nagiosText is s on one line without the plugin protocol's perfdata separator.
func nagiosText(s string) string {
	return strings.ReplaceAll(safetext.CleanLine(s), "|", "/")
}

// promSeverity is the numeric value of a finding in the Prometheus output.
var promSeverity = map[Severity]int{SeverityOK: 0, SeverityInfo: 0, SeverityWarn: 1, SeverityFail: 2}

// WritePrometheus writes the report in the Prometheus text exposition format, for the
// node_exporter textfile collector: a gauge per finding (0 ok, 1 warn, 2 fail; skipped
// checks are left out), the overall status, and days left on each certificate.
func WritePrometheus(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("# HELP mtls_doctor_status Overall result: 0 ok, 1 warning, 2 failure.\n")
	b.WriteString("# TYPE mtls_doctor_status gauge\n")
	fmt.Fprintf(&b, "mtls_doctor_status %d\n", promSeverity[r.Status()])
	b.WriteString("# HELP mtls_doctor_finding Result of one check: 0 ok, 1 warning, 2 failure.\n")
	b.WriteString("# TYPE mtls_doctor_finding gauge\n")
	for _, f := range r.Findings {
		if f.Severity == SeveritySkip {
			continue
		}
		fmt.Fprintf(&b, "mtls_doctor_finding{id=%q,category=%q} %d\n", f.ID, string(f.Category), promSeverity[f.Severity])
	}
	if r.Facts != nil {
		lives := CertLives(r.Facts)
		if len(lives) > 0 {
			b.WriteString("# HELP mtls_doctor_cert_days_left Whole days until the certificate expires (negative once expired).\n")
			b.WriteString("# TYPE mtls_doctor_cert_days_left gauge\n")
			for _, c := range lives {
				fmt.Fprintf(&b, "mtls_doctor_cert_days_left{role=%q,subject=%q} %d\n", c.Role, promEscape(c.Subject), c.DaysLeft)
			}
			b.WriteString("# HELP mtls_doctor_cert_not_after_seconds Expiry of the certificate as a Unix time.\n")
			b.WriteString("# TYPE mtls_doctor_cert_not_after_seconds gauge\n")
			for _, c := range lives {
				fmt.Fprintf(&b, "mtls_doctor_cert_not_after_seconds{role=%q,subject=%q} %d\n", c.Role, promEscape(c.Subject), c.NotAfter.Unix())
			}
		}
		b.WriteString("# HELP mtls_doctor_last_run_timestamp_seconds When the checks ran.\n")
		b.WriteString("# TYPE mtls_doctor_last_run_timestamp_seconds gauge\n")
		fmt.Fprintf(&b, "mtls_doctor_last_run_timestamp_seconds %d\n", r.Facts.Now.Unix())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// promEscape keeps label values within what %q produces and Prometheus accepts: Go's %q
// may emit \x.. or \u.... escapes, which the exposition format does not know, so control
// characters are first written out as text (safetext.EscapeLine), which %q then quotes.
func promEscape(s string) string {
	return safetext.CleanLine(s)
}

// ExitCode is the Nagios-style exit code of a report: 0 ok, 1 warnings only, 2 any failure.
// (3, "could not run", is decided by the caller.)
func ExitCode(r *Report) int {
	return promSeverity[r.Status()]
}
