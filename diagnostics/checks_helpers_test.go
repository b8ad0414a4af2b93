package diagnostics

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// checkCase is one row of a check table: facts broken one way, the check that must notice,
// and what its finding must say.
type checkCase struct {
	name   string
	id     string
	mutate func(f *Facts, p *testPKI)
	want   Severity
	// summary and fix are substrings the summary and the joined playbook must contain.
	summary []string
	fix     []string
	// notFix are substrings the playbook must not contain (a command wrong for this host).
	notFix []string
	// cause, when set, is the Cause the finding must carry.
	cause Cause
}

// runCases runs each case on a fresh healthy host. Every case also runs the whole catalog
// over its facts, so each broken host is checked for panics, playbook rules, key material
// and a cause code on every warning and failure.
func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	c := DefaultCatalog()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			f := healthyFacts(p)
			tc.mutate(f, p)
			ch, ok := c.Lookup(tc.id)
			if !ok {
				t.Fatalf("no check %s", tc.id)
			}
			fd := ch.run(f)
			if fd.Severity != tc.want {
				t.Fatalf("%s: got %s %q, want %s", tc.id, fd.Severity, fd.Summary, tc.want)
			}
			if !tc.cause.IsZero() && fd.Cause != tc.cause {
				t.Errorf("%s: cause %+v, want %+v", tc.id, fd.Cause, tc.cause)
			}
			for _, s := range tc.summary {
				if !strings.Contains(fd.Summary, s) {
					t.Errorf("summary %q does not contain %q", fd.Summary, s)
				}
			}
			if fd.Problem() && len(fd.Fix) == 0 {
				t.Errorf("%s is a problem but has no playbook", tc.id)
			}
			fix := playbookText(fd.Fix)
			for _, s := range tc.fix {
				if !strings.Contains(fix, s) {
					t.Errorf("playbook does not contain %q:\n%s", s, fix)
				}
			}
			for _, s := range tc.notFix {
				if strings.Contains(fix, s) {
					t.Errorf("playbook contains %q:\n%s", s, fix)
				}
			}
			for _, other := range c {
				ofd := other.run(f)
				if strings.HasPrefix(ofd.Summary, "internal error") {
					t.Errorf("%s: %s", other.ID, ofd.Summary)
				}
				checkSteps(t, c, other.ID, ofd.Fix)
				judged := judgedPaths(f)
				for i, st := range ofd.Fix {
					checkStepRules(t, other.ID, i, st, judged)
				}
				assertNoKeyMaterial(t, p, ofd)
				// Every warning and failure names its cause (cause.go): Fix functions and
				// scripts switch on it, not on the summary's words.
				if ofd.Problem() && ofd.Cause.Code == "" {
					t.Errorf("%s %s without a cause code: %q", other.ID, ofd.Severity, ofd.Summary)
				}
			}
		})
	}
}

func playbookText(steps []Step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(strings.Join(append([]string{s.Title, s.Why, s.File, s.Diff}, s.Commands...), "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

// assertNoKeyMaterial fails if a finding quotes a private key: no PEM key marker and no
// base64 of the agent's key.
func assertNoKeyMaterial(t *testing.T, p *testPKI, fd Finding) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(p.agent.key)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)[:32]
	texts := []string{fd.Summary, playbookText(fd.Fix)}
	for _, e := range fd.Evidence {
		texts = append(texts, e.Text, strings.Join(e.Quote, "\n"))
	}
	for _, s := range texts {
		if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, b64) {
			t.Errorf("%s: key material in %q", fd.ID, s)
		}
	}
}

// reissueAgent replaces the agent's certificate (and key) with one made from spec by the root.
func reissueAgent(t *testing.T, f *Facts, p *testPKI, spec certSpec) *testCert {
	t.Helper()
	if spec.cn == "" {
		spec.cn = "agent-1.example.com"
	}
	c := mkCert(t, spec, p.root)
	p.agent = c
	f.Files.Cert.Certs = []*x509.Certificate{c.cert}
	f.Files.Key = keyFile(f.Files.Key.Path, c)
	return c
}

// reissueServer replaces the served leaf with one made from spec by the intermediate.
func reissueServer(t *testing.T, f *Facts, p *testPKI, spec certSpec) {
	t.Helper()
	if spec.cn == "" {
		spec.cn = "nim.example.com"
	}
	p.server = mkCert(t, spec, p.inter)
	f.Endpoint.Agent.TLS.PeerChain = []*x509.Certificate{p.server.cert, p.inter.cert}
}

func days(n float64) time.Duration { return time.Duration(n * 24 * float64(time.Hour)) }

func intp(n int) *int { return &n }

// unreachable makes the endpoint refuse connections: nothing after TCP happened.
func unreachable(f *Facts) {
	f.Endpoint.TCPError = &probes.ProbeError{Kind: probes.ErrRefused, Message: "dial tcp 10.0.0.5:443: connect: connection refused"}
	f.Endpoint.Agent, f.Endpoint.NoCert = nil, nil
}

// leafUnderInter makes the agent's certificate come from the intermediate, with only the
// leaf in the cert file and the intermediate in the agent's CA file.
func leafUnderInter(t *testing.T, f *Facts, p *testPKI) {
	p.agent = mkCert(t, certSpec{cn: "agent-1.example.com", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, p.inter)
	f.Files.Cert.Certs = []*x509.Certificate{p.agent.cert}
	f.Files.Key = keyFile("/etc/nginx-agent/agent.key", p.agent)
	f.Files.CA = certFile(probes.RoleCA, "/etc/nginx-agent/ca.pem", p.root.cert, p.inter.cert)
}

// declaredCheck is the literal of check id as its group declares it, before assembly.
func declaredCheck(t *testing.T, id string) Check {
	t.Helper()
	for _, group := range [][]Check{agentFileChecks(), agentCertChecks(), serverCertChecks(), clientAuthChecks()} {
		for _, ch := range group {
			if ch.ID == id {
				return ch
			}
		}
	}
	t.Fatalf("no check %s", id)
	return Check{}
}
