package diagnostics

import (
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

func clientAuthChecks() []Check {
	return []Check{
		{
			ID: "agent-cert-unknown-ca", Category: CategoryClientAuth,
			Title: "agent certificate is issued by a CA the server asks for",
			Why: "NGINX lists the CAs of its ssl_client_certificate when it asks for a certificate, and Go sends " +
				"nothing at all when the agent's chain is issued by none of them. NGINX then answers 400 \"No " +
				"required SSL certificate was sent\" although the agent has a certificate, and the agent logs nothing useful.",
			Needs: []FactKind{FactAgentConfig, FactAgentFiles, FactEndpoint}, Evaluate: evalUnknownCA, Fix: fixUnknownCA,
			Manager:     &ManagerSide{Evaluate: mgrUnknownCA, Fix: fixMgrUnknownCA},
			LiveVerdict: true,
		},
		{
			ID: "agent-cert-rejected", Category: CategoryClientAuth,
			Title: "manager's NGINX accepts the agent certificate",
			Why: "NGINX never fails the TLS handshake over a client certificate: it completes it, then answers the " +
				"first request with 400 (\"The SSL certificate error\" or \"No required SSL certificate was sent\") " +
				"or, with the NIM error pages, grpc-status 16. The agent sees only \"code = Internal\" or \"Unauthenticated\".",
			Needs: []FactKind{FactAgentConfig, FactEndpoint}, Wants: []FactKind{FactAgentFiles},
			Evaluate: evalRejected, Fix: fixRejected,
			Manager:  &ManagerSide{Evaluate: mgrRejected, Fix: fixMgrRejected},
			LogKinds: []logparse.Kind{logparse.KindAgentCertRejected},
		},
		{
			ID: "agent-cert-revoked", Category: CategoryClientAuth,
			Title: "agent certificate is not revoked",
			Why: "If the manager's NGINX checks a CRL (ssl_crl), a revoked agent certificate gets 400 \"The SSL " +
				"certificate error\" with \"certificate revoked\" in NGINX's log. Only the manager's CRL or log can tell.",
			Evaluate: evalRevoked, Fix: fixRevoked,
			Manager:     &ManagerSide{Evaluate: mgrRevoked, Fix: fixRevoked},
			LogKinds:    []logparse.Kind{logparse.KindAgentCertRevoked},
			LiveVerdict: true,
		},
		{
			ID: "client-verify-depth", Category: CategoryClientAuth,
			Title: "agent chain fits NGINX's ssl_verify_depth",
			Why: "NGINX checks client chains only to ssl_verify_depth, which defaults to 1: the agent's certificate " +
				"plus one intermediate below the root. A certificate under two intermediates is rejected " +
				"(\"certificate chain too long\" or \"unable to get issuer certificate\") unless the depth is raised.",
			Needs: []FactKind{FactAgentConfig, FactAgentFiles}, Wants: []FactKind{FactEndpoint},
			Evaluate: evalVerifyDepth, Fix: fixVerifyDepth,
			Manager:     &ManagerSide{Evaluate: mgrVerifyDepth, Fix: fixMgrVerifyDepth},
			LogKinds:    []logparse.Kind{logparse.KindClientVerifyDepth},
			LiveVerdict: true,
		},
		{
			ID: "client-auth-not-required", Category: CategoryClientAuth,
			Title: "manager requires a client certificate",
			Why: "Mutual TLS protects the manager only if it refuses agents without a valid certificate. NGINX " +
				"Instance Manager ships with ssl_verify_client optional and the auth_request check commented out, " +
				"so any client reaches the agent gRPC services.",
			Needs: []FactKind{FactEndpoint}, Evaluate: evalAuthNotRequired, Fix: fixAuthNotRequired,
			Manager: &ManagerSide{Evaluate: mgrAuthNotRequired, Fix: fixMgrAuthNotRequired},
		},
	}
}

func evalUnknownCA(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	a := agentAttempt(f)
	t := handshake(a)
	switch {
	case t == nil:
		return noHandshake(f)
	case !a.WithClientCert:
		return Skip("skipped: the agent's certificate and key do not load, so none was offered")
	case !t.CertRequested:
		return Skip("skipped: the server did not ask for a client certificate (see client-auth-not-required)")
	case len(t.AcceptableCAs) == 0:
		return OK("the server asks for a certificate without naming CAs; Go sends the agent's")
	}
	advertised := Quoted(f.Endpoint.Address, "CA names the server advertised", dnList(t.AcceptableCAs)...)
	issuer := Note(f.Agent.Cert.Value, "the agent certificate's issuer: %s", dn(leaf.RawIssuer))
	match := acceptableMatch(agentChain(f), t.AcceptableCAs)
	if match && t.ClientCertSent {
		return OK("the agent's chain is issued by a CA the server lists (%s)", dn(leaf.RawIssuer))
	}
	names := dnList(t.AcceptableCAs)
	if match {
		return Fail("no certificate was sent although the agent's issuer %s is among the CAs the server lists", dn(leaf.RawIssuer)).Because(CauseNoCertSent).
			With(advertised, issuer)
	}
	return Fail("the server asks for a certificate issued by %s, but the agent's is issued by %s: Go sends none and NGINX answers 400 \"%s\"",
		joinNames(names, 2), dn(leaf.RawIssuer), titleNoCert).Because(CauseNoCertSent).With(advertised, issuer)
}

func fixUnknownCA(f *Facts, r Result) []Step {
	h := hostOf(f)
	var steps []Step
	// Safe first: an agent that does not send its intermediate is fixed on the agent,
	// without trusting anything new.
	if f != nil && f.Files != nil && agentLeaf(f) != nil && len(agentChainOf(f).missing) > 0 {
		steps = append(steps, fixAgentChain(f, r)...)
	}
	steps = append(steps, Step{
		Title: "See which CA names the server asks for",
		Why:   "openssl prints them under \"Acceptable client certificate CA names\"; the agent's issuer must be one of them.",
		Commands: []string{
			"openssl s_client -connect " + shellQuote(h.Addr) + serverNameArg(h) + " </dev/null 2>/dev/null | sed -n '/Acceptable client certificate CA names/,/Requested Signature/p'",
			"openssl x509 -in " + shellQuote(h.Cert) + " -noout -issuer",
		},
		Verify: []string{"agent-cert-unknown-ca"},
		Host:   HostAgent,
	})
	ca := "<client-ca-path>"
	if mr, ok := managerProblem(f, mgrUnknownCA); ok {
		if s := judgedServer(f, mr); s != nil && s.SSL.ClientCertificate.Path != "" {
			ca = s.SSL.ClientCertificate.Path
		}
	}
	return append(steps, appendAgentsCAStep(f, ca),
		reissueAgentStep(f, "Or issue the agent a certificate from a CA the manager trusts",
			"When the manager must not trust the agent's current CA, sign the agent's request with one it already trusts (<ca-cert-path> is then that CA).",
			"agent-cert-unknown-ca", "agent-cert-rejected"))
}

// rejectReasons lists what this host can see that would make NGINX reject the agent, each
// with the check that confirms it.
func rejectReasons(f *Facts, code int) (reasons []string, checks []string) {
	add := func(check, format string, a ...any) {
		reasons = append(reasons, fmt.Sprintf(format, a...))
		checks = append(checks, check)
	}
	a := agentAttempt(f)
	if a != nil && !a.WithClientCert {
		add("agent-cert-not-configured", "the agent offered no certificate (none configured, or it does not load)")
	}
	if t := handshake(a); t != nil && a.WithClientCert && t.CertRequested && !t.ClientCertSent {
		add("agent-cert-unknown-ca", "Go withheld the certificate: its chain is issued by none of the CAs the server lists")
	}
	leaf := agentLeaf(f)
	if leaf == nil || f.Files == nil {
		return reasons, checks
	}
	switch lifeOf(leaf, f.Now) {
	case lifeExpired:
		add("agent-cert-expired", "the certificate expired %s", stamp(leaf.NotAfter))
	case lifeNotYet:
		add("agent-cert-not-yet-valid", "the certificate is valid only from %s", stamp(leaf.NotBefore))
	}
	for _, p := range purposeProblems(leaf) {
		add("agent-cert-wrong-purpose", "%s", p)
	}
	for _, c := range agentChain(f) {
		for _, w := range CertWeaknesses(c) {
			add("agent-cert-weak-key", "%s", w)
		}
	}
	if !selfSigned(leaf) {
		st := agentChainOf(f)
		if len(st.missing) > 0 {
			add("agent-chain-incomplete", "the cert file lacks the intermediate %s", certName(st.missing[0]))
		}
		if len(st.inter) >= 2 {
			add("client-verify-depth", "the chain has %d intermediates; NGINX's default ssl_verify_depth 1 allows one", len(st.inter))
		}
	} else if code == 495 {
		add("agent-cert-unknown-ca", "the certificate is self-signed")
	}
	return reasons, checks
}

func evalRejected(f *Facts) Result {
	a := agentAttempt(f)
	if f.Endpoint.PlainText {
		return Skip("skipped: the agent does not use TLS")
	}
	if handshake(a) == nil {
		return noHandshake(f)
	}
	h := httpReply(a)
	if h == nil {
		if a.HTTP != nil && a.HTTP.Error != nil {
			return Skip("skipped: no HTTP answer (%s: %s)", a.HTTP.Error.Kind, a.HTTP.Error.Message)
		}
		return Skip("skipped: no HTTP answer")
	}
	code := rejection(h)
	if code == 0 {
		if !a.WithClientCert {
			return OK("NGINX did not reject the request (%s), though the agent offered no certificate", replyText(h))
		}
		return OK("NGINX accepted the agent certificate and passed the request on (%s)", replyText(h))
	}
	var said string
	switch code {
	case 495:
		said = fmt.Sprintf("NGINX then answered 400 %q (495)", titleCertError)
	case 496:
		said = fmt.Sprintf("NGINX then answered 400 %q (496)", titleNoCert)
	default:
		said = fmt.Sprintf("NGINX then answered grpc-status 16 Unauthenticated (%q)", h.GRPCMessage)
	}
	ev := []Evidence{Quoted(f.Endpoint.Address, "reply to POST "+f.Endpoint.Path, replyText(h))}
	if code == 496 || code == 16 { // 16: NGINX's error_page may map 496 to grpc-status 16
		if id, why := noCertCause(f); id != "" {
			return Info("%s: %s; the cause is reported as %s", said, why, id).With(ev...)
		}
	}
	if v, ok := verdictOf(f); ok && code != 496 {
		if id := verifyFinding(f, v.Code); id != "" {
			return Info("%s: %s; the cause is reported as %s", said, verdictText(v), id).With(verdictQuote(v)).With(ev...)
		}
		return Fail("the TLS handshake succeeded; %s: %s", said, verdictText(v)).WithCause(Cause{Code: CauseNginxVerdict, OpenSSL: v.Code}).With(verdictQuote(v)).With(ev...)
	}
	reasons, _ := rejectReasons(f, code)
	r := Fail("the TLS handshake succeeded; %s", said).Because(CauseRejected)
	if len(reasons) > 0 {
		r.Summary += "; likely: " + reasons[0]
	}
	for _, x := range reasons[min(1, len(reasons)):] {
		ev = append(ev, Note("", "also: %s", x))
	}
	if len(reasons) == 0 {
		ev = append(ev, Note("", "nothing visible from this host explains it: the agent's CA is probably missing from "+
			"NGINX's ssl_client_certificate, the certificate is revoked, or the chain exceeds ssl_verify_depth"))
	}
	if code == 16 {
		ev = append(ev, Note("", "grpc-status 16 can also mean the agent's token was refused (agent v3 command.auth)"))
	}
	ev = append(ev, Note("", "NGINX logs its exact reason at [info] level in its error log"))
	return r.With(ev...)
}

// noCertCause is the failing finding that names why the probe's request carried no
// certificate, which NGINX answers with 496, and what it says; "" when no finding does.
// Go withholds a configured certificate whose chain reaches none of the CAs the server
// lists (agent-cert-unknown-ca); a certificate that is not offered at all is missing,
// unreadable, encrypted or not its key's (the agent file checks).
func noCertCause(f *Facts) (id, why string) {
	a := agentAttempt(f)
	if a == nil || f.Agent == nil {
		return "", ""
	}
	if a.WithClientCert {
		if _, missing := missingFacts([]FactKind{FactAgentFiles}, f); !missing {
			if r := evalUnknownCA(f); r.Severity == SeverityFail {
				return "agent-cert-unknown-ca", r.Summary
			}
		}
		return "", ""
	}
	for _, ch := range agentFileChecks() {
		if _, missing := missingFacts(ch.Needs, f); missing {
			continue
		}
		if r := ch.Evaluate(f); r.Severity == SeverityFail {
			return ch.ID, r.Summary
		}
	}
	return "", ""
}

func fixRejected(f *Facts, r Result) []Step {
	var reasons []string
	if f != nil && f.Endpoint != nil && f.Agent != nil {
		code := rejection(httpReply(agentAttempt(f)))
		_, reasons = rejectReasons(f, code)
	}
	var steps []Step
	if len(reasons) > 0 {
		// The reasons are findings of their own, each with its steps: no step repeats them.
		steps = append(steps, Step{
			Title:  "Fix the findings that name the reason first: " + strings.Join(reasons, ", "),
			Why:    "Each of them is reported with its own steps on this host; NGINX rejects the agent until they pass.",
			Verify: uniq(append(reasons, "agent-cert-rejected")),
			Host:   HostAgent,
			Manual: "the steps are those of the findings named",
		})
	}
	read := Step{
		Title: "Read NGINX's own reason on the manager",
		Why: "NGINX logs client-certificate rejections at [info] (nginx-log-level-hides-mtls says whether its " +
			"error_log records them), with OpenSSL's code and the agent's address.",
		Commands: []string{"sudo grep -E 'client SSL certificate verify error|client sent no required SSL certificate' " +
			shellQuote(managerErrorLog(f)) + " | tail -n 5"},
		Verify: []string{"agent-cert-rejected"},
		Host:   HostManager,
	}
	return append(steps, read)
}

func uniq(list []string) []string {
	var out []string
	for _, s := range list {
		if !containsString(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func evalRevoked(*Facts) Result {
	return Skip("skipped: needs the manager's ssl_crl or NGINX's log")
}

func fixRevoked(f *Facts, _ Result) []Step {
	h := hostOf(f)
	serial := "$(openssl x509 -in " + shellQuote(h.Cert) + " -noout -serial | cut -d= -f2)"
	if leaf := agentLeaf(f); leaf != nil {
		serial = fmt.Sprintf("%X", leaf.SerialNumber)
	}
	crl := "<crl-path>"
	if managerHost(f) {
		for _, s := range f.Nginx.Servers {
			if s.CRL != nil && s.CRL.Path != "" {
				crl = s.CRL.Path
			}
		}
	}
	return []Step{
		{
			Title:    "Look for the agent's serial number in the manager's CRL",
			Why:      "A revoked certificate must be reissued, not un-revoked.",
			Commands: []string{"sudo openssl crl -in " + shellQuote(crl) + " -noout -text | grep -i -A1 \"Serial Number: " + serial + "\" || true"},
			Verify:   []string{"agent-cert-revoked"},
			Host:     HostManager,
		},
		reissueAgentStep(f, "Issue the agent a new certificate", "A new certificate gets a new serial number.", "agent-cert-revoked", "agent-cert-rejected"),
	}
}

func evalVerifyDepth(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	if selfSigned(leaf) {
		return OK("the agent certificate is self-signed (depth 0)")
	}
	st := agentChainOf(f)
	n := len(st.inter)
	if n < 2 {
		what := "issued directly by its root"
		if n == 1 {
			what = "under one intermediate"
		}
		if st.lostIssuer != nil {
			return OK("%s, as far as the agent's files show (issuer %s not found)", what, dn(st.lostIssuer))
		}
		return OK("the agent certificate is %s; NGINX's default ssl_verify_depth 1 suffices", what)
	}
	msg := fmt.Sprintf("the agent certificate sits under %d intermediates: NGINX needs ssl_verify_depth %d (default 1)", n, n)
	if h := httpReply(agentAttempt(f)); h != nil && rejection(h) == 0 && isGRPC(h) {
		// The probe sent this chain and NGINX passed the request on: its depth suffices.
		return OK("the agent certificate sits under %d intermediates and NGINX accepted it (ssl_verify_depth %d or more)", n, n)
	}
	if rejection(httpReply(agentAttempt(f))) == 495 {
		return Fail("%s, and NGINX rejected it", msg).Because(CauseVerifyDepth)
	}
	return Warn("%s", msg).Because(CauseVerifyDepth)
}

func fixVerifyDepth(f *Facts, r Result) []Step {
	if mr, ok := managerProblem(f, mgrVerifyDepth); ok {
		return fixMgrVerifyDepth(f, mr) // the configuration read here: its own lines
	}
	depth := 2
	if f != nil && f.Agent != nil && f.Files != nil && agentLeaf(f) != nil {
		depth = max(depth, len(agentChainOf(f).inter))
	}
	file := "<manager-nginx-conf>"
	text := fmt.Sprintf("ssl_verify_depth %d;", depth)
	return []Step{{
		Title: fmt.Sprintf("Raise ssl_verify_depth to %d on the manager", depth),
		Why: "In the server block agents reach: an existing ssl_verify_depth is rewritten, else it is added after " +
			"ssl_verify_client. Alternatively issue agent certificates from a CA closer to the root.",
		File: file,
		Diff: "     ssl_verify_client on;\n+    " + text,
		Commands: []string{backupCommand(file),
			"if sudo grep -q ssl_verify_depth " + shellQuote(file) + "; then " + sedCommand(file, `s|ssl_verify_depth[^;]*;|`+text+`|`) +
				"; else " + sedCommand(file, `s|\(ssl_verify_client[^;]*;\)|\1 `+text+`|`) + "; fi",
			reloadNginxFor(f)},
		Changes: []string{file},
		Verify:  []string{"client-verify-depth", "agent-cert-rejected"},
		Host:    HostManager,
	}}
}

func evalAuthNotRequired(f *Facts) Result {
	e := f.Endpoint
	if e.PlainText {
		return Skip("skipped: the agent does not use TLS, so there is no client authentication")
	}
	if t := handshake(e.Agent); t != nil && !t.CertRequested {
		return Warn("%s never asked for a client certificate: mutual TLS is not enforced", e.Address).Because(CauseNotRequired)
	}
	a := e.NoCert
	if a == nil && e.Agent != nil && !e.Agent.WithClientCert {
		a = e.Agent
	}
	if a == nil {
		return Skip("skipped: the probe without a client certificate was not run")
	}
	if t := handshake(a); t != nil && !t.CertRequested {
		return Warn("%s never asked for a client certificate: mutual TLS is not enforced", e.Address).Because(CauseNotRequired)
	}
	h := httpReply(a)
	if h == nil {
		return Skip("skipped: the request without a client certificate got no answer")
	}
	switch {
	case rejection(h) != 0 || h.Status == 401 || h.Status == 403 || grpcStatus(h) == 7:
		return OK("a request without a client certificate is refused (%s)", replyText(h))
	case isGRPC(h):
		return Warn("a request without a client certificate reached the gRPC service (%s): ssl_verify_client is optional and nothing enforces it",
			replyText(h)).Because(CauseNotEnforced)
	}
	return Info("a request without a client certificate got %s; whether mTLS is enforced is unclear", replyText(h))
}

func fixAuthNotRequired(f *Facts, r Result) []Step {
	if mr, ok := managerProblem(f, mgrAuthNotRequired); ok {
		return fixMgrAuthNotRequired(f, mr)
	}
	return []Step{nginxStep(f, "Require client certificates on the manager",
		"Either set ssl_verify_client on in the server block agents reach, or (NGINX Instance Manager, which keeps "+
			"optional for its web UI) uncomment the auth_request line in each agent gRPC location.",
		managerNginxConf, "-    ssl_verify_client optional;\n+    ssl_verify_client on;", "client-auth-not-required", "agent-cert-rejected")}
}
