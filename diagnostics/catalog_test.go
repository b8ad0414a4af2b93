package diagnostics

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// issueIDs is the public contract of issue 2: every one must exist in the catalog.
var issueIDs = []string{
	"agent-config-missing", "agent-config-invalid", "agent-tls-disabled", "agent-skip-verify",
	"agent-cert-not-configured", "agent-cert-file-unreadable", "agent-key-mismatch", "agent-key-encrypted",
	"agent-cert-expired", "agent-cert-not-yet-valid", "agent-cert-expiring", "agent-cert-wrong-purpose",
	"agent-cert-weak-key", "agent-cert-unknown-ca", "agent-chain-incomplete", "agent-cert-rejected",
	"agent-cert-revoked", "client-verify-depth", "client-auth-not-required", "endpoint-dns",
	"endpoint-refused", "endpoint-timeout", "endpoint-not-tls", "tls-version-mismatch", "alpn-h2-missing",
	"server-cert-untrusted", "server-chain-incomplete", "server-name-mismatch", "server-cert-cn-only",
	"server-cert-placeholder-san", "server-cert-expired", "server-cert-not-yet-valid",
	"server-cert-expiring", "server-cert-wrong-purpose", "grpc-backend-unavailable", "grpc-path-missing",
	"clock-skew",
}

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestDefaultCatalogIsValid(t *testing.T) {
	c := DefaultCatalog()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, id := range issueIDs {
		if _, ok := c.Lookup(id); !ok {
			t.Errorf("issue ID %s is missing from the catalog", id)
		}
	}
	for _, ch := range c {
		if !kebab.MatchString(ch.ID) {
			t.Errorf("%s: ID is not kebab-case", ch.ID)
		}
		if r := []rune(ch.Title)[0]; !unicode.IsLower(r) {
			t.Errorf("%s: title %q must start in lower case", ch.ID, ch.Title)
		}
		if strings.HasSuffix(ch.Title, ".") {
			t.Errorf("%s: title %q ends with a period", ch.ID, ch.Title)
		}
		if n := strings.Count(ch.Why, ". ") + 1; ch.Why == "" || n > 4 {
			t.Errorf("%s: Why should be two or three sentences, got %q", ch.ID, ch.Why)
		}
		if ch.Fix == nil && ch.ID != "agent-cert-revoked" {
			t.Errorf("%s: no playbook", ch.ID)
		}
	}
}

func TestDefaultCatalogIsInCategoryOrder(t *testing.T) {
	rank := map[Category]int{}
	for i, cat := range Categories {
		rank[cat] = i
	}
	prev := -1
	for _, ch := range DefaultCatalog() {
		if rank[ch.Category] < prev {
			t.Errorf("%s (%s) is out of category order", ch.ID, ch.Category)
		}
		prev = rank[ch.Category]
	}
}

// TestHealthyHostPasses runs the whole catalog over a healthy host that is agent and
// manager at once: every check is ok (revocation too, judged against the manager's CRL).
func TestHealthyHostPasses(t *testing.T) {
	p := newPKI(t)
	f := healthyFacts(p)
	f.Nginx = healthyNginx(p)
	f.Logs = healthyLogs()
	f.Upstreams = upstreamFacts(t, frontConf, newUpstreamPKI(t)) // and a front proxy with a verified mTLS link
	for _, ch := range DefaultCatalog() {
		fd := ch.run(f)
		want := SeverityOK
		if fd.Severity != want {
			t.Errorf("%s: got %s %q, want %s", ch.ID, fd.Severity, fd.Summary, want)
		}
		if fd.Summary == "" {
			t.Errorf("%s: empty summary", ch.ID)
		}
	}
}

// checkSteps asserts the playbook rules on steps: titled, verified by real checks, and free
// of undeclared placeholders and of key material.
func checkSteps(t *testing.T, c Catalog, id string, steps []Step) {
	t.Helper()
	for i, s := range steps {
		if s.Title == "" {
			t.Errorf("%s step %d: no title", id, i+1)
		}
		if len(s.Verify) == 0 {
			t.Errorf("%s step %d %q: names no verifying check", id, i+1, s.Title)
		}
		for _, v := range s.Verify {
			if _, ok := c.Lookup(v); !ok {
				t.Errorf("%s step %d: verify names unknown check %q", id, i+1, v)
			}
		}
		text := strings.Join(append([]string{s.Title, s.Why, s.File, s.Diff}, s.Commands...), "\n")
		// A diff or a title may quote a placeholder the host's file holds (one copied from
		// the docs); the commands' placeholders are the ones the user fills in.
		for _, m := range placeholderPattern().FindAllString(strings.Join(s.Commands, "\n"), -1) {
			if !slices.ContainsFunc(s.Inputs, func(in Input) bool { return in.Name == m }) {
				t.Errorf("%s step %d: placeholder %s is not a declared Input in %q", id, i+1, m, text)
			}
		}
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s step %d: mentions PRIVATE KEY: %q", id, i+1, text)
		}
		checkShellSyntax(t, id, s.Commands)
	}
}

// TestPlaybooksWithoutAHost covers `mtls-doctor explain`: every playbook builds from empty
// facts (the agent's defaults) and from a full host, and every Verify names a real check.
func TestPlaybooksWithoutAHost(t *testing.T) {
	c := DefaultCatalog()
	full := healthyFacts(newPKI(t))
	for _, ch := range c {
		if ch.Fix == nil {
			continue
		}
		for name, f := range map[string]*Facts{"empty": {}, "host": full} {
			steps := ch.playbook(f, Result{})
			if len(steps) == 0 {
				t.Errorf("%s (%s facts): no steps", ch.ID, name)
			}
			checkSteps(t, c, ch.ID, steps)
		}
	}
}

// BenchmarkDefaultCatalog is what every --check pays before its first probe: building and
// assembling the catalog (allocated bytes matter most: each fresh 4 KiB page is a fault).
func BenchmarkDefaultCatalog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if len(DefaultCatalog()) == 0 {
			b.Fatal("empty catalog")
		}
	}
}
