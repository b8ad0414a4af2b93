package diagnostics

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// TestDaysLeftTowardNow pins the one day-count rule every output uses: whole days counted
// toward now, and never 0 once expired.
func TestDaysLeftTowardNow(t *testing.T) {
	now := renderNow
	for _, c := range []struct {
		left time.Duration
		want int
	}{
		{47 * time.Hour, 1}, {24 * time.Hour, 1}, {23 * time.Hour, 0}, {0, 0},
		{-time.Hour, -1}, {-24 * time.Hour, -1}, {-24*time.Hour - 3*time.Second, -1},
		{-47 * time.Hour, -1}, {-48 * time.Hour, -2}, {-400 * day, -400},
	} {
		cert := &x509.Certificate{NotAfter: now.Add(c.left)}
		if got := DaysLeft(cert, now); got != c.want {
			t.Errorf("DaysLeft with %s left = %d, want %d", c.left, got, c.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "less than a minute", 59 * time.Second: "less than a minute", time.Minute: "1 minute",
		90 * time.Minute: "1 hour", 2 * time.Hour: "2 hours", 24 * time.Hour: "1 day",
		24*time.Hour + 3*time.Second: "1 day", 47 * time.Hour: "1 day", -72 * time.Hour: "3 days",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestCertExpiryAgreesWithDaysLeft: the words and the number say the same day count for a
// certificate that expired a day and three seconds ago (the demo's expired certificate).
func TestCertExpiryAgreesWithDaysLeft(t *testing.T) {
	c := renderCert(t, "agent", renderNow.Add(-24*time.Hour-3*time.Second))
	_, text := CertExpiry(c, renderNow, DefaultThresholds())
	if !strings.Contains(text, "(1 day ago)") || DaysLeft(c, renderNow) != -1 {
		t.Errorf("CertExpiry %q, DaysLeft %d; want \"1 day ago\" and -1", text, DaysLeft(c, renderNow))
	}
}

// TestNagiosOneLabelPerRole: two CA certificates give one ca_cert_days label with the
// soonest expiry, and the manager's certificate seen both on the wire and in ssl_certificate
// counts once.
func TestNagiosOneLabelPerRole(t *testing.T) {
	r := renderReport(t)
	r.Facts.Files.CA = &probes.FileFacts{Certs: []*x509.Certificate{
		renderCert(t, "root", renderNow.AddDate(0, 0, 300)), renderCert(t, "int", renderNow.AddDate(0, 0, 90))}}
	var b bytes.Buffer
	if err := WriteNagios(&b, r); err != nil {
		t.Fatal(err)
	}
	_, perf, _ := strings.Cut(strings.SplitN(b.String(), "\n", 2)[0], " | ")
	labels := map[string]int{}
	for _, p := range strings.Fields(perf) {
		name, _, _ := strings.Cut(p, "=")
		labels[name]++
	}
	if labels["ca_cert_days"] != 1 || labels["ca2_cert_days"] != 0 || !strings.Contains(perf, "ca_cert_days=90;") {
		t.Errorf("perfdata %q: want one ca_cert_days=90", perf)
	}
	for name, n := range labels {
		if n > 1 {
			t.Errorf("perfdata label %s appears %d times: %q", name, n, perf)
		}
	}
}

// TestTextMergesSkipReasons: checks skipped for one reason print as one row naming them.
func TestTextMergesSkipReasons(t *testing.T) {
	r := &Report{Findings: []Finding{
		{ID: "crl-expired", Category: CategoryManager, Severity: SeveritySkip, Summary: "skipped: no ssl_crl, NGINX checks no CRL"},
		{ID: "crl-missing", Category: CategoryManager, Severity: SeveritySkip, Summary: "skipped: no ssl_crl, NGINX checks no CRL"},
		{ID: "nginx-http2-missing", Category: CategoryManager, Severity: SeverityOK, Title: "the agents' server speaks HTTP/2"},
	}}
	var b bytes.Buffer
	if err := WriteText(&b, r, TextOptions{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "no ssl_crl"); n != 1 || !strings.Contains(b.String(), "(crl-expired, crl-missing)") {
		t.Errorf("want one skip row naming both checks, got %d:\n%s", n, b.String())
	}
}
