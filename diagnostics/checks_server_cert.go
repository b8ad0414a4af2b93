package diagnostics

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

func serverCertChecks() []Check {
	need := []FactKind{FactAgentConfig, FactAgentFiles, FactEndpoint}
	return []Check{
		{
			ID: "server-cert-untrusted", Category: CategoryServerCert,
			Title: "server certificate is trusted by the agent's CA",
			Why: "The agent verifies the manager's certificate against its tls.ca file, which replaces the system " +
				"trust store, or against the system store when none is set. A chain that reaches neither fails with " +
				"\"x509: certificate signed by unknown authority\".",
			Needs: need, Evaluate: evalServerUntrusted, Fix: fixServerUntrusted,
			Manager:  servedSide("server-cert-untrusted", evalServerUntrusted),
			LogKinds: []logparse.Kind{logparse.KindServerCertUntrusted},
		},
		{
			ID: "server-chain-incomplete", Category: CategoryServerCert,
			Title: "server sends its intermediate certificates",
			Why: "NGINX sends exactly the certificates in its ssl_certificate file, and Go never downloads a " +
				"missing intermediate. A server certificate issued by an intermediate therefore verifies only if " +
				"the file holds the intermediate after the server's certificate.",
			Needs: need, Evaluate: evalServerChain, Fix: fixServerChain,
			Manager: &ManagerSide{Evaluate: mgrServerChain, Fix: fixMgrServerChain},
		},
		{
			ID: "server-name-mismatch", Category: CategoryServerCert,
			Title: "server certificate matches the name the agent verifies",
			Why: "The agent checks the certificate's names (SANs) against its server name: server.command in v2, " +
				"command.tls.server_name in v3, or else the host it dials. An IP host needs an IP SAN.",
			Needs: need, Evaluate: evalServerName, Fix: fixServerName,
			Manager:  &ManagerSide{Evaluate: mgrServerName, Fix: managerReissue("server-name-mismatch")},
			LogKinds: []logparse.Kind{logparse.KindServerNameMismatch},
		},
		{
			ID: "server-cert-cn-only", Category: CategoryServerCert,
			Title: "server certificate has subject alternative names",
			Why: "Go ignores the Common Name and only matches SANs, so a certificate with a CN and no SANs fails " +
				"with \"x509: certificate relies on legacy Common Name field, use SANs instead\".",
			Needs: need, Evaluate: evalServerCNOnly, Fix: fixServerReissue("server-cert-cn-only"),
			Manager:  servedSide("server-cert-cn-only", evalServerCNOnly),
			LogKinds: []logparse.Kind{logparse.KindServerCertCNOnly},
		},
		{
			ID: "server-cert-placeholder-san", Category: CategoryServerCert,
			Title: "server certificate names are real host names",
			Why: "The NGINX guides write names like <NGINX-INSTANCE-MANAGER-FQDN>; a certificate issued with the " +
				"placeholder left in matches no host, so every agent fails the name check.",
			Needs: need, Evaluate: evalServerPlaceholder, Fix: fixServerReissue("server-cert-placeholder-san"),
			Manager: servedSide("server-cert-placeholder-san", evalServerPlaceholder),
		},
		{
			ID: "server-cert-expired", Category: CategoryServerCert,
			Title: "server certificate chain has not expired",
			Why: "An expired server certificate (or intermediate) fails verification with \"certificate has " +
				"expired or is not yet valid\", and every agent is cut off at once.",
			Needs: need, Evaluate: evalServerExpired, Fix: fixServerReissue("server-cert-expired"),
			Manager:  servedSide("server-cert-expired", evalServerExpired),
			LogKinds: []logparse.Kind{logparse.KindServerCertExpired},
		},
		{
			ID: "server-cert-not-yet-valid", Category: CategoryServerCert,
			Title: "server certificate is already valid",
			Why: "A server certificate that is valid only from a later date is refused like an expired one. Either " +
				"this host's clock is behind or the certificate was issued on a host whose clock was ahead.",
			Needs: need, Evaluate: evalServerNotYet, Fix: fixServerNotYet,
			Manager:  servedSide("server-cert-not-yet-valid", evalServerNotYet),
			LogKinds: []logparse.Kind{logparse.KindServerCertNotYetValid},
		},
		{
			ID: "server-cert-expiring", Category: CategoryServerCert,
			Title: "server certificate is not about to expire",
			Why: "When the manager's certificate expires every agent loses its connection at the same moment. " +
				"Renew it ahead of time and reload NGINX.",
			Needs: need, Evaluate: evalServerExpiring, Fix: fixServerReissue("server-cert-expiring"),
			Manager: servedSide("server-cert-expiring", evalServerExpiring),
		},
		{
			ID: "server-cert-wrong-purpose", Category: CategoryServerCert,
			Title: "server certificate is meant for TLS servers",
			Why: "Go requires serverAuth in a server certificate's extended key usage, so a certificate made for " +
				"clients fails with \"x509: certificate specifies an incompatible key usage\".",
			Needs: need, Evaluate: evalServerPurpose, Fix: fixServerReissue("server-cert-wrong-purpose"),
			Manager:  servedSide("server-cert-wrong-purpose", evalServerPurpose),
			LogKinds: []logparse.Kind{logparse.KindServerCertWrongPurpose},
		},
	}
}

// serverLeaf returns the served leaf, or a skip saying why there is none.
func serverLeaf(f *Facts) (*x509.Certificate, Result, bool) {
	chain := serverChain(f)
	if len(chain) == 0 {
		return nil, noHandshake(f), false
	}
	return chain[0], Result{}, true
}

func chainEvidence(f *Facts) Evidence {
	var lines []string
	for i, c := range serverChain(f) {
		lines = append(lines, fmt.Sprintf("%d s:%s", i, dn(c.RawSubject)), fmt.Sprintf("  i:%s", dn(c.RawIssuer)))
	}
	return Quoted(f.Endpoint.Address, "chain sent by the server", lines...)
}

func evalServerUntrusted(f *Facts) Result {
	v, ok := verifyServer(f)
	if !ok {
		return noHandshake(f)
	}
	if v.NoRoots != "" {
		return Skip("skipped: %s", v.NoRoots)
	}
	if v.Err == nil {
		return OK("%s chains to %s", certName(v.Leaf), v.Roots)
	}
	var ua x509.UnknownAuthorityError
	if errors.As(v.Err, &ua) && !selfSigned(v.Leaf) && servedIssuer(serverChain(f)) == nil && findIssuer(v.Leaf, caCerts(f)) == nil {
		return Fail("%s is issued by %s, which neither the server sends nor %s holds (see server-chain-incomplete): %s",
			certName(v.Leaf), dn(v.Leaf.RawIssuer), v.Roots, verifyErrText(v.Err)).Because(CauseIntermediateMissing).With(chainEvidence(f))
	}
	if errors.As(v.Err, &ua) {
		return Fail("%s (issued by %s) does not chain to %s: %s", certName(v.Leaf), dn(v.Leaf.RawIssuer), v.Roots, verifyErrText(v.Err)).Because(CauseUntrusted).
			With(chainEvidence(f))
	}
	return Fail("%s does not verify against %s: %s", certName(v.Leaf), v.Roots, verifyErrText(v.Err)).Because(CauseUntrusted).With(chainEvidence(f))
}

func fixServerUntrusted(f *Facts, _ Result) []Step {
	h := hostOf(f)
	steps := []Step{{
		Title: "See which CA issued the server's chain",
		Why:   "The last issuer (i:) in the chain is the root the agent must trust.",
		Commands: []string{
			"openssl s_client -connect " + shellQuote(h.Addr) + serverNameArg(h) + " -showcerts </dev/null 2>/dev/null | grep -E '^ *[0-9]+ s:|^ *i:' || true",
		},
		Verify: []string{"server-cert-untrusted"},
		Host:   HostAgent,
	}}
	verify := []string{"server-cert-untrusted"}
	if h.CASet {
		return append(steps, Step{
			Title: "Add the manager's CA certificate to " + h.CA,
			Why: "tls.ca replaces the system store, so it must hold the root that issued the manager's certificate " +
				"(copy it from the manager). The CAs already there stay.",
			Commands: []string{
				backupCommand(h.CA),
				"sudo cat '<manager-ca-path>' | sudo tee -a " + shellQuote(h.CA) + " >/dev/null",
				restartAgent,
			},
			Changes: []string{h.CA},
			Verify:  verify,
			Host:    HostAgent,
		})
	}
	return append(steps, Step{
		Title:    "Install the manager's CA certificate as " + h.CA,
		Why:      "With no tls.ca the agent trusts the system store, which does not hold a private CA.",
		Commands: []string{"sudo mkdir -p " + shellQuote(filepath.Dir(h.CA)), "sudo install -m 0644 '<manager-ca-path>' " + shellQuote(h.CA)},
		Changes:  []string{h.CA},
		Verify:   verify,
		Host:     HostAgent,
	}, h.editStep("Point the agent at the manager's CA certificate", "", verify, edit{setCA, h.CA}))
}

func serverNameArg(h hostInfo) string {
	if net.ParseIP(h.Name) != nil {
		return ""
	}
	return " -servername " + shellQuote(h.Name)
}

func evalServerChain(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	chain := serverChain(f)
	switch {
	case selfSigned(leaf):
		return OK("%s is self-signed; there is no intermediate", certName(leaf))
	case servedIssuer(chain) != nil:
		return OK("the server sends %s with its issuer %s", certName(leaf), certName(servedIssuer(chain)))
	}
	issuer := findIssuer(leaf, caCerts(f))
	if issuer != nil && selfSigned(issuer) {
		return OK("%s is issued directly by the root %s in the agent's CA file", certName(leaf), certName(issuer))
	}
	if issuer != nil {
		return Warn("the server does not send the intermediate %s; the agent verifies only because its CA file holds it", certName(issuer)).Because(CauseIntermediateMissing).
			With(chainEvidence(f))
	}
	v, _ := verifyServer(f)
	if v.NoRoots != "" {
		// Without trust anchors a missing issuer cannot be told from an unknown one; the
		// unusable CA file is agent-cert-file-unreadable's finding, not a chain problem.
		return Skip("skipped: %s, so the chain cannot be judged", v.NoRoots)
	}
	if v.Err == nil {
		return OK("%s verifies with the certificates the server sends", certName(leaf))
	}
	return Fail("the server sends %s without the certificate that issued it (%s); if that is an intermediate, "+
		"NGINX's ssl_certificate lacks it", certName(leaf), dn(leaf.RawIssuer)).Because(CauseIntermediateMissing).With(chainEvidence(f))
}

func fixServerChain(f *Facts, r Result) []Step {
	steps := fixMgrServerChain(f, r) // the ssl_certificate file read here, or a placeholder
	if h := hostOf(f); f != nil && f.Agent != nil {
		steps = append(steps, Step{
			Title:    "Check the chain the manager sends",
			Commands: []string{"openssl s_client -connect " + shellQuote(h.Addr) + serverNameArg(h) + " -showcerts </dev/null 2>/dev/null | grep -E '^ *[0-9]+ s:' || true"},
			Verify:   []string{"server-chain-incomplete"},
			Host:     HostAgent,
		})
	}
	return steps
}

// verifyName is the name or IP the agent checks the server certificate against.
func verifyName(f *Facts) string {
	if f.Endpoint.VerifyName != "" {
		return f.Endpoint.VerifyName
	}
	host, _, _ := net.SplitHostPort(f.Endpoint.Address)
	return host
}

func sanText(c *x509.Certificate) string {
	s := SANs(c)
	if len(s) == 0 {
		return "no SANs"
	}
	return "SANs: " + joinNames(s, 6)
}

func evalServerName(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	if !hasHostSANs(leaf) {
		return Skip("skipped: the certificate has no SANs (see server-cert-cn-only)")
	}
	name := verifyName(f)
	if err := leaf.VerifyHostname(name); err != nil {
		r := Fail("%s is not valid for %s (%s)", certName(leaf), name, sanText(leaf)).Because(CauseNameMismatch)
		if net.ParseIP(name) != nil && len(leaf.IPAddresses) == 0 {
			r = Fail("the agent verifies the IP %s, but %s has no IP SANs (%s)", name, certName(leaf), sanText(leaf)).Because(CauseNameMismatch)
		}
		return r.With(Note(f.Endpoint.Address, "Go: %s", err.Error()))
	}
	return OK("%s is valid for %s", certName(leaf), name)
}

func fixServerName(f *Facts, r Result) []Step {
	h := hostOf(f)
	var steps []Step
	var dnsSAN string
	if leaf, _, ok := serverLeafSafe(f); ok {
		for _, n := range leaf.DNSNames {
			if !strings.ContainsAny(n, "<>*") {
				dnsSAN = n
				break
			}
		}
	}
	if dnsSAN != "" && yamlPath(h.Format, setServerName) != nil {
		why := "This one setting sets the TLS SNI, the name checked against the certificate and the HTTP/2 :authority; the agent still dials " + h.Addr + "."
		st := h.editStep("Set the agent's server name to "+dnsSAN+", a name in the certificate", why,
			[]string{"server-name-mismatch"}, edit{setServerName, dnsSAN})
		if h.Format != "v3" {
			st.Why += " Set server.metrics to the same name."
		}
		steps = append(steps, st)
	}
	steps = append(steps, fixServerReissue("server-name-mismatch")(f, r)...)
	return steps
}

// serverLeafSafe is serverLeaf for fix functions, which may run without endpoint facts.
func serverLeafSafe(f *Facts) (*x509.Certificate, Result, bool) {
	if f == nil || f.Endpoint == nil {
		return nil, Result{}, false
	}
	return serverLeaf(f)
}

func evalServerCNOnly(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	if !hasHostSANs(leaf) {
		return Fail("%s has no SANs; Go ignores its Common Name", certName(leaf)).Because(CauseNoSANs)
	}
	return OK("%s has %s", certName(leaf), Plural(len(leaf.DNSNames)+len(leaf.IPAddresses), "SAN"))
}

// isPlaceholder reports a name left from the docs, like <NGINX-INSTANCE-MANAGER-FQDN>.
func isPlaceholder(s string) bool { return strings.ContainsAny(s, "<>") }

func evalServerPlaceholder(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	var bad []string
	for _, n := range append([]string{leaf.Subject.CommonName}, leaf.DNSNames...) {
		if isPlaceholder(n) && !containsString(bad, n) {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return Fail("%s carries the placeholder %s from the docs instead of the manager's name", certName(leaf), strings.Join(bad, ", ")).Because(CausePlaceholderName)
	}
	return OK("no placeholder names in %s", certName(leaf))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func evalServerExpired(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	for i, c := range serverChain(f) {
		if lifeOf(c, f.Now) == lifeExpired {
			what := "server certificate"
			if i > 0 {
				what = "intermediate"
			}
			return Fail("%s %s expired %s (%s ago)", what, certName(c), stamp(c.NotAfter), HumanDuration(f.Now.Sub(c.NotAfter))).Because(CauseExpired)
		}
	}
	return OK("%s is valid until %s", certName(leaf), stamp(leaf.NotAfter))
}

func evalServerNotYet(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	if lifeOf(leaf, f.Now) == lifeNotYet {
		r := Fail("%s is valid only from %s, %s from now", certName(leaf), stamp(leaf.NotBefore), HumanDuration(leaf.NotBefore.Sub(f.Now))).Because(CauseNotYetValid)
		if note, skewed := skewNote(f); skewed {
			r.Summary += "; " + note
		}
		return r
	}
	return OK("%s has been valid since %s", certName(leaf), stamp(leaf.NotBefore))
}

func fixServerNotYet(f *Facts, r Result) []Step {
	return append([]Step{{
		Title:    "Check the clocks on this host and the manager",
		Why:      "If this host's clock is behind, fix it; if the certificate's start date is wrong, reissue it.",
		Commands: []string{"timedatectl status", "sudo timedatectl set-ntp true"},
		Verify:   []string{"clock-skew", "server-cert-not-yet-valid"},
		Host:     HostAgent,
	}}, fixServerReissue("server-cert-not-yet-valid")(f, r)...)
}

func evalServerExpiring(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	sev, msg := expiry(leaf, f.Now, f.Thresholds)
	if sev == SeveritySkip {
		return Skip("skipped: the server certificate is outside its validity period")
	}
	r := Result{Severity: sev, Summary: "server certificate " + certName(leaf) + " " + msg}
	if r.Severity >= SeverityWarn {
		r = r.Because(CauseExpiring)
	}
	return r
}

func evalServerPurpose(f *Facts) Result {
	leaf, skip, ok := serverLeaf(f)
	if !ok {
		return skip
	}
	if !EKUAllows(leaf, x509.ExtKeyUsageServerAuth) {
		return Fail("%s has extended key usage %s, without serverAuth", certName(leaf), ekuList(leaf)).Because(CauseWrongPurpose)
	}
	return OK("%s may serve TLS", certName(leaf))
}

// fixServerReissue returns the playbook for a new manager server certificate with the SAN
// the agent verifies.
func fixServerReissue(verify string) func(f *Facts, _ Result) []Step {
	return func(f *Facts, r Result) []Step { return serverReissueSteps(f, r, verify) }
}
