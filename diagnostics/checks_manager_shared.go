package diagnostics

import (
	"crypto/x509"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// --- the agent certificate judged against NGINX

// predictable says whether NGINX's verdict can be predicted for server s: its CA files must
// be readable here.
func predictable(f *Facts, s *probes.NginxServer) (Result, bool) {
	for _, ff := range []*probes.FileFacts{s.ClientCA, s.TrustedCA} {
		if ff == nil {
			continue
		}
		if missing, unknown := fileMissing(f, ff); missing || unknown {
			return Skip("skipped: %s is not on this host, NGINX's verdict cannot be predicted", ff.Path), false
		}
		if ff.ReadError != "" {
			return Skip("skipped: cannot read %s: %s", ff.Path, ff.ReadError), false
		}
	}
	if (s.SSL.ClientCertificate.IsSet() && s.ClientCA == nil) || (s.SSL.TrustedCertificate.IsSet() && s.TrustedCA == nil) {
		return Skip("skipped: the CA file is named with variables"), false
	}
	if mode := s.SSL.VerifyClient.Value; (mode == "on" || mode == "optional") && !s.SSL.ClientCertificate.IsSet() && !s.SSL.TrustedCertificate.IsSet() {
		// NGINX refuses to load it ("no ssl_client_certificate for ssl_verify_client"):
		// there is no verdict on an agent to predict.
		return Skip("skipped: ssl_verify_client %s without a CA file does not load (see nginx-client-ca-missing)", mode), false
	}
	return Result{}, true
}

// predictFor predicts NGINX's verdict on chain for server s.
func predictFor(f *Facts, s *probes.NginxServer, chain []*x509.Certificate) nginxVerdict {
	return predictAtDepth(f, s, chain, atoiOr(s.SSL.VerifyDepth.Value, 1))
}

func predictAtDepth(f *Facts, s *probes.NginxServer, chain []*x509.Certificate, depth int) nginxVerdict {
	var crls []*x509.RevocationList
	crlCheck := s.SSL.CRL.IsSet() && s.CRL != nil && s.CRL.Exists && s.CRL.ReadError == ""
	if crlCheck {
		crls = s.CRL.CRLs
	}
	return predictNginx(chain, s.SSL.VerifyClient.Value, verifyStore(s), advertised(s), crlCheck, crls, depth, f.Now)
}

// perServerVerdict judges the agent certificate (--cert, or the agent's own) against every
// agent-facing server whose verdict can be predicted: judge gets NGINX's predicted verdict.
// A server that asks for no certificate gets off.
func perServerVerdict(f *Facts, off Result, judge func(s *probes.NginxServer, v nginxVerdict, chain []*x509.Certificate, path string) Result) Result {
	chain, path, skip, ok := judged(f)
	if !ok {
		return skip
	}
	return perServer(f, func(s *probes.NginxServer) Result {
		if s.SSL.VerifyClient.Value == "off" {
			return off
		}
		if r, ok := predictable(f, s); !ok {
			return r
		}
		return judge(s, predictFor(f, s, chain), chain, path)
	})
}

// judged returns the agent chain to judge and its file, or a skip asking for --cert.
func judged(f *Facts) ([]*x509.Certificate, string, Result, bool) {
	files, path := agentChainForManagerChecks(f)
	if files == nil {
		if f.Nginx != nil && f.Nginx.AgentCert != nil {
			ac := f.Nginx.AgentCert
			switch {
			case !ac.Exists:
				return nil, "", Skip("skipped: --cert %s does not exist", ac.Path), false
			case ac.ReadError != "":
				return nil, "", Skip("skipped: cannot read --cert %s: %s", ac.Path, ac.ReadError), false
			case ac.Encoding == "pkcs12":
				return nil, "", Skip("skipped: --cert %s is a PKCS#12 bundle; give the PEM certificate (%s)", ac.Path, pkcs12CertCommand(ac.Path, "cert.pem")), false
			}
			return nil, "", Skip("skipped: --cert %s holds no certificate", ac.Path), false
		}
		return nil, "", Skip("skipped: no agent certificate to judge against NGINX (give --cert AGENT.crt)"), false
	}
	return files[0].Certs, path, Result{}, true
}

// predictedLine is NGINX's log line for a verdict, as it appears in error.log.
func predictedLine(v nginxVerdict) string {
	return "[info] ... " + v.LogLine() + " while reading client request headers"
}

// verdictEvidence shows why the prediction is what it is.
func verdictEvidence(s *probes.NginxServer, v nginxVerdict, path string) []Evidence {
	var ev []Evidence
	if v.LogLine() != "" {
		ev = append(ev, Quoted(s.Pos(), fmt.Sprintf("NGINX would answer %s and log", rejectionAnswer(s, v.Status())), predictedLine(v)))
	}
	if !v.Sent && len(v.Advertised) > 0 {
		ev = append(ev, Quoted(s.SSL.ClientCertificate.Directive.Pos(), "CA names NGINX sends (ssl_client_certificate)", dnList(v.Advertised)...))
	}
	if len(v.Verify.Errors) > 0 {
		var lines []string
		for _, e := range v.Verify.Errors {
			name := ""
			if e.Cert != nil {
				name = " " + certName(e.Cert)
			}
			lines = append(lines, fmt.Sprintf("(%d:%s) at depth %d%s", e.Code, e.Text(), e.Depth, name))
		}
		ev = append(ev, Quoted(path, "OpenSSL's errors in the order it reports them; NGINX keeps the last", lines...))
	}
	return ev
}

func chainIssuers(chain []*x509.Certificate) string {
	var out []string
	for _, c := range chain {
		if !containsString(out, dn(c.RawIssuer)) {
			out = append(out, dn(c.RawIssuer))
		}
	}
	return joinNames(out, 3)
}

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
			return r.With(verdictEvidence(s, v, path)...)
		}
		deep := predictAtDepth(f, s, chain, 100)
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] && v.Outcome != outcomeVerifyError && authRequestEnforced(s) {
			return Fail("%s does not chain to %s: $ssl_client_verify is \"FAILED:%s\", so the auth_request in every agent location answers 401",
				path, trustedCAText(s), e.Text()).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] && v.Outcome != outcomeVerifyError {
			return Warn("%s does not chain to %s; ssl_verify_client %s lets it in anyway ($ssl_client_verify is \"FAILED:%s\")",
				path, trustedCAText(s), s.SSL.VerifyClient.Value, e.Text()).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := deep.Verify.Last(); failed && trustCodes[e.Code] {
			return Fail("%s does not chain to %s: NGINX logs \"client SSL certificate verify error: (%d:%s)\"",
				path, trustedCAText(s), e.Code, e.Text()).With(verdictEvidence(s, v, path)...)
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
	s := worstServer(f, mgrUnknownCA)
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
	_, path := agentChainForManagerChecks(f)
	return []Step{
		{
			Title: "Add the agents' CA to " + ca,
			Why: "Append the root that issued the agents' certificates (and any intermediate agents do not send) to the " +
				"file ssl_client_certificate names; NGINX sends its names to agents and verifies their chains against it.",
			Commands: []string{
				"openssl x509 -in " + shellQuote(path) + " -noout -issuer",
				"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(ca) + " | openssl pkcs7 -print_certs -noout",
				"sudo cp -p " + shellQuote(ca) + " " + shellQuote(ca) + ".bak",
				"cat agents-ca.pem | sudo tee -a " + shellQuote(ca) + " >/dev/null",
				reloadNginxFor(f),
			},
			Verify: []string{"agent-cert-unknown-ca", "agent-cert-rejected"},
		},
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
			return Fail("%s needs ssl_verify_depth %d, but %s: NGINX logs %q", path, need, where, v.LogLine()).
				With(append([]Evidence{settingNote(s, "ssl_verify_depth", s.SSL.VerifyDepth)}, verdictEvidence(s, v, path)...)...)
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
	s := worstServer(f, mgrVerifyDepth)
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
					With(append([]Evidence{directiveNote(s.SSL.CRL.Directive, "ssl_crl")}, verdictEvidence(s, v, path)...)...)
			}
		}
		return OK("no certificate of %s is revoked by the CRLs in %s", path, c.Path)
	})
}

// rejectionAnswer is what NGINX sends an agent it rejects with code (495 or 496) on s: the
// error_page target when s maps the code (NIM's @grpc_unauthenticated), else the 400 page.
func rejectionAnswer(s *probes.NginxServer, code int) string {
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
				rejectionAnswer(s, 496), path).With(verdictEvidence(s, v, path)...)
		case outcomeVerifyError:
			if e, _ := v.Verify.Last(); verifyFinding(f, e.Code) != "" {
				return Info("NGINX would answer %s and log %q; the cause is reported as %s",
					rejectionAnswer(s, 495), v.LogLine(), verifyFinding(f, e.Code)).With(verdictEvidence(s, v, path)...)
			}
			return Fail("NGINX would answer %s and log %q", rejectionAnswer(s, 495), v.LogLine()).With(verdictEvidence(s, v, path)...)
		}
		if !v.Sent && authRequestEnforced(s) {
			return Fail("NGINX's auth_request in every agent location answers 401: Go sends no certificate for %s (ssl_verify_client %s)",
				path, s.SSL.VerifyClient.Value).With(verdictEvidence(s, v, path)...)
		}
		if !v.Sent {
			return OK("NGINX lets the agent in without a certificate (ssl_verify_client %s; Go sends none)", s.SSL.VerifyClient.Value)
		}
		if e, failed := v.Verify.Last(); failed && authRequestEnforced(s) {
			return Fail("NGINX's auth_request in every agent location answers 401: $ssl_client_verify is \"FAILED:%s\" for %s under optional_no_ca",
				e.Text(), path).With(verdictEvidence(s, v, path)...)
		}
		if e, failed := v.Verify.Last(); failed {
			return OK("NGINX would accept %s under optional_no_ca although it does not verify ($ssl_client_verify FAILED:%s)", path, e.Text())
		}
		top := v.Verify.Chain[len(v.Verify.Chain)-1]
		return OK("NGINX would accept %s (verified up to %s)", path, certName(top))
	})
}

// fixMgrRejected gives the playbook for the cause OpenSSL reports last, which is what NGINX
// logs.
func fixMgrRejected(f *Facts, r Result) []Step {
	code := 0
	if s := worstServer(f, mgrRejected); s != nil {
		if chain, _, _, ok := judged(f); ok {
			v := predictFor(f, s, chain)
			if v.Outcome == outcomeNoCert || !v.Sent {
				return fixMgrUnknownCA(f, r)
			}
			if e, failed := v.Verify.Last(); failed {
				code = e.Code
			}
		}
	}
	_, path := agentChainForManagerChecks(f)
	reissue := func(title, why string) []Step {
		st := reissueAgentStep(f, title, why, "agent-cert-rejected")
		if path != "" && f.Agent == nil {
			st.Why += " The certificate judged here is " + path + "."
		}
		return []Step{st}
	}
	switch code {
	case opensslverdict.CertHasExpired, opensslverdict.CertNotYetValid:
		return reissue("Renew the agent certificate", "NGINX checks every certificate's dates at each connection.")
	case opensslverdict.InvalidPurpose, opensslverdict.EEKeyTooSmall, opensslverdict.CAMDTooWeak:
		return reissue("Reissue the agent certificate for TLS clients",
			"NGINX checks the sslclient purpose (extendedKeyUsage clientAuth, keyUsage digitalSignature) and OpenSSL's security level (RSA 2048, no SHA-1).")
	case opensslverdict.ChainTooLong:
		return fixMgrVerifyDepth(f, r)
	case opensslverdict.CertRevoked:
		return fixRevoked(f, r)
	case opensslverdict.UnableToGetCRL:
		return fixCRLMissing(f, r)
	case opensslverdict.CRLHasExpired, opensslverdict.CRLNotYetValid:
		return fixCRLExpired(f, r)
	case opensslverdict.UnableToGetIssuerLocally, opensslverdict.UnableToGetIssuer, opensslverdict.UnableToVerifyLeafSig, opensslverdict.DepthZeroSelfSigned, opensslverdict.SelfSignedInChain:
		if worstServer(f, mgrVerifyDepth) != nil {
			return fixMgrVerifyDepth(f, r)
		}
		return fixMgrUnknownCA(f, r)
	}
	return []Step{{
		Title: "Fix the cause OpenSSL reports",
		Why: "The last error OpenSSL reports is what NGINX logs: 20, 21 or 2 mean a CA is missing (agent-cert-unknown-ca), " +
			"22 the depth (client-verify-depth), 3, 12 and 23 the CRLs, 10 and 9 the dates, 26 the purpose.",
		Commands: []string{"mtls-doctor explain agent-cert-unknown-ca", "mtls-doctor explain client-verify-depth"},
		Verify:   []string{"agent-cert-rejected", "agent-cert-unknown-ca", "client-verify-depth", "agent-cert-revoked", "crl-missing", "crl-expired"},
	}}
}

// --- client-auth-not-required

func mgrAuthNotRequired(f *Facts) Result {
	n := f.Nginx
	if len(n.Servers) == 0 && n.NIM1 != nil {
		c := n.NIM1
		return Warn("nginx-manager (NIM 1.x) serves agents itself on %s and asks for no client certificate (nginx-manager.conf has no client CA setting)",
			net.JoinHostPort(c.BindAddress.Value, c.GRPCPort.Value)).With(Note(c.Path, "cert %s, key %s", c.Cert.Value, c.Key.Value))
	}
	return perServer(f, func(s *probes.NginxServer) Result {
		vc := s.SSL.VerifyClient
		switch vc.Value {
		case "on":
			return OK("ssl_verify_client on")
		case "optional", "optional_no_ca":
			if ok, r := enforcedByAuthRequest(s); !ok {
				return Warn("ssl_verify_client %s, and location %s (%s) does not check $ssl_client_verify: a request without a certificate reaches the agent services",
					vc.Value, r.Location.Path, r.Location.Directive.Pos()).With(directiveNote(vc.Directive, "ssl_verify_client"))
			}
			return OK("ssl_verify_client %s, enforced by auth_request in every agent location", vc.Value)
		}
		return Warn("the agents' server asks for no client certificate (%s): mutual TLS is not enforced", verifyClientText(vc)).
			With(settingNote(s, "ssl_verify_client", vc))
	})
}

func verifyClientText(vc nginxconf.Setting) string {
	if vc.Directive == nil {
		return "ssl_verify_client is not set"
	}
	return vc.Directive.String() + " at " + vc.Directive.Pos()
}

func fixMgrAuthNotRequired(f *Facts, r Result) []Step {
	s := worstServer(f, mgrAuthNotRequired)
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
	return []Step{setServerDirective(f, s, s.SSL.VerifyClient, "ssl_verify_client", "on", "Require client certificates: ssl_verify_client on",
		"NGINX then answers any request without a valid certificate with 400 (or the gRPC error your error_page maps 496 to).",
		"client-auth-not-required", "agent-cert-rejected")}
}

func containsStep(steps []Step, pos string) bool {
	for _, s := range steps {
		if strings.Contains(s.Title, pos) {
			return true
		}
	}
	return false
}

// --- the server certificate NGINX serves (ssl_certificate)

// servedCert is one certificate file a manager serves agents: an ssl_certificate of an
// agent-facing server, or NIM 1.x's cert.
type servedCert struct {
	where  string // file:line of the directive
	path   string
	file   *probes.FileFacts
	key    *probes.FileFacts
	server *probes.NginxServer // nil for NIM 1.x
}

func servedCerts(f *Facts) []servedCert {
	var out []servedCert
	if !managerHost(f) {
		return nil
	}
	for _, s := range f.Nginx.Servers {
		for i, c := range s.SSL.Certificates {
			if i >= len(s.Certs) || s.Certs[i] == nil {
				continue
			}
			sc := servedCert{where: c.Directive.Pos(), path: s.Certs[i].Path, file: s.Certs[i], server: s}
			if i < len(s.Keys) {
				sc.key = s.Keys[i]
			}
			out = append(out, sc)
		}
	}
	if c := f.Nginx.NIM1; c != nil && c.CertFile != nil {
		out = append(out, servedCert{where: fmt.Sprintf("%s:%d", c.Path, c.Cert.Source.Line), path: c.CertFile.Path, file: c.CertFile, key: c.KeyFile})
	}
	return out
}

// perServedCert judges every served certificate file with fn and merges like perServer.
func perServedCert(f *Facts, fn func(sc servedCert) Result) Result {
	certs := servedCerts(f)
	var results []Result
	var usable []servedCert
	for _, sc := range certs {
		missing, unknown := fileMissing(f, sc.file)
		switch {
		case unknown:
			continue
		case missing, sc.file.ReadError != "", len(sc.file.Certs) == 0:
			results = append(results, Skip("skipped: %s holds no readable certificate (see nginx-config-invalid)", sc.path))
			usable = append(usable, sc)
			continue
		}
		results = append(results, fn(sc))
		usable = append(usable, sc)
	}
	if len(results) == 0 {
		return Skip("skipped: the certificate files NGINX serves are not on this host")
	}
	worst := 0
	for i, r := range results {
		if r.Severity > results[worst].Severity {
			worst = i
		}
	}
	out := results[worst]
	out.Evidence = append([]Evidence{Note(usable[worst].where, "served certificate file %s", usable[worst].path)}, out.Evidence...)
	for i, r := range results {
		if i != worst {
			out.Evidence = append(out.Evidence, Note(usable[i].where, "%s: %s", r.Severity, r.Summary))
		}
	}
	return out
}

// servedFacts is f with the endpoint replaced by what serving sc's file looks like to the
// agent: the chain in file order (NGINX sends exactly that), named by the directive.
func servedFacts(f *Facts, sc servedCert) *Facts {
	g := *f
	ep := &probes.EndpointReport{Address: sc.where, Agent: &probes.Attempt{TLS: &probes.TLSObservation{PeerChain: sc.file.Certs}}}
	if agentUsable(f) {
		ep.VerifyName = hostOf(f).Name
	}
	g.Endpoint = ep
	return &g
}

// servedSide is the manager half of a served-certificate check: the check's own
// evaluation (agentEval) applied to each certificate file NGINX serves the agents, as if the
// agent had received it; the playbook reissues the file.
func servedSide(id string, agentEval func(f *Facts) Result) *ManagerSide {
	return &ManagerSide{
		Evaluate: func(f *Facts) Result {
			agent, label := f, "ssl_certificate "
			if id == "server-cert-untrusted" && (!agentUsable(f) || f.Files == nil) {
				// On a manager-only run, --ca is the agents' trust.
				g, given := givenCertFacts(f)
				if !given || g.Files.CA == nil {
					return Skip("skipped: the agents' CA file is not on this host (give --ca with --cert to judge it)")
				}
				agent, label = g, "--ca "+g.Files.CA.Path+", ssl_certificate "
			}
			return perServedCert(f, func(sc servedCert) Result {
				r := agentEval(servedFacts(agent, sc))
				r.Summary = label + sc.path + ": " + r.Summary
				return r
			})
		},
		Fix: managerReissue(id),
	}
}

func mgrServerChain(f *Facts) Result {
	return perServedCert(f, func(sc servedCert) Result {
		chain := sc.file.Certs
		leaf := chain[0]
		switch {
		case selfSigned(leaf):
			return OK("%s is self-signed; there is no intermediate", certName(leaf))
		case findIssuer(leaf, chain[1:]) != nil:
			return OK("%s holds %s with its issuer %s", sc.path, certName(leaf), certName(findIssuer(leaf, chain[1:])))
		}
		if issuer := findIssuer(leaf, caCerts(f)); issuer != nil && !selfSigned(issuer) {
			return Warn("%s lacks the intermediate %s; agents verify only because their CA file holds it", sc.path, certName(issuer))
		}
		var store []*x509.Certificate
		if sc.server != nil {
			store = verifyStore(sc.server)
		}
		if issuer := findIssuer(leaf, store, caCerts(f)); issuer != nil && selfSigned(issuer) {
			return OK("%s is issued directly by the root %s", certName(leaf), certName(issuer))
		} else if issuer != nil {
			return Warn("%s serves %s without its intermediate %s: it works only while every agent's CA file carries that intermediate",
				sc.path, certName(leaf), certName(issuer))
		}
		return Warn("%s serves %s without its issuer %s: if that is an intermediate, agents fail with \"certificate signed by unknown authority\" unless their tls.ca holds it",
			sc.path, certName(leaf), dn(leaf.RawIssuer))
	})
}

func fixMgrServerChain(f *Facts, r Result) []Step {
	path := managerServerCert
	appendCmd := "cat ca_int.crt | sudo tee -a " + shellQuote(path) + " >/dev/null"
	if certs := servedCerts(f); len(certs) > 0 {
		path = certs[0].path
		appendCmd = "cat ca_int.crt | sudo tee -a " + shellQuote(path) + " >/dev/null"
		// The intermediate is often on this host already, in the client CA file
		// (make_certs.sh's ca.pem): copy it from there.
		for _, sc := range certs {
			if len(sc.file.Certs) == 0 || selfSigned(sc.file.Certs[0]) || findIssuer(sc.file.Certs[0], sc.file.Certs[1:]) != nil {
				continue
			}
			files := []*probes.FileFacts{}
			if sc.server != nil {
				files = append(files, sc.server.ClientCA, sc.server.TrustedCA)
			}
			if f.Files != nil {
				files = append(files, f.Files.CA)
			}
			var pool []*x509.Certificate
			for _, ff := range files {
				if ff != nil {
					pool = append(pool, ff.Certs...)
				}
			}
			path = sc.path
			appendCmd = "cat ca_int.crt | sudo tee -a " + shellQuote(path) + " >/dev/null"
			if issuer := findIssuer(sc.file.Certs[0], pool); issuer != nil && !selfSigned(issuer) {
				if cmd, ok := pemBlockCommand(issuer, files...); ok {
					appendCmd = cmd + " | sudo tee -a " + shellQuote(path) + " >/dev/null"
				}
			}
			break
		}
	}
	return []Step{{
		Title: "Append the intermediate to " + path,
		Why: "NGINX sends exactly the certificates in the ssl_certificate file: the server's first, then its intermediate(s). " +
			"The root stays out; agents have it in their CA file.",
		Commands: []string{
			"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(path) + " | openssl pkcs7 -print_certs -noout",
			"sudo cp -p " + shellQuote(path) + " " + shellQuote(path) + ".bak",
			appendCmd,
			reloadNginxFor(f),
		},
		Verify: []string{"server-chain-incomplete", "server-cert-untrusted"},
	}}
}

// pemBlockCommand returns a command that prints c's PEM block from the first of files that
// holds it: sed from its BEGIN line to the END line after it. ok is false when no PEM file
// holds it, or a file's blocks cannot be matched to its certificates one to one.
func pemBlockCommand(c *x509.Certificate, files ...*probes.FileFacts) (string, bool) {
	for _, ff := range files {
		if ff == nil || ff.Encoding != "pem" || ff.ParseError != "" {
			continue
		}
		var lines []int
		for _, b := range ff.Blocks {
			if b.Type == "CERTIFICATE" {
				lines = append(lines, b.Line)
			}
		}
		if len(lines) != len(ff.Certs) {
			continue
		}
		for i, x := range ff.Certs {
			if x.Equal(c) {
				return fmt.Sprintf("sed -n '%d,/-----END CERTIFICATE-----/p' %s", lines[i], ff.Path), true
			}
		}
	}
	return "", false
}

// nameServerNames are the server_name values a certificate must match: host names, not
// "_", regexes or wildcards.
func plainServerNames(s *probes.NginxServer) []string {
	var out []string
	for _, n := range s.ServerNames {
		if n == "" || n == "_" || strings.HasPrefix(n, "~") || strings.ContainsAny(n, "*$") || strings.HasPrefix(n, ".") {
			continue
		}
		out = append(out, n)
	}
	return out
}

// sniSelectsOther reports when the agents' server name makes NGINX choose another server
// on their port than sc's: that server's certificate and locations answer them.
func sniSelectsOther(f *Facts, sc servedCert) (Result, bool) {
	h := hostOf(f)
	port := atoiOr(h.Port, 0)
	if sc.server == nil || port == 0 || !listensOn(sc.server, port) {
		return Result{}, false
	}
	chosen := selectServer(f.Nginx.HTTPServers, port, h.Name)
	if chosen == nil || chosen == sc.server.Server {
		return Result{}, false
	}
	return Fail("the agents' server name %s selects the %s (server_name %s) on port %d, not the agents' %s",
		h.Name, serverLabel(&probes.NginxServer{Server: chosen}), strings.Join(chosen.ServerNames, " "), port, serverLabel(sc.server)).
		With(Note(sc.server.Pos(), "the agents' server has server_name %s", strings.Join(sc.server.ServerNames, " "))), true
}

func listensOn(s *probes.NginxServer, port int) bool {
	for _, l := range s.Listens {
		if l.Port == port {
			return true
		}
	}
	return false
}

// selectServer is NGINX's choice of server for a TLS name on a port: an exact server_name,
// then the longest leading wildcard, the longest trailing wildcard, the first matching
// regex, and else the port's default_server or first server.
func selectServer(all []*nginxconf.Server, port int, name string) *nginxconf.Server {
	var onPort []*nginxconf.Server
	var def *nginxconf.Server
	for _, s := range all {
		for _, l := range s.Listens {
			if l.Port == port {
				onPort = append(onPort, s)
				if l.DefaultServer && def == nil {
					def = s
				}
				break
			}
		}
	}
	if len(onPort) == 0 {
		return nil
	}
	name = strings.ToLower(name)
	var lead, trail *nginxconf.Server
	leadLen, trailLen := 0, 0
	for _, s := range onPort {
		for _, n := range s.ServerNames {
			n = strings.ToLower(n)
			switch {
			case n == name:
				return s
			case strings.HasPrefix(n, "*.") && strings.HasSuffix(name, n[1:]) && len(n) > leadLen,
				strings.HasPrefix(n, ".") && (name == n[1:] || strings.HasSuffix(name, n)) && len(n) > leadLen:
				lead, leadLen = s, len(n)
			case strings.HasSuffix(n, ".*") && strings.HasPrefix(name, n[:len(n)-1]) && len(n) > trailLen:
				trail, trailLen = s, len(n)
			}
		}
	}
	if lead != nil {
		return lead
	}
	if trail != nil {
		return trail
	}
	for _, s := range onPort {
		for _, n := range s.ServerNames {
			if strings.HasPrefix(n, "~") {
				if re, err := regexp.Compile(n[1:]); err == nil && re.MatchString(name) {
					return s
				}
			}
		}
	}
	if def != nil {
		return def
	}
	return onPort[0]
}

func mgrServerName(f *Facts) Result {
	return perServedCert(f, func(sc servedCert) Result {
		leaf := sc.file.Certs[0]
		if !hasHostSANs(leaf) {
			return Skip("skipped: the certificate has no SANs (see server-cert-cn-only)")
		}
		if agentUsable(f) {
			if r, wrong := sniSelectsOther(f, sc); wrong {
				return r
			}
			r := evalServerName(servedFacts(f, sc))
			if r.Severity != SeverityOK {
				return r
			}
		}
		var names []string
		if sc.server != nil {
			names = plainServerNames(sc.server)
		} else if c := f.Nginx.NIM1; c != nil && c.ServerName.Value != "" {
			names = []string{c.ServerName.Value}
		}
		for _, n := range names {
			if err := leaf.VerifyHostname(n); err != nil {
				return Fail("server_name %s is not in the SANs of %s (%s): agents that dial %s fail with %q",
					n, sc.path, sanText(leaf), n, err.Error())
			}
		}
		if len(names) == 0 {
			return OK("%s names %s; server_name does not restrict the name", certName(leaf), sanText(leaf))
		}
		return OK("%s covers server_name %s", certName(leaf), strings.Join(names, ", "))
	})
}

// managerReissue is the playbook for a new server certificate in the files NGINX serves.
func managerReissue(verify string) func(f *Facts, r Result) []Step {
	return func(f *Facts, r Result) []Step {
		certs := servedCerts(f)
		if len(certs) == 0 {
			return fixServerReissue(verify)(f, r)
		}
		sc := certs[0]
		keyPath := managerServerKey
		if sc.key != nil {
			keyPath = sc.key.Path
		}
		name := hostOf(f).Name
		if !agentUsable(f) && sc.server != nil {
			if ns := plainServerNames(sc.server); len(ns) > 0 {
				name = ns[0]
			}
		}
		san := "DNS:" + name
		if net.ParseIP(name) != nil {
			san = "IP:" + name
		}
		return []Step{{
			Title: "Issue a new server certificate for " + name + " into " + sc.path,
			Why: "The request carries the name agents dial as a SAN; sign it with serverAuth where the CA key lives " +
				"(make_certs.sh: ca_int.key) and keep the intermediate after the certificate (" + sc.where + ").",
			Commands: []string{
				"sudo openssl req -new -key " + shellQuote(keyPath) + " -subj " + shellQuote(subjectArg(name)) +
					" -addext " + shellQuote("subjectAltName="+san) + " -out /tmp/server.csr",
				"printf 'extendedKeyUsage=serverAuth\\n' >server-ext.cnf",
				"openssl x509 -req -in /tmp/server.csr -CA ca_int.crt -CAkey ca_int.key -CAcreateserial -days 365 -sha256 " +
					"-copy_extensions copy -extfile server-ext.cnf -out server.crt",
				"sudo cp -p " + shellQuote(sc.path) + " " + shellQuote(sc.path) + ".bak",
				"cat server.crt ca_int.crt | sudo tee " + shellQuote(sc.path) + " >/dev/null",
				reloadNginxFor(f),
			},
			Verify: uniq([]string{verify, "server-name-mismatch", "server-chain-incomplete"}),
		}}
	}
}
