package diagnostics

import (
	"crypto/x509"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// verifyStore is a server's verify store: ssl_client_certificate, then ssl_trusted_certificate.
func verifyStore(s *probes.NginxServer) []*x509.Certificate {
	var out []*x509.Certificate
	for _, ff := range []*probes.FileFacts{s.ClientCA, s.TrustedCA} {
		if ff != nil {
			out = append(out, ff.Certs...)
		}
	}
	return out
}

// advertised are the CA names NGINX sends: the subjects of ssl_client_certificate.
func advertised(s *probes.NginxServer) [][]byte {
	if s.ClientCA == nil {
		return nil
	}
	var out [][]byte
	for _, c := range s.ClientCA.Certs {
		out = append(out, c.RawSubject)
	}
	return out
}

func evalClientCAMissing(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		mode := s.SSL.VerifyClient.Value
		if mode == "off" {
			return Skip("skipped: ssl_verify_client is off (see client-auth-not-required)")
		}
		cc, tc := s.SSL.ClientCertificate, s.SSL.TrustedCertificate
		if !cc.IsSet() && !tc.IsSet() {
			if mode == "optional_no_ca" {
				return Warn("ssl_verify_client optional_no_ca without ssl_client_certificate: NGINX verifies agent certificates against no CA at all").Because(CauseNoCAFile).
					With(settingNote(s, "ssl_verify_client", s.SSL.VerifyClient))
			}
			return Fail("ssl_verify_client %s but neither ssl_client_certificate nor ssl_trusted_certificate: nginx -t fails with \"no ssl_client_certificate for ssl_verify_client\"", mode).Because(CauseNoCAFile).
				With(settingNote(s, "ssl_verify_client", s.SSL.VerifyClient))
		}
		for _, x := range []struct {
			name string
			st   nginxconf.Setting
			ff   *probes.FileFacts
		}{{"ssl_client_certificate", cc, s.ClientCA}, {"ssl_trusted_certificate", tc, s.TrustedCA}} {
			if !x.st.IsSet() {
				continue
			}
			if x.ff == nil {
				return Info("%s %s names its file with variables; it cannot be checked here", x.name, x.st.Value).With(directiveNote(x.st.Directive, x.name))
			}
			missing, unknown := fileMissing(f, x.ff)
			switch {
			case missing:
				return Fail("%s %s does not exist", x.name, x.ff.Path).Because(CauseFileMissing).With(directiveNote(x.st.Directive, x.name))
			case unknown:
				return Skip("skipped: %s %s is not on this host (configuration from nginx -T)", x.name, x.ff.Path)
			case x.ff.ReadError != "":
				return Skip("skipped: cannot read %s: %s", x.ff.Path, x.ff.ReadError)
			case len(x.ff.Certs) == 0:
				return Fail("%s %s holds no certificate: NGINX cannot verify any agent", x.name, x.ff.Path).Because(CauseNoCACert).With(directiveNote(x.st.Directive, x.name))
			}
			cas := 0
			for _, c := range x.ff.Certs {
				if c.IsCA {
					cas++
				}
			}
			if cas == 0 {
				return Fail("%s %s holds %s but no CA certificate", x.name, x.ff.Path, Plural(len(x.ff.Certs), "certificate")).Because(CauseNoCACert).
					With(directiveNote(x.st.Directive, x.name))
			}
		}
		if !cc.IsSet() {
			return Info("only ssl_trusted_certificate %s is set: NGINX asks for a certificate without naming CAs, so agents send theirs whatever issued it", tc.Value).
				With(directiveNote(tc.Directive, "ssl_trusted_certificate"))
		}
		names := dnList(advertised(s))
		r := OK("ssl_client_certificate %s holds %s", cc.Value, Plural(len(names), "CA"))
		return r.With(Quoted(cc.Directive.Pos(), "CA names NGINX sends to agents", names...))
	})
}

func fixClientCAMissing(f *Facts, r Result) []Step {
	title := "Point ssl_client_certificate at the CA that issues agent certificates"
	why := "The file holds the CA certificates (root, and the intermediates if agents do not send them). NGINX sends " +
		"their names to agents, so it must include the CA that issued the agents' certificates."
	verify := []string{"nginx-client-ca-missing", "agent-cert-unknown-ca"}
	s := judgedServer(f, r)
	if s == nil {
		return []Step{nginxStep(f, title, why, managerNginxConf,
			"     ssl_verify_client on;\n+    ssl_client_certificate <agents-ca-path>;", verify...)}
	}
	if cc := s.SSL.ClientCertificate; cc.IsSet() && cc.Path != "" {
		// The directive is there; its file is missing or holds no CA: put the CA in it.
		return []Step{{
			Title: "Put the CA that issues agent certificates into " + cc.Path,
			Why:   why,
			Commands: []string{"[ ! -e " + shellQuote(cc.Path) + " ] || " + backupCommand(cc.Path),
				"sudo install -m 0644 '<agents-ca-path>' " + shellQuote(cc.Path),
				"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(cc.Path) + " | openssl pkcs7 -print_certs -noout",
				reloadNginxFor(f)},
			Changes: []string{cc.Path},
			Verify:  verify,
			Host:    HostManager,
		}}
	}
	return []Step{setServerDirective(f, s, s.SSL.ClientCertificate, "ssl_client_certificate", "<agents-ca-path>", title, why, verify...)}
}

// enforcedByAuthRequest reports whether every agent route's location has an auth_request
// whose location checks $ssl_client_verify (NGINX Instance Manager's
// /check-agent-client-cert), returning the first route that does not.
func enforcedByAuthRequest(s *probes.NginxServer) (bool, *probes.AgentRoute) {
	for i := range s.Routes {
		r := &s.Routes[i]
		if r.GRPCPass == "" {
			continue
		}
		ar := r.Location.AuthRequest
		if !ar.IsSet() || ar.Value == "off" || !checksClientVerify(s, ar.Args()[0]) {
			return false, r
		}
	}
	return true, nil
}

// checksClientVerify reports whether the location serving uri tests $ssl_client_verify.
func checksClientVerify(s *probes.NginxServer, uri string) bool {
	loc := nginxconf.SelectLocation(s.Server, uri)
	if loc == nil {
		return false
	}
	found := false
	for _, d := range loc.Directive.Find("if") {
		for _, a := range d.Args {
			if strings.Contains(a, "$ssl_client_verify") {
				found = true
			}
		}
	}
	return found
}

func evalOptionalNoCA(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		vc := s.SSL.VerifyClient
		if vc.Value != "optional_no_ca" {
			return OK("ssl_verify_client is %s", vc.Value)
		}
		if ok, _ := enforcedByAuthRequest(s); ok && !streamServer(s) {
			return OK("ssl_verify_client optional_no_ca, but every agent location's auth_request checks $ssl_client_verify")
		}
		return Warn("ssl_verify_client optional_no_ca at %s accepts agent certificates NGINX cannot chain to a trusted CA, self-signed ones included",
			vc.Directive.Pos()).Because(CauseNotEnforced).With(directiveNote(vc.Directive, "ssl_verify_client"))
	})
}

func fixOptionalNoCA(f *Facts, r Result) []Step {
	why := "on makes NGINX refuse any agent whose certificate does not verify against ssl_client_certificate; keep " +
		"optional only if a web UI on the same server must work without certificates."
	if s := judgedServer(f, r); s != nil {
		return []Step{verifyClientOn(f, s, "Set ssl_verify_client on", why,
			"nginx-ssl-verify-optional-no-ca", "client-auth-not-required")}
	}
	return []Step{nginxStep(f, "Set ssl_verify_client on", why, managerNginxConf,
		"-    ssl_verify_client optional_no_ca;\n+    ssl_verify_client on;", "nginx-ssl-verify-optional-no-ca", "client-auth-not-required")}
}
