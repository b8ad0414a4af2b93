package diagnostics

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file holds the manager halves of the client-auth checks (agent-cert-unknown-ca,
// client-verify-depth, agent-cert-revoked, agent-cert-rejected, client-auth-not-required).

// trustCodes are the results that mean "the chain reaches no trusted CA".
var trustCodes = map[int]bool{opensslverdict.UnableToGetIssuer: true, opensslverdict.DepthZeroSelfSigned: true, opensslverdict.SelfSignedInChain: true,
	opensslverdict.UnableToGetIssuerLocally: true, opensslverdict.UnableToVerifyLeafSig: true}

func mgrUnknownCA(f *Facts) Result {
	return perServerVerdict(f, Skip("skipped: NGINX asks for no client certificate (see client-auth-not-required)"), func(s *probes.NginxServer, v nginxVerdict, chain []*x509.Certificate, path string) Result {
		if !v.Sent {
			r := Fail("NGINX asks for a certificate issued by %s, but %s is issued by %s: Go sends none and NGINX logs %q",
				joinNames(dnList(v.Advertised), 2), path, chainIssuers(chain), "client sent no required SSL certificate")
			if v.Outcome != outcomeNoCert && authRequestEnforced(s) {
				r.Summary = fmt.Sprintf("NGINX asks for a certificate issued by %s, but %s is issued by %s: Go sends none, and the auth_request in every agent location answers 401",
					joinNames(dnList(v.Advertised), 2), path, chainIssuers(chain))
			} else if v.Outcome != outcomeNoCert {
				r.Severity = SeverityWarn
				r.Summary = fmt.Sprintf("NGINX asks for a certificate issued by %s, but %s is issued by %s: Go sends none, and ssl_verify_client %s lets the agent in unauthenticated",
					joinNames(dnList(v.Advertised), 2), path, chainIssuers(chain), s.SSL.VerifyClient.Value)
			}
			return r.Because(CauseNoCertSent).With(verdictEvidence(s, v, path)...)
		}
		deep := predictAtDepth(f, s, chain, 100)
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] && v.Outcome != outcomeVerifyError && authRequestEnforced(s) {
			return Fail("%s does not chain to %s: $ssl_client_verify is \"FAILED:%s\", so the auth_request in every agent location answers 401",
				path, trustedCAText(s), e.Text()).WithCause(Cause{Code: CauseUntrusted, OpenSSL: e.Code}).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] && v.Outcome != outcomeVerifyError {
			return Warn("%s does not chain to %s; ssl_verify_client %s lets it in anyway ($ssl_client_verify is \"FAILED:%s\")",
				path, trustedCAText(s), s.SSL.VerifyClient.Value, e.Text()).WithCause(Cause{Code: CauseUntrusted, OpenSSL: e.Code}).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] {
			return Fail("%s does not chain to %s: NGINX logs \"client SSL certificate verify error: (%d:%s)\"",
				path, trustedCAText(s), e.Code, e.Text()).WithCause(Cause{Code: CauseUntrusted, OpenSSL: e.Code}).With(verdictEvidence(s, v, path)...)
		}
		top := deep.Verify.Chain[len(deep.Verify.Chain)-1]
		return OK("%s chains to %s, which NGINX trusts (%s)", path, certName(top), caFilesText(s))
	})
}

// authRequestEnforced reports whether s passes agents on only after an auth_request that
// checks $ssl_client_verify (NIM 2.x's /check-agent-client-cert): under optional or
// optional_no_ca an agent NGINX lets through without a verified certificate still gets 401.
func authRequestEnforced(s *probes.NginxServer) bool {
	if s.SSL.VerifyClient.Value == "on" || len(s.Routes) == 0 {
		return false
	}
	ok, _ := enforcedByAuthRequest(s)
	return ok
}

// trustedCAText names what an agent certificate must chain to: "a CA in NGINX's
// ssl_client_certificate /etc/nms/certs/ca.pem", or, without a CA file, says so.
func trustedCAText(s *probes.NginxServer) string {
	if !s.SSL.ClientCertificate.IsSet() && !s.SSL.TrustedCertificate.IsSet() {
		return "any CA NGINX trusts (it has no CA file)"
	}
	return "a CA in NGINX's " + caFilesText(s)
}

func caFilesText(s *probes.NginxServer) string {
	var out []string
	if s.SSL.ClientCertificate.IsSet() {
		out = append(out, "ssl_client_certificate "+s.SSL.ClientCertificate.Value)
	}
	if s.SSL.TrustedCertificate.IsSet() {
		out = append(out, "ssl_trusted_certificate "+s.SSL.TrustedCertificate.Value)
	}
	if len(out) == 0 {
		return "no CA file"
	}
	return strings.Join(out, " and ")
}

func fixMgrUnknownCA(f *Facts, r Result) []Step {
	s := judgedServer(f, r)
	if s == nil {
		return fixUnknownCA(f, r)
	}
	ca := s.SSL.ClientCertificate.Path
	if ca == "" {
		ca = s.SSL.TrustedCertificate.Path
	}
	if ca == "" {
		// optional_no_ca without a CA file: there is no file to add to; name one.
		return fixClientCAMissing(f, r)
	}
	steps := []Step{appendAgentsCAStep(f, ca)}
	if f.Agent != nil {
		// The agent is on this host too: the alternative that trusts nothing new.
		steps = append(steps, reissueAgentStep(f, "Or issue the agent a certificate from a CA the manager trusts",
			"When the manager must not trust the agent's current CA, sign the agent's request with one it already trusts (<ca-cert-path> is then that CA).",
			"agent-cert-unknown-ca", "agent-cert-rejected"))
	}
	return steps
}

// appendAgentsCAStep appends the CA that issues the agents' certificates (a file only the
// user can name) to the manager's CA file ca, then tests and reloads NGINX.
func appendAgentsCAStep(f *Facts, ca string) Step {
	return Step{
		Title: "Add the agents' CA to " + ca,
		Why: "Append the root that issued the agents' certificates (and any intermediate agents do not send) to the " +
			"file ssl_client_certificate names; NGINX sends its names to agents and verifies their chains against it. " +
			"Every certificate that CA issues is then accepted: add only a CA that issues agents.",
		Commands: []string{
			backupCommand(ca),
			"sudo cat '<agents-ca-path>' | sudo tee -a " + shellQuote(ca) + " >/dev/null",
			"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(ca) + " | openssl pkcs7 -print_certs -noout",
			reloadNginxFor(f),
		},
		Changes: []string{ca},
		Verify:  []string{"agent-cert-unknown-ca", "agent-cert-rejected"},
		Host:    HostManager,
	}
}

func mgrVerifyDepth(f *Facts) Result {
	return perServerVerdict(f, Skip("skipped: NGINX asks for no client certificate"), func(s *probes.NginxServer, v nginxVerdict, chain []*x509.Certificate, path string) Result {
		if !v.Sent {
			return Skip("skipped: Go would send no certificate (see agent-cert-unknown-ca)")
		}
		depth := atoiOr(s.SSL.VerifyDepth.Value, 1)
		need := neededDepth(f, s, chain)
		where := "ssl_verify_depth " + s.SSL.VerifyDepth.Value
		if !s.SSL.VerifyDepth.IsSet() {
			where = "ssl_verify_depth is not set (default 1)"
		}
		if need < 0 {
			return Skip("skipped: the chain fails at any depth (see agent-cert-unknown-ca)")
		}
		if need > depth {
			e, _ := v.Verify.Last()
			return Fail("%s needs ssl_verify_depth %d, but %s: NGINX logs %q", path, need, where, v.LogLine()).
				WithCause(Cause{Code: CauseVerifyDepth, OpenSSL: e.Code}).With(append([]Evidence{settingNote(s, "ssl_verify_depth", s.SSL.VerifyDepth)}, verdictEvidence(s, v, path)...)...)
		}
		return OK("%s needs depth %d; %s", path, need, where)
	})
}

// neededDepth is the smallest ssl_verify_depth at which chain verifies as well as it can
// (-1 when it never gets past building a trusted chain).
func neededDepth(f *Facts, s *probes.NginxServer, chain []*x509.Certificate) int {
	best := predictAtDepth(f, s, chain, 100)
	if e, failed := best.Verify.Last(); failed && trustCodes[e.Code] {
		return -1
	}
	for d := 0; d <= 10; d++ {
		v := predictAtDepth(f, s, chain, d)
		if !v.Verify.Has(opensslverdict.ChainTooLong) && len(v.Verify.Errors) == len(best.Verify.Errors) {
			return d
		}
	}
	return 10
}

func fixMgrVerifyDepth(f *Facts, r Result) []Step {
	s := judgedServer(f, r)
	if s == nil {
		return fixVerifyDepth(f, r)
	}
	chain, _, _, _ := judged(f)
	need := neededDepth(f, s, chain)
	return []Step{setServerDirective(f, s, s.SSL.VerifyDepth, "ssl_verify_depth", fmt.Sprint(need),
		fmt.Sprintf("Raise ssl_verify_depth to %d", need),
		"Depth 1 (NGINX's default) allows the agent's certificate and one intermediate below the root; each further intermediate needs one more.",
		"client-verify-depth", "agent-cert-rejected")}
}

func mgrRevoked(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		if !s.SSL.CRL.IsSet() {
			return OK("NGINX checks no CRL (no ssl_crl)")
		}
		c, skip, ok := crlServer(f, s)
		if !ok {
			return skip
		}
		chain, path, skip, ok := judged(f)
		if !ok {
			return skip
		}
		if r, ok := predictable(f, s); !ok {
			return r
		}
		v := predictFor(f, s, chain)
		for _, e := range v.Verify.Errors {
			if e.Code == opensslverdict.CertRevoked {
				return Fail("%s (serial %X) is revoked by the CRL from %s in %s: NGINX logs \"(23:certificate revoked)\"",
					certName(e.Cert), e.Cert.SerialNumber, dn(e.Cert.RawIssuer), c.Path).
					WithCause(Cause{Code: CauseRevoked, OpenSSL: e.Code}).With(append([]Evidence{directiveNote(s.SSL.CRL.Directive, "ssl_crl")}, verdictEvidence(s, v, path)...)...)
			}
		}
		return OK("no certificate of %s is revoked by the CRLs in %s", path, c.Path)
	})
}

// rejectionAnswer is what NGINX sends an agent it rejects with code (495 or 496) on s: the
// error_page target when s maps the code (NIM's @grpc_unauthenticated), else the 400 page.
func rejectionAnswer(s *probes.NginxServer, code int) string {
	if streamServer(s) {
		// ngx_stream_ssl_handler returns NGX_ERROR: the session ends, nothing is sent.
		return "nothing (a stream server closes the connection after the handshake)"
	}
	for i := range s.ErrorPages {
		if s.ErrorPages[i].Maps(code) {
			return fmt.Sprintf("%d (error_page sends it to %s)", code, s.ErrorPages[i].URI)
		}
	}
	title := titleCertError
	if code == 496 {
		title = titleNoCert
	}
	return fmt.Sprintf("400 %q (%d)", title, code)
}

func mgrRejected(f *Facts) Result {
	return perServerVerdict(f, OK("NGINX asks for no client certificate, so it rejects none (see client-auth-not-required)"), func(s *probes.NginxServer, v nginxVerdict, chain []*x509.Certificate, path string) Result {
		switch v.Outcome {
		case outcomeNoCert:
			// agent-cert-unknown-ca fails for the same prediction (mgrUnknownCA).
			return Info("NGINX would answer %s: Go sends no certificate for %s; the cause is reported as agent-cert-unknown-ca",
				rejectionAnswer(s, 496), path).Because(CauseNoCertSent).With(verdictEvidence(s, v, path)...)
		case outcomeVerifyError:
			e, _ := v.Verify.Last()
			if verifyFinding(f, e.Code) != "" {
				return Info("NGINX would answer %s and log %q; the cause is reported as %s",
					rejectionAnswer(s, 495), v.LogLine(), verifyFinding(f, e.Code)).WithCause(Cause{Code: CauseNginxVerdict, OpenSSL: e.Code}).With(verdictEvidence(s, v, path)...)
			}
			return Fail("NGINX would answer %s and log %q", rejectionAnswer(s, 495), v.LogLine()).WithCause(rejectionCause(f, s, chain, e.Code)).With(verdictEvidence(s, v, path)...)
		}
		if !v.Sent && authRequestEnforced(s) {
			return Fail("NGINX's auth_request in every agent location answers 401: Go sends no certificate for %s (ssl_verify_client %s)",
				path, s.SSL.VerifyClient.Value).Because(CauseNoCertSent).With(verdictEvidence(s, v, path)...)
		}
		if !v.Sent {
			return OK("NGINX lets the agent in without a certificate (ssl_verify_client %s; Go sends none)", s.SSL.VerifyClient.Value)
		}
		if e, failed := v.Verify.Last(); failed && authRequestEnforced(s) {
			return Fail("NGINX's auth_request in every agent location answers 401: $ssl_client_verify is \"FAILED:%s\" for %s under optional_no_ca",
				e.Text(), path).WithCause(rejectionCause(f, s, chain, e.Code)).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := v.Verify.Last(); failed {
			return OK("NGINX would accept %s under optional_no_ca although it does not verify ($ssl_client_verify FAILED:%s)", path, e.Text())
		}
		top := v.Verify.Chain[len(v.Verify.Chain)-1]
		return OK("NGINX would accept %s (verified up to %s)", path, certName(top))
	})
}

// rejectionCause is why NGINX rejects the agent's chain on s with OpenSSL's last error
// code: a trust code means a missing CA, unless the chain verifies at a larger
// ssl_verify_depth (NGINX 1.22 with OpenSSL 3 logs 20 for a chain that is too deep).
func rejectionCause(f *Facts, s *probes.NginxServer, chain []*x509.Certificate, code int) Cause {
	switch {
	case code == opensslverdict.ChainTooLong:
		return Cause{Code: CauseVerifyDepth, OpenSSL: code}
	case trustCodes[code] && neededDepth(f, s, chain) > atoiOr(s.SSL.VerifyDepth.Value, 1):
		return Cause{Code: CauseVerifyDepth, OpenSSL: code}
	case trustCodes[code]:
		return Cause{Code: CauseUntrusted, OpenSSL: code}
	case code == opensslverdict.CertRevoked:
		return Cause{Code: CauseRevoked, OpenSSL: code}
	}
	return Cause{Code: CauseVerifyError, OpenSSL: code}
}

// fixMgrRejected gives the playbook for the cause NGINX's predicted verdict names
// (mgrRejected): the last error OpenSSL reports, which is what NGINX logs.
func fixMgrRejected(f *Facts, r Result) []Step {
	switch r.Cause.Code {
	case CauseNoCertSent, CauseUntrusted:
		return fixMgrUnknownCA(f, r)
	case CauseVerifyDepth:
		return fixMgrVerifyDepth(f, r)
	}
	_, path := agentChainForManagerChecks(f)
	reissue := func(title, why string) []Step {
		st := reissueAgentStep(f, title, why, "agent-cert-rejected")
		if path != "" && f.Agent == nil {
			st.Why += " The certificate judged here is " + path + "."
		}
		return []Step{st}
	}
	switch r.Cause.OpenSSL {
	case opensslverdict.CertHasExpired, opensslverdict.CertNotYetValid:
		return reissue("Renew the agent certificate", "NGINX checks every certificate's dates at each connection.")
	case opensslverdict.InvalidPurpose, opensslverdict.EEKeyTooSmall, opensslverdict.CAMDTooWeak:
		return reissue("Reissue the agent certificate for TLS clients",
			"NGINX checks the sslclient purpose (extendedKeyUsage clientAuth, keyUsage digitalSignature) and OpenSSL's security level (RSA 2048, no SHA-1).")
	case opensslverdict.CertSignatureFailure:
		return reissue("Reissue the agent certificate from the CA NGINX trusts",
			"Its signature does not verify with the key of the CA NGINX trusts for agents: the certificate was damaged, "+
				"or signed by a CA re-created under the same name. A certificate signed by that CA's key, keeping the subject and names, verifies.")
	case opensslverdict.CertRevoked:
		return fixRevoked(f, r)
	case opensslverdict.UnableToGetCRL:
		return fixCRLMissing(f, r)
	case opensslverdict.CRLHasExpired, opensslverdict.CRLNotYetValid:
		return fixCRLExpired(f, r)
	}
	return []Step{{
		Title: "Read the cause OpenSSL reports in NGINX's log",
		Why: "The last error OpenSSL reports is what NGINX logs: 20, 21 or 2 mean a CA is missing (agent-cert-unknown-ca), " +
			"22 the depth (client-verify-depth), 3, 12 and 23 the CRLs, 10 and 9 the dates, 26 the purpose; each of those " +
			"findings has its own steps.",
		Commands: []string{"sudo grep -E 'client SSL certificate verify error|client sent no required SSL certificate' " +
			shellQuote(managerErrorLog(f)) + " | tail -n 5"},
		Verify: []string{"agent-cert-rejected", "agent-cert-unknown-ca", "client-verify-depth", "agent-cert-revoked", "crl-missing", "crl-expired"},
		Host:   HostManager,
	}}
}

// managerErrorLog is the error_log file of the agents' server in the configuration read
// here, or a placeholder.
func managerErrorLog(f *Facts) string {
	if managerHost(f) {
		for _, s := range f.Nginx.Servers {
			for _, l := range s.ErrorLogs {
				if strings.HasPrefix(l.Target, "/") {
					return l.Target
				}
			}
		}
	}
	return "<manager-error-log>"
}

// --- client-auth-not-required

func mgrAuthNotRequired(f *Facts) Result {
	if len(f.Nginx.Servers) == 0 {
		if r := mgrAuthNotRequiredNIM1(f); r.Severity != SeveritySkip {
			return r
		}
	}
	return perServer(f, func(s *probes.NginxServer) Result {
		vc := s.SSL.VerifyClient
		switch vc.Value {
		case "on":
			return OK("ssl_verify_client on")
		case "optional", "optional_no_ca":
			if streamServer(s) {
				return Warn("ssl_verify_client %s on a stream server: NGINX passes on agents without a valid certificate (a stream server has no auth_request to enforce it)",
					vc.Value).Because(CauseNotEnforced).With(directiveNote(vc.Directive, "ssl_verify_client"))
			}
			if ok, r := enforcedByAuthRequest(s); !ok {
				return Warn("ssl_verify_client %s, and location %s (%s) does not check $ssl_client_verify: a request without a certificate reaches the agent services",
					vc.Value, r.Location.Path, r.Location.Directive.Pos()).Because(CauseNotEnforced).With(directiveNote(vc.Directive, "ssl_verify_client"))
			}
			return OK("ssl_verify_client %s, enforced by auth_request in every agent location", vc.Value)
		}
		return Warn("the agents' server asks for no client certificate (%s): mutual TLS is not enforced", verifyClientText(vc)).
			Because(CauseNotRequired).With(settingNote(s, "ssl_verify_client", vc))
	})
}

func verifyClientText(vc nginxconf.Setting) string {
	if vc.Directive == nil {
		return "ssl_verify_client is not set"
	}
	return vc.Directive.String() + " at " + vc.Directive.Pos()
}

func fixMgrAuthNotRequired(f *Facts, r Result) []Step {
	s := judgedServer(f, r)
	if s == nil {
		return fixAuthNotRequired(f, r)
	}
	// NGINX Instance Manager keeps optional for its web UI and enforces mTLS with an
	// auth_request per agent location; offer that when the check location exists.
	if vc := s.SSL.VerifyClient.Value; vc == "optional" || vc == "optional_no_ca" {
		for _, l := range s.Locations {
			if l.Internal && checksClientVerify(s, l.Path) {
				var steps []Step
				for _, r := range s.Routes {
					if r.GRPCPass != "" && !r.Location.AuthRequest.IsSet() && !containsStep(steps, r.Location.Directive.Pos()) {
						st := nginxStep(f, "Enforce client certificates in location "+r.Location.Path,
							"The internal location "+l.Path+" answers 401 unless $ssl_client_verify is SUCCESS.",
							r.Location.Directive.File, insertAfterDiff(r.Location.Directive, "auth_request "+l.Path+";"),
							"client-auth-not-required", "agent-cert-rejected")
						st.Title += " (" + r.Location.Directive.Pos() + ")"
						steps = append(steps, st)
					}
				}
				if len(steps) > 0 {
					return steps
				}
			}
		}
	}
	return []Step{verifyClientOn(f, s, "Require client certificates: ssl_verify_client on",
		"NGINX then answers any request without a valid certificate with 400 (or the gRPC error your error_page maps 496 to).",
		"client-auth-not-required", "agent-cert-rejected")}
}

// verifyClientOn is the step that sets ssl_verify_client on in server s. NGINX refuses "on"
// without ssl_client_certificate ("no ssl_client_certificate for ssl_verify_client",
// src/http/modules/ngx_http_ssl_module.c), so a server without one gets one in the same
// edit: the file its ssl_trusted_certificate names (the CAs it verifies agents with now),
// else the agents' CA the user names.
func verifyClientOn(f *Facts, s *probes.NginxServer, title, why string, verify ...string) Step {
	if s.SSL.ClientCertificate.IsSet() {
		return setServerDirective(f, s, s.SSL.VerifyClient, "ssl_verify_client", "on", title, why, verify...)
	}
	ca := "<agents-ca-path>"
	if p := s.SSL.TrustedCertificate.Path; p != "" {
		ca = p
	}
	caLine := "ssl_client_certificate " + nginxValue(ca) + ";"
	why += " The server names no ssl_client_certificate, which \"on\" needs: " + caLine
	if vc := s.SSL.VerifyClient.Directive; vc != nil && vc.Parent == s.Directive {
		return nginxStep(f, title, why, vc.File, replaceDiff(vc, "ssl_verify_client on; "+caLine), verify...)
	}
	anchor := serverAnchor(s, "ssl_verify_client", "ssl_certificate_key", "server_name")
	return nginxStep(f, title, why, anchor.File, insertAfterDiff(anchor, "ssl_verify_client on;", caLine), verify...)
}

func containsStep(steps []Step, pos string) bool {
	for _, s := range steps {
		if strings.Contains(s.Title, pos) {
			return true
		}
	}
	return false
}
