package diagnostics

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file holds the manager halves of the served-certificate checks (server-cert-*,
// server-chain-incomplete, server-name-mismatch): the ssl_certificate files NGINX serves agents.

// --- the server certificate NGINX serves (ssl_certificate)

// servedCert is one certificate file a manager serves agents: an ssl_certificate of an
// agent-facing server, or NIM 1.x's cert.
type servedCert struct {
	// directive is the ssl_certificate directive; nimWhere is the file:line of NIM 1.x's
	// setting instead. where() formats it only when shown: a fleet has thousands.
	directive *nginxconf.Directive
	nimWhere  string
	path      string
	file      *probes.FileFacts
	key       *probes.FileFacts
	server    *probes.NginxServer // nil for NIM 1.x
}

// where is the file:line that names the served file.
func (sc servedCert) where() string {
	if sc.directive != nil {
		return sc.directive.Pos()
	}
	return sc.nimWhere
}

func servedCerts(f *Facts) []servedCert {
	if !managerHost(f) {
		return nil
	}
	out := make([]servedCert, 0, len(f.Nginx.Servers))
	for _, s := range f.Nginx.Servers {
		for i, c := range s.SSL.Certificates {
			if i >= len(s.Certs) || s.Certs[i] == nil {
				continue
			}
			sc := servedCert{directive: c.Directive, path: s.Certs[i].Path, file: s.Certs[i], server: s}
			if i < len(s.Keys) {
				sc.key = s.Keys[i]
			}
			out = append(out, sc)
		}
	}
	if c := f.Nginx.NIM1; c != nil && c.CertFile != nil && !nim1BehindNginx(f.Nginx) {
		out = append(out, servedCert{nimWhere: fmt.Sprintf("%s:%d", c.Path, c.Cert.Source.Line), path: c.CertFile.Path, file: c.CertFile, key: c.KeyFile})
	}
	return out
}

// perServedCert judges every served certificate file with fn and merges like perServer.
func perServedCert(f *Facts, fn func(sc servedCert) Result) Result {
	return judgeServedCerts(f, fn, false)
}

// judgeServedCerts is perServedCert. byFile says that fn's verdict depends on the file
// alone, not on the server naming it: each file is then judged once however many servers
// serve it (a fleet's servers share one certificate), and the worst again at its own
// directive, for evidence that points there.
func judgeServedCerts(f *Facts, fn func(sc servedCert) Result, byFile bool) Result {
	certs := servedCerts(f)
	results := make([]Result, 0, len(certs))
	usable := make([]servedCert, 0, len(certs))
	judged := map[*probes.FileFacts]Result{}
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
		r, ok := judged[sc.file]
		if !ok || !byFile {
			r = fn(sc)
			judged[sc.file] = r
		}
		results = append(results, r)
		usable = append(usable, sc)
	}
	if len(results) == 0 {
		return Skip("skipped: the certificate files NGINX serves are not on this host")
	}
	if byFile {
		// The worst file was judged at the first server that serves it: judge it again
		// at the worst's own directive, for evidence that points there.
		w := 0
		for i, r := range results {
			if r.Severity > results[w].Severity {
				w = i
			}
		}
		if _, ok := judged[usable[w].file]; ok {
			results[w] = fn(usable[w])
		}
	}
	out, worst := mergeWorst(results, func(i int) string { return usable[i].where() }, "server")
	out.Evidence = append([]Evidence{Note(usable[worst].where(), "served certificate file %s", usable[worst].path)}, out.Evidence...)
	if out.Subject.IsZero() {
		out.Subject = usable[worst].subject()
	}
	return out
}

// subject names the served certificate file as a finding's subject: its path and the
// directive that serves it.
func (sc servedCert) subject() Subject {
	return Subject{Kind: SubjectServedCert, Name: sc.path + " (" + sc.where() + ")"}
}

// judgedServedCert returns the served certificate r is about (perServedCert names it as
// r's Subject), else the first one NGINX serves; ok is false when it serves none.
func judgedServedCert(f *Facts, r Result) (servedCert, bool) {
	certs := servedCerts(f)
	if len(certs) == 0 {
		return servedCert{}, false
	}
	for _, sc := range certs {
		if sc.subject() == r.Subject {
			return sc, true
		}
	}
	return certs[0], true
}

// servedFacts is f with the endpoint replaced by what serving sc's file looks like to the
// agent: the chain in file order (NGINX sends exactly that), named by the directive.
func servedFacts(f *Facts, sc servedCert) *Facts {
	g := *f
	ep := &probes.EndpointReport{Address: sc.where(), Agent: &probes.Attempt{TLS: &probes.TLSObservation{PeerChain: sc.file.Certs}}}
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
			// The served-certificate checks judge the file's chain: the verdict is the
			// same for every server that serves it.
			return judgeServedCerts(f, func(sc servedCert) Result {
				r := agentEval(servedFacts(agent, sc))
				r.Summary = label + sc.path + ": " + r.Summary
				return r
			}, true)
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
			return Warn("%s lacks the intermediate %s; agents verify only because their CA file holds it", sc.path, certName(issuer)).Because(CauseIntermediateMissing)
		}
		var store []*x509.Certificate
		if sc.server != nil {
			store = verifyStore(sc.server)
		}
		if issuer := findIssuer(leaf, store, caCerts(f)); issuer != nil && selfSigned(issuer) {
			return OK("%s is issued directly by the root %s", certName(leaf), certName(issuer))
		} else if issuer != nil {
			return Warn("%s serves %s without its intermediate %s: it works only while every agent's CA file carries that intermediate",
				sc.path, certName(leaf), certName(issuer)).Because(CauseIntermediateMissing)
		}
		return Warn("%s serves %s without its issuer %s: if that is an intermediate, agents fail with \"certificate signed by unknown authority\" unless their tls.ca holds it",
			sc.path, certName(leaf), dn(leaf.RawIssuer)).Because(CauseIntermediateMissing)
	})
}

func fixMgrServerChain(f *Facts, r Result) []Step {
	path := "<server-cert-path>"
	appendCmd := "sudo cat '<intermediate-path>' | sudo tee -a " + shellQuote(path) + " >/dev/null"
	if certs := servedCerts(f); len(certs) > 0 {
		path = certs[0].path
		appendCmd = "sudo cat '<intermediate-path>' | sudo tee -a " + shellQuote(path) + " >/dev/null"
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
			appendCmd = "sudo cat '<intermediate-path>' | sudo tee -a " + shellQuote(path) + " >/dev/null"
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
			backupCommand(path),
			appendCmd,
			"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(path) + " | openssl pkcs7 -print_certs -noout",
			reloadNginxFor(f),
		},
		Changes: []string{path},
		Verify:  []string{"server-chain-incomplete", "server-cert-untrusted"},
		Host:    HostManager,
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
				return fmt.Sprintf("sudo sed -n '%d,/-----END CERTIFICATE-----/p' %s", lines[i], shellQuote(ff.Path)), true
			}
		}
	}
	return "", false
}

func mgrServerName(f *Facts) Result {
	var port int
	var chosen *nginxconf.Server
	if agentUsable(f) {
		port, chosen = agentsChoice(f)
	}
	return perServedCert(f, func(sc servedCert) Result {
		leaf := sc.file.Certs[0]
		if !hasHostSANs(leaf) {
			return Skip("skipped: the certificate has no SANs (see server-cert-cn-only)")
		}
		if agentUsable(f) {
			if r, wrong := sniSelectsOther(f, sc, port, chosen); wrong {
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
					n, sc.path, sanText(leaf), n, err.Error()).Because(CauseNameMismatch)
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
	return func(f *Facts, r Result) []Step { return serverReissueSteps(f, r, verify) }
}

// serverReissueSteps issue the manager's server certificate again where NGINX reads it:
// the name the agents verify joins its SANs (never replacing one), subject, usages and key
// stay, and the intermediates after it in the file stay too.
func serverReissueSteps(f *Facts, res Result, verify string) []Step {
	h := hostOf(f)
	r := reissuance{host: HostManager, cert: "<server-cert-path>", key: "<server-key-path>", subjectPlaceholder: "<manager-host>",
		caCert: "<server-ca-cert-path>", caKey: "<server-ca-key-path>", eku: "serverAuth", keepChain: true,
		after: []string{reloadNginxFor(f)}}
	name := h.Name
	if sc, ok := judgedServedCert(f, res); ok {
		r.cert = sc.path
		if sc.key != nil {
			r.key = sc.key.Path
		}
		if sc.file != nil && len(sc.file.Certs) > 0 {
			r.leaf = sc.file.Certs[0]
		}
		if !agentUsable(f) && sc.server != nil {
			if ns := plainServerNames(sc.server); len(ns) > 0 {
				name = ns[0]
			}
		}
	}
	if r.leaf == nil {
		if leaf, _, ok := serverLeafSafe(f); ok {
			r.leaf = leaf
		}
	}
	// Only a fault of the names adds one; a renewal keeps the names as they are.
	title := "Issue the server certificate again"
	switch {
	case r.leaf == nil:
		title = "Issue a new server certificate for " + name
		fallthrough
	case verify == "server-name-mismatch" || verify == "server-cert-cn-only" || verify == "server-cert-placeholder-san":
		if r.leaf != nil {
			title = "Issue the server certificate again with " + name + " among its names"
		}
		if net.ParseIP(name) != nil {
			r.addIP = []string{name}
		} else {
			r.addDNS = []string{name}
		}
	}
	steps := []Step{r.step(title, "The agents verify the name they dial (or their server name) against its SANs, and want serverAuth.",
		uniq([]string{verify, "server-name-mismatch", "server-chain-incomplete"})...)}
	if f != nil && f.Agent != nil {
		steps = append(steps, Step{
			Title:    "Check the new certificate as the agent sees it",
			Commands: []string{h.sClient(false)},
			Verify:   []string{verify},
			Host:     HostAgent,
		})
	}
	return steps
}
