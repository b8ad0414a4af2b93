package diagnostics

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

// TestVerifyFinding: every OpenSSL verify result NGINX logs for a client certificate names
// its own finding where one exists; 20, 21 and 2 depend on the agent's chain.
func TestVerifyFinding(t *testing.T) {
	p := newPKI(t)
	plain := healthyFacts(p)
	missing := healthyFacts(p)
	leafUnderInter(t, missing, p)
	deep := healthyFacts(p)
	a := mkCert(t, certSpec{cn: "int-a", ca: true}, p.root)
	b := mkCert(t, certSpec{cn: "int-b", ca: true}, a)
	leaf := mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, b)
	deep.Files.Cert.Certs = []*x509.Certificate{leaf.cert, b.cert, a.cert}
	for _, tc := range []struct {
		code int
		f    *Facts
		want string
	}{
		{9, plain, "agent-cert-not-yet-valid"}, {10, plain, "agent-cert-expired"}, {23, plain, "agent-cert-revoked"},
		{26, plain, "agent-cert-wrong-purpose"}, {66, plain, "agent-cert-weak-key"}, {67, plain, "agent-cert-weak-key"},
		{68, plain, "agent-cert-weak-key"}, {12, plain, "crl-expired"}, {11, plain, "crl-expired"}, {3, plain, "crl-missing"},
		{22, plain, "client-verify-depth"}, {20, plain, "agent-cert-unknown-ca"}, {21, plain, "agent-cert-unknown-ca"},
		{2, plain, "agent-cert-unknown-ca"}, {18, plain, "agent-cert-unknown-ca"}, {19, plain, "agent-cert-unknown-ca"},
		{20, missing, "agent-chain-incomplete"}, {2, missing, "agent-chain-incomplete"}, {20, deep, "client-verify-depth"},
		{7, plain, ""}, {32, plain, ""}, {79, plain, ""}, {0, plain, ""},
	} {
		if got := verifyFinding(tc.f, tc.code); got != tc.want {
			t.Errorf("code %d: %q, want %q", tc.code, got, tc.want)
		}
	}
	for _, id := range []string{"agent-cert-expired", "agent-cert-revoked", "crl-expired", "agent-chain-incomplete", "agent-cert-unknown-ca", "client-verify-depth"} {
		if ch, ok := DefaultCatalog().Lookup(id); !ok || !ch.LiveVerdict {
			t.Errorf("%s is not a LiveVerdict check in the catalog", id)
		}
	}
}

// TestLiveVerdictFromProbeLine: NGINX's line for the probe's own request (from the probe's
// address, since the run started) names the finding and agent-cert-rejected points to it;
// an older line, or one from another client, does not.
func TestLiveVerdictFromProbeLine(t *testing.T) {
	revoked := `2026/06/01 12:00:00 [info] 665#665: *1 client SSL certificate verify error: (23:certificate revoked) while reading client request headers, client: 10.0.0.9, server: nim.test.local, request: "POST /f5.nginx.agent.sdk.Commander/CommandChannel HTTP/2.0", host: "nim.example.com"`
	for _, tc := range []struct {
		name, line, local string
		want              Severity
	}{
		{"the probe's line", revoked, "10.0.0.9:51000", SeverityFail},
		{"another client's", revoked, "10.0.0.8:51000", SeveritySkip},
		{"before this run", at(revoked, testNow.Add(-time.Minute)), "10.0.0.9:51000", SeveritySkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			f := healthyFacts(p)
			f.Now = testNow
			f.Endpoint.LocalAddr = tc.local
			f.Endpoint.Agent.HTTP = nginx400(titleCertError)
			line := tc.line
			if tc.name != "before this run" {
				line = at(line, testNow.Add(500*time.Millisecond))
			}
			f.Logs = logsWith(t, line)
			inner := declaredCheck(t, "agent-cert-revoked")
			got := liveVerdictCheck(inner).Evaluate(f)
			if got.Severity != tc.want {
				t.Errorf("agent-cert-revoked: %s %q, want %s", got.Severity, got.Summary, tc.want)
			}
			rejected := declaredCheck(t, "agent-cert-rejected")
			r := rejected.Evaluate(f)
			if pointed := strings.Contains(r.Summary, "reported as agent-cert-revoked"); pointed != (tc.want == SeverityFail) {
				t.Errorf("agent-cert-rejected: %s %q", r.Severity, r.Summary)
			}
		})
	}
}
