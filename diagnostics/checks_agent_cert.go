package diagnostics

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func agentCertChecks() []Check {
	need := []FactKind{FactAgentConfig, FactAgentFiles}
	return []Check{
		{
			ID: "agent-cert-expired", Category: CategoryAgentCert,
			Title: "agent certificate has not expired",
			Why: "NGINX rejects an expired client certificate after the handshake with 400 \"The SSL certificate " +
				"error\" (logged as \"certificate has expired\"), so the agent retries for ever without connecting.",
			Needs: need, Evaluate: evalAgentExpired, Fix: fixAgentRenew,
			Manager:     givenCertSide("agent-cert-expired", evalAgentExpired, fixAgentRenew),
			LogKinds:    []logparse.Kind{logparse.KindAgentCertExpired},
			LiveVerdict: true,
		},
		{
			ID: "agent-cert-not-yet-valid", Category: CategoryAgentCert,
			Title: "agent certificate is already valid",
			Why: "A certificate whose validity starts in the future is rejected like an expired one. It usually " +
				"means a clock is wrong, on this host or the one that issued the certificate.",
			Needs: need, Wants: []FactKind{FactEndpoint}, Evaluate: evalAgentNotYetValid, Fix: fixAgentNotYetValid,
			Manager:     givenCertSide("agent-cert-not-yet-valid", evalAgentNotYetValid, fixAgentNotYetValid),
			LogKinds:    []logparse.Kind{logparse.KindAgentCertNotYetValid},
			LiveVerdict: true,
		},
		{
			ID: "agent-cert-expiring", Category: CategoryAgentCert,
			Title: "agent certificate is not about to expire",
			Why: "When the certificate expires the agent is cut off from the manager. Agent v2 reads its files only " +
				"at startup, so a renewed certificate also needs an agent restart.",
			Needs: need, Evaluate: evalAgentExpiring, Fix: fixAgentRenew,
			Manager: givenCertSide("agent-cert-expiring", evalAgentExpiring, fixAgentRenew),
		},
		{
			ID: "agent-cert-wrong-purpose", Category: CategoryAgentCert,
			Title: "agent certificate is meant for client authentication",
			Why: "NGINX checks the client certificate for the TLS client purpose: an extended key usage without " +
				"clientAuth, a key usage without digitalSignature, or a CA certificate used as the agent's own " +
				"gets 400 \"The SSL certificate error\" (\"unsuitable certificate purpose\").",
			Needs: need, Evaluate: evalAgentPurpose, Fix: fixAgentPurpose,
			Manager:     givenCertSide("agent-cert-wrong-purpose", evalAgentPurpose, fixAgentPurpose),
			LogKinds:    []logparse.Kind{logparse.KindAgentCertWrongPurpose},
			LiveVerdict: true,
		},
		{
			ID: "agent-cert-weak-key", Category: CategoryAgentCert,
			Title: "agent certificate uses a strong key and signature",
			Why: "Current OpenSSL builds (and so NGINX) reject RSA keys shorter than 2048 bits and SHA-1 or MD5 " +
				"signatures (\"ee key too small\", \"ca md too weak\"), so such a certificate is refused.",
			Needs: need, Evaluate: evalAgentWeak, Fix: fixAgentWeak,
			Manager:     givenCertSide("agent-cert-weak-key", evalAgentWeak, fixAgentWeak),
			LiveVerdict: true,
		},
		{
			ID: "agent-chain-incomplete", Category: CategoryAgentCert,
			Title: "agent certificate file carries its intermediate certificates",
			Why: "The agent sends only what is in its certificate file. If its certificate was issued by an " +
				"intermediate that is not in the file, Go withholds the certificate when NGINX asks for one from the " +
				"root (NGINX then says no certificate was sent), or NGINX cannot build the chain. When NGINX's own CA " +
				"file holds the intermediate it works, but only as long as that file does.",
			Needs: need, Wants: []FactKind{FactEndpoint}, Evaluate: evalAgentChain, Fix: fixAgentChain,
			LiveVerdict: true,
		},
	}
}

// agentCert returns the agent's leaf, or a skip result saying why there is none to judge.
func agentCert(f *Facts) (*x509.Certificate, Result, bool) {
	switch {
	case !tlsOn(f):
		return nil, noTLSSkip(f), false
	case f.Agent.Cert.Value == "":
		return nil, Skip("skipped: no client certificate is configured"), false
	}
	leaf := agentLeaf(f)
	if leaf == nil {
		return nil, Skip("skipped: %s holds no usable certificate (see agent-cert-file-unreadable)", f.Agent.Cert.Value), false
	}
	return leaf, Result{}, true
}

func evalAgentExpired(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	if lifeOf(leaf, f.Now) == lifeExpired {
		return Fail("agent certificate %s expired %s (%s ago)", certName(leaf), stamp(leaf.NotAfter), HumanDuration(f.Now.Sub(leaf.NotAfter))).Because(CauseExpired)
	}
	return OK("agent certificate %s is valid until %s", certName(leaf), stamp(leaf.NotAfter))
}

// serverDate is the server's Date header from any reply, or zero.
func serverDate(f *Facts) time.Time {
	if f.Endpoint == nil {
		return time.Time{}
	}
	for _, a := range []*probes.Attempt{f.Endpoint.Agent, f.Endpoint.NoCert} {
		if h := httpReply(a); h != nil && !h.Date.IsZero() {
			return h.Date
		}
	}
	return time.Time{}
}

// skewNote describes how our clock compares with the server's, if the gap is large.
func skewNote(f *Facts) (string, bool) {
	d := serverDate(f)
	if d.IsZero() {
		return "", false
	}
	skew := f.Now.Sub(d)
	if skew.Abs() <= f.Thresholds.MaxSkew {
		return "", false
	}
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("this host's clock is %s %s the server's (Date: %s)", skew.Abs().Round(time.Second), dir, stamp(d)), true
}

func evalAgentNotYetValid(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	if lifeOf(leaf, f.Now) != lifeNotYet {
		return OK("agent certificate %s has been valid since %s", certName(leaf), stamp(leaf.NotBefore))
	}
	r := Fail("agent certificate %s is valid only from %s, %s from now", certName(leaf), stamp(leaf.NotBefore), HumanDuration(leaf.NotBefore.Sub(f.Now))).Because(CauseNotYetValid)
	if note, skewed := skewNote(f); skewed {
		r.Summary += "; " + note
	}
	return r
}

func fixAgentNotYetValid(f *Facts, _ Result) []Step {
	return append([]Step{{
		Title: "Check this host's clock",
		Why: "If the clock is behind, the certificate looks not yet valid here and on any host with the same " +
			"error. Turn on NTP rather than setting the time by hand.",
		Commands: []string{"timedatectl status", "sudo timedatectl set-ntp true"},
		Verify:   []string{"clock-skew", "agent-cert-not-yet-valid"},
		Host:     HostAgent,
	}}, reissueAgentStep(f, "Or reissue the certificate with a start date in the past",
		"If the issuing host's clock was ahead, the certificate's notBefore is wrong and only a new certificate helps.",
		"agent-cert-not-yet-valid"))
}

func evalAgentExpiring(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	sev, msg := expiry(leaf, f.Now, f.Thresholds)
	if sev == SeveritySkip {
		return Skip("skipped: the agent certificate is outside its validity period (see agent-cert-expired)")
	}
	r := Result{Severity: sev, Summary: "agent certificate " + certName(leaf) + " " + msg}
	if r.Severity >= SeverityWarn {
		r = r.Because(CauseExpiring)
	}
	return r
}

func fixAgentRenew(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{
		{
			Title:    "See the agent certificate's dates",
			Commands: []string{showCert(h.Cert)},
			Verify:   []string{"agent-cert-expired", "agent-cert-expiring"},
			Host:     HostAgent,
		},
		reissueAgentStep(f, "Renew the agent certificate",
			"Renew with the same key so tls.key stays valid; agent v2 picks the new file up only after a restart.",
			"agent-cert-expired", "agent-cert-expiring", "agent-key-mismatch"),
	}
}

// purposeProblems lists why cert is unfit as a TLS client certificate.
func purposeProblems(c *x509.Certificate) []string {
	var out []string
	if c.BasicConstraintsValid && c.IsCA {
		out = append(out, fmt.Sprintf("%s is a CA certificate (CA:TRUE), not an agent certificate", certName(c)))
	}
	if !EKUAllows(c, x509.ExtKeyUsageClientAuth) {
		out = append(out, fmt.Sprintf("%s has extended key usage %s, without clientAuth", certName(c), ekuList(c)))
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) == 0 {
		out = append(out, fmt.Sprintf("%s has a key usage without digitalSignature", certName(c)))
	}
	return out
}

func evalAgentPurpose(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	ps := purposeProblems(leaf)
	if len(ps) == 0 {
		eku := ekuList(leaf)
		if eku == "" {
			eku = "no extended key usage (any purpose)"
		}
		return OK("agent certificate %s: %s", certName(leaf), eku)
	}
	r := Fail("%s", ps[0]).Because(CauseWrongPurpose)
	for _, p := range ps[1:] {
		r = r.With(Note(f.Agent.Cert.Value, "%s", p))
	}
	return r
}

func fixAgentPurpose(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{
		{Title: "See the certificate's extensions", Commands: []string{showCert(h.Cert)}, Verify: []string{"agent-cert-wrong-purpose"}, Host: HostAgent},
		reissueAgentStep(f, "Reissue the agent certificate for client authentication",
			"A server certificate or the CA certificate cannot stand in for the agent's; it needs its own with clientAuth.",
			"agent-cert-wrong-purpose"),
	}
}

func evalAgentWeak(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	var ws []string
	for _, c := range agentChain(f) {
		ws = append(ws, CertWeaknesses(c)...)
	}
	if len(ws) == 0 {
		return OK("agent certificate %s: %s key, %s", certName(leaf), KeyDescription(leaf.PublicKey), leaf.SignatureAlgorithm)
	}
	r := Fail("%s", ws[0]).Because(CauseWeakKey)
	for _, w := range ws[1:] {
		r = r.With(Note(f.Agent.Cert.Value, "%s", w))
	}
	return r
}

func fixAgentWeak(f *Facts, _ Result) []Step {
	r := agentReissue(f)
	r.newKey = true
	return []Step{r.step("Issue a new certificate with a new ECDSA P-256 key and SHA-256",
		"A weak key cannot be strengthened: make a new key, then a request for it. If the signature is SHA-1, the issuing CA must sign with SHA-256.",
		"agent-cert-weak-key", "agent-key-mismatch")}
}

// agentChainState is the agent's chain as NGINX would have to build it.
type agentChainState struct {
	leaf *x509.Certificate
	// missing are intermediates the cert file lacks but the CA file holds.
	missing []*x509.Certificate
	// lostIssuer is the DER issuer name the walk could not find anywhere; nil if none.
	lostIssuer []byte
	root       *x509.Certificate
	// inter are all intermediates between leaf and root that were found.
	inter []*x509.Certificate
}

func agentChainOf(f *Facts) agentChainState {
	chain := agentChain(f)
	st := agentChainState{leaf: chain[0]}
	var lost bool
	st.inter, st.root, lost = chainWalk(chain[0], chain[1:], caCerts(f))
	for _, c := range st.inter {
		if !containsCert(chain[1:], c) {
			st.missing = append(st.missing, c)
		}
	}
	if lost {
		last := chain[0]
		if n := len(st.inter); n > 0 {
			last = st.inter[n-1]
		}
		st.lostIssuer = last.RawIssuer
	}
	return st
}

func containsCert(pool []*x509.Certificate, c *x509.Certificate) bool {
	for _, p := range pool {
		if p.Equal(c) {
			return true
		}
	}
	return false
}

// acceptableCAs are the CA names the server advertised in the agent's attempt.
func acceptableCAs(f *Facts) [][]byte {
	if t := handshake(agentAttempt(f)); t != nil && t.CertRequested {
		return t.AcceptableCAs
	}
	return nil
}

func evalAgentChain(f *Facts) Result {
	leaf, skip, ok := agentCert(f)
	if !ok {
		return skip
	}
	if selfSigned(leaf) {
		return OK("agent certificate %s is self-signed; there is no chain to send", certName(leaf))
	}
	st := agentChainOf(f)
	if len(st.missing) > 0 {
		return chainMissing(f, st)
	}
	if st.lostIssuer != nil {
		issuer := dn(st.lostIssuer)
		for _, ca := range acceptableCAs(f) {
			if bytes.Equal(ca, st.lostIssuer) {
				return OK("agent certificate chains to %s, which the server accepts", issuer)
			}
		}
		r := Info("the issuer %s is in neither %s nor the CA file; if it is an intermediate, the agent must send it", issuer, f.Agent.Cert.Value)
		if len(leaf.IssuingCertificateURL) > 0 {
			r = r.With(Note(f.Agent.Cert.Value, "the certificate names its issuer's download address: %s", strings.Join(leaf.IssuingCertificateURL, ", ")))
		}
		return r
	}
	if len(st.inter) == 0 {
		return OK("agent certificate is issued directly by the root %s", certName(st.root))
	}
	return OK("%s carries %s up to the root %s", f.Agent.Cert.Value, Plural(len(st.inter), "intermediate"), certName(st.root))
}

// chainMissing judges a cert file without the intermediates that issued the agent
// certificate. The agent sends what the file holds; whether that works depends on two
// other parties. Go withholds the certificate when NGINX names CAs and the file reaches
// none of them (crypto/tls, Certificate.SupportsCertificate), and NGINX builds the rest
// of the chain only from its own ssl_client_certificate and ssl_trusted_certificate
// (X509_verify_cert with that store). It fails when one of them cannot, and warns, naming
// who supplies the intermediate today, when both can.
func chainMissing(f *Facts, st agentChainState) Result {
	names := make([]string, len(st.missing))
	for i, c := range st.missing {
		names[i] = certName(c)
	}
	what := fmt.Sprintf("%s lacks the intermediate %s that issued the agent certificate (it is in %s)",
		f.Agent.Cert.Value, strings.Join(names, ", "), f.Agent.CA.Value)
	chain := agentChain(f)
	a := agentAttempt(f)
	t := handshake(a)
	if cas := acceptableCAs(f); len(cas) > 0 && !acceptableMatch(chain, cas) {
		return Fail("%s: the server asks for certificates issued by %s, which the file alone does not reach, so Go sends none",
			what, joinNames(dnList(cas), 2)).Because(CauseIntermediateMissing).With(Quoted(f.Endpoint.Address, "CA names the server advertised", dnList(cas)...))
	}
	if t != nil && a.WithClientCert && t.CertRequested && t.ClientCertSent {
		if h := httpReply(a); h != nil {
			switch code := rejection(h); {
			case code == 495 || code == 16:
				return Fail("%s, and NGINX rejected the certificate (%s): it cannot build the chain without it", what, replyText(h)).Because(CauseIntermediateMissing)
			case code == 0:
				return Warn("%s; it works today because NGINX accepted it (%s): the CA file behind ssl_client_certificate supplies the intermediate%s",
					what, replyText(h), advertisedNote(t.AcceptableCAs, st.missing)).Because(CauseIntermediateMissing)
			}
		}
	}
	if r, ok := chainMissingOnManager(f, chain, st.missing, what); ok {
		return r
	}
	return Warn("%s; whether NGINX's ssl_client_certificate supplies it could not be seen from here (no answer from the server)", what).Because(CauseIntermediateMissing)
}

// advertisedNote says when the server lists the missing intermediate among its CA names.
func advertisedNote(cas [][]byte, missing []*x509.Certificate) string {
	for _, ca := range cas {
		if bytes.Equal(ca, missing[0].RawSubject) {
			return " (the server lists " + certName(missing[0]) + " among the CAs it asks for)"
		}
	}
	return ""
}

// chainMissingOnManager judges a cert file without its intermediates against this host's
// NGINX, when it serves the agents: whether its verify store holds them and OpenSSL's
// predicted verdict on the file as the agent sends it.
func chainMissingOnManager(f *Facts, chain, missing []*x509.Certificate, what string) (Result, bool) {
	if !managerHost(f) {
		return Result{}, false
	}
	port := atoiOr(f.Agent.Port.Value, 0)
	for _, s := range f.Nginx.Servers {
		if port > 0 && !s.ListensOn(port) || s.SSL.VerifyClient.Value == "off" {
			continue
		}
		if _, ok := predictable(f, s); !ok {
			continue
		}
		v := predictFor(f, s, chain)
		ca := caFilesText(s)
		holds := true
		for _, c := range missing {
			holds = holds && containsCert(verifyStore(s), c)
		}
		switch {
		case !v.Sent:
			return Fail("%s: the %s names CAs the file alone does not reach, so Go sends none", what, serverLabel(s)).Because(CauseIntermediateMissing), true
		case !holds:
			r := Fail("%s, and %s of the %s lacks it too: NGINX cannot build the chain", what, ca, serverLabel(s)).Because(CauseIntermediateMissing)
			if v.LogLine() != "" {
				r = r.With(Quoted(s.Pos(), "NGINX would log", predictedLine(v)))
			}
			return r, true
		default:
			return Warn("%s; NGINX builds the chain today because %s of the %s holds the intermediate", what, ca, serverLabel(s)).Because(CauseIntermediateMissing), true
		}
	}
	return Result{}, false
}

// appendFromCAFile returns a command that appends c from the CA file to the cert file, by
// its PEM block's line; "" when the line cannot be told.
func appendFromCAFile(f *Facts, c *x509.Certificate, certPath string) string {
	ca := f.Files.CA
	if ca == nil || ca.Encoding != "pem" {
		return ""
	}
	var lines []int
	for _, b := range ca.Blocks {
		if b.Type == "CERTIFICATE" {
			lines = append(lines, b.Line)
		}
	}
	if len(lines) != len(ca.Certs) {
		return ""
	}
	for i, x := range ca.Certs {
		if x.Equal(c) {
			return fmt.Sprintf("sudo sed -n '%d,/-----END CERTIFICATE-----/p' %s | sudo tee -a %s >/dev/null", lines[i], shellQuote(ca.Path), shellQuote(certPath))
		}
	}
	return ""
}

func fixAgentChain(f *Facts, _ Result) []Step {
	h := hostOf(f)
	verify := []string{"agent-chain-incomplete", "agent-cert-unknown-ca", "agent-cert-rejected"}
	show := "openssl crl2pkcs7 -nocrl -certfile " + shellQuote(h.Cert) + " | openssl pkcs7 -print_certs -noout"
	appendFile := "sudo cat '<intermediate-path>' | sudo tee -a " + shellQuote(h.Cert) + " >/dev/null"
	if f == nil || f.Files == nil || agentLeaf(f) == nil {
		return []Step{{
			Title:    "Append the intermediate certificate to " + h.Cert,
			Why:      "The agent's certificate comes first, then the intermediate that issued it; the root stays out.",
			Commands: []string{backupCommand(h.Cert), appendFile, show, restartAgent},
			Changes:  []string{h.Cert},
			Verify:   verify,
			Host:     HostAgent,
		}}
	}
	st := agentChainOf(f)
	cmds := []string{backupCommand(h.Cert)}
	why := "The agent's certificate comes first, then each intermediate up to (not including) the root."
	for _, c := range st.missing {
		if cmd := appendFromCAFile(f, c, h.Cert); cmd != "" {
			cmds = append(cmds, cmd)
		} else {
			why += " The intermediate " + certName(c) + " is not in a file mtls-doctor read."
			cmds = append(cmds, appendFile)
		}
	}
	if len(st.missing) == 0 && st.lostIssuer != nil {
		why += " Get the intermediate " + dn(st.lostIssuer) + " from whoever issued the certificate."
		if urls := st.leaf.IssuingCertificateURL; len(urls) > 0 {
			cmds = append(cmds, "curl -fsS "+shellQuote(urls[0])+" | openssl x509 -inform der | sudo tee -a "+shellQuote(h.Cert)+" >/dev/null")
		} else {
			cmds = append(cmds, appendFile)
		}
	}
	cmds = append(cmds, show, restartAgent)
	return []Step{{
		Title:    "Append the intermediate certificate to " + h.Cert,
		Why:      why,
		Commands: cmds,
		Changes:  []string{h.Cert},
		Verify:   verify,
		Host:     HostAgent,
	}}
}
