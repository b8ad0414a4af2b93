package diagnostics

import (
	"crypto/x509"
	"fmt"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// This file judges the agent certificate against NGINX: the per-server prediction of
// NGINX's verdict that the client-auth checks' manager halves share.

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
