package diagnostics

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// configProblem is one thing nginx -t would reject, in nginx's words where they are known.
type configProblem struct {
	where string
	msg   string
}

// fileMissing reports whether a file NGINX names is absent here. For a configuration read
// from nginx -T output, absent files are likely on the host it came from: unknown, not
// missing.
func fileMissing(f *Facts, ff *probes.FileFacts) (missing, unknown bool) {
	if ff == nil || ff.Exists {
		return false, false
	}
	if f.Nginx.Source == probes.NginxDump {
		return false, true
	}
	return true, false
}

// offlineProblems are what nginx -t would reject about the agent servers, found without
// running nginx: directive support for the version, files, key pairs, required directives.
func offlineProblems(f *Facts) []configProblem {
	n := f.Nginx
	var out []configProblem
	for _, s := range n.Servers {
		if d := s.HTTP2.Directive; d != nil && n.Version != "" && !nginxconf.VersionAtLeast(n.Version, "1.25.1") {
			out = append(out, configProblem{d.Pos(), fmt.Sprintf("unknown directive \"http2\" (NGINX %s; \"http2 on\" needs 1.25.1)", n.Version)})
		}
		sslListen := false
		for _, l := range s.Listens {
			sslListen = sslListen || l.SSL
		}
		if sslListen && len(s.SSL.Certificates) == 0 {
			l := s.Listens[0].Directive
			out = append(out, configProblem{l.Pos(), fmt.Sprintf("no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in %s", l.Pos())})
		}
		for i, c := range s.SSL.Certificates {
			if i >= len(s.SSL.CertificateKeys) {
				out = append(out, configProblem{c.Directive.Pos(), fmt.Sprintf("no \"ssl_certificate_key\" is defined for certificate %q", c.Value)})
				continue
			}
			cf, kf := s.Certs[i], s.Keys[i]
			if missing, _ := fileMissing(f, cf); missing {
				out = append(out, configProblem{c.Directive.Pos(), fmt.Sprintf("cannot load certificate %q: BIO_new_file() failed (no such file)", cf.Path)})
				continue
			}
			if missing, _ := fileMissing(f, kf); missing {
				k := s.SSL.CertificateKeys[i]
				out = append(out, configProblem{k.Directive.Pos(), fmt.Sprintf("cannot load certificate key %q: BIO_new_file() failed (no such file)", kf.Path)})
				continue
			}
			if cf != nil && kf != nil && kf.Key != nil && len(cf.Certs) > 0 && !publicKeysEqual(cf.Certs[0].PublicKey, kf.Key.Public) {
				k := s.SSL.CertificateKeys[i]
				out = append(out, configProblem{k.Directive.Pos(), fmt.Sprintf("SSL_CTX_use_PrivateKey(%q) failed (key values mismatch): the key does not belong to %s, the first certificate of %s",
					kf.Path, certName(cf.Certs[0]), cf.Path)})
			}
			if cf != nil && cf.Exists && cf.ReadError == "" && len(cf.Certs) == 0 {
				out = append(out, configProblem{c.Directive.Pos(), fmt.Sprintf("cannot load certificate %q: PEM_read_bio_X509_AUX() failed (no certificate in the file)", cf.Path)})
			}
		}
		mode := s.SSL.VerifyClient.Value
		if (mode == "on" || mode == "optional") && !s.SSL.ClientCertificate.IsSet() {
			newer := n.Version != "" && nginxconf.VersionAtLeast(n.Version, "1.27.2")
			switch {
			case newer && !s.SSL.TrustedCertificate.IsSet():
				out = append(out, configProblem{s.SSL.VerifyClient.Directive.Pos(), "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"})
			case !newer:
				out = append(out, configProblem{s.SSL.VerifyClient.Directive.Pos(), "no ssl_client_certificate for ssl_verify_client"})
			}
		}
		for _, st := range []struct {
			name string
			s    nginxconf.Setting
			ff   *probes.FileFacts
		}{{"ssl_client_certificate", s.SSL.ClientCertificate, s.ClientCA}, {"ssl_trusted_certificate", s.SSL.TrustedCertificate, s.TrustedCA}} {
			if missing, _ := fileMissing(f, st.ff); missing {
				out = append(out, configProblem{st.s.Directive.Pos(), fmt.Sprintf("%s %q: no such file; NGINX cannot load its CA certificates", st.name, st.ff.Path)})
			}
		}
		if s.CRL != nil && !s.CRL.Exists && n.Source != probes.NginxDump {
			out = append(out, configProblem{s.SSL.CRL.Directive.Pos(), fmt.Sprintf("X509_load_crl_file(%q) failed (no such file)", s.CRL.Path)})
		} else if s.CRL != nil && s.CRL.Exists && s.CRL.ReadError == "" && len(s.CRL.CRLs) == 0 {
			out = append(out, configProblem{s.SSL.CRL.Directive.Pos(), fmt.Sprintf("X509_load_crl_file(%q) failed: %s", s.CRL.Path, s.CRL.ParseError)})
		}
	}
	return out
}

func evalNginxInvalid(f *Facts) Result {
	n := f.Nginx
	if n.ReadError != "" && n.NIM1 == nil {
		return Fail("cannot read the NGINX configuration %s: %s", n.Main, n.ReadError).Because(CauseConfigInvalid)
	}
	if n.NIM1 != nil && n.NIM1.Error != nil {
		e := n.NIM1.Error
		where := e.Path
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d", e.Path, e.Line)
		}
		return Fail("nginx-manager cannot read %s: %s", where, e.Message).Because(CauseConfigInvalid)
	}
	if !n.Explicit && !n.Manager() {
		return Skip("skipped: no NGINX here serves the agents (not a manager host)")
	}
	if n.Config == nil {
		return OK("nginx-manager.conf %s parses", n.NIM1.Path)
	}
	if len(n.Errors) > 0 {
		e := n.Errors[0]
		r := Fail("nginx -t would fail: %s", e.Error()).Because(CauseConfigInvalid)
		for _, x := range n.Errors[1:] {
			r = r.With(Note(fmt.Sprintf("%s:%d", x.File, x.Line), "also: %s", x.Msg))
		}
		return r
	}
	if t := n.Test; t != nil && t.Error != nil {
		return Fail("nginx -t fails: %s", t.Error.Error()).Because(CauseConfigInvalid).With(Quoted(n.Binary, "nginx -t -c "+shellQuote(n.Main), "nginx: [emerg] "+t.Error.Error()))
	}
	problems := offlineProblems(f)
	if t := n.Test; t != nil && t.OK {
		r := OK("nginx -t accepts %s (NGINX %s)", n.Main, n.Version)
		for _, p := range problems {
			r = r.With(Note(p.where, "nginx -t passed although: %s", p.msg))
		}
		return r
	}
	how := "nginx -t was not run"
	switch {
	case n.Test != nil:
		how = "nginx -t could not decide: " + n.Test.Inconclusive
	case n.Source == probes.NginxDump:
		how = "read from nginx -T output"
	case n.Binary == "":
		how = "no nginx binary on this host"
	}
	if len(problems) > 0 {
		r := Fail("nginx -t would fail: %s in %s", problems[0].msg, problems[0].where).Because(CauseConfigInvalid).With(Note("", "%s", how))
		for _, p := range problems[1:] {
			r = r.With(Note(p.where, "also: %s", p.msg))
		}
		return r
	}
	return OK("the configuration parses and its agent servers' files load (%s)", how)
}

func fixNginxInvalid(f *Facts, _ Result) []Step {
	repairs, covers := configRepairs(f)
	if covers {
		return repairs
	}
	return append([]Step{showNginxError(f)}, repairs...)
}

// configRepairs are the edits that undo what nginx -t rejects where the tool knows what
// the line must say: "http2 on" on NGINX before 1.25.1, and a key that belongs to another
// certificate. covers is true when nginx -t's (or the offline check's) first error is one
// of them, so no step needs a person to read the line.
func configRepairs(f *Facts) (steps []Step, covers bool) {
	if f == nil || f.Nginx == nil || f.Nginx.Config == nil {
		return nil, false
	}
	n := f.Nginx
	first := ""
	switch {
	case len(n.Errors) > 0:
		return nil, false // a syntax error: nginx -t stops there, before any of these
	case n.Test != nil && n.Test.Error != nil:
		first = n.Test.Error.Error()
	default:
		if ps := offlineProblems(f); len(ps) > 0 {
			first = ps[0].msg
		}
	}
	if st, ok := http2OnRepair(f); ok {
		steps = append(steps, st)
		covers = covers || strings.Contains(first, `unknown directive "http2"`)
	}
	for _, r := range keyRepairs(f) {
		steps = append(steps, r.step)
		covers = covers || strings.Contains(first, "key values mismatch") && strings.Contains(first, r.key)
	}
	return steps, covers && first != ""
}

// http2OnRepair rewrites "http2 on;" for an NGINX older than 1.25.1, which does not know
// the directive: the directive goes, and the http2 parameter goes on the listen ... ssl
// directives of the servers it applied to. https://nginx.org/en/docs/http/ngx_http_v2_module.html#http2
// ("This directive appeared in version 1.25.1"; the listen parameter is the older way).
func http2OnRepair(f *Facts) (Step, bool) {
	n := f.Nginx
	if n.Version == "" || nginxconf.VersionAtLeast(n.Version, "1.25.1") {
		return Step{}, false
	}
	var d *nginxconf.Directive
	for _, s := range n.Servers {
		if s.HTTP2.Directive != nil {
			d = s.HTTP2.Directive
			break
		}
	}
	if d == nil {
		return Step{}, false
	}
	edits := []nginxEdit{{d.File, removeDiff(d)}}
	for _, s := range n.HTTPServers {
		if s.HTTP2.Directive != d || s.HTTP2.Value != "on" {
			continue
		}
		for _, l := range s.Listens {
			if l.SSL && !l.HTTP2 {
				edits = append(edits, nginxEdit{l.Directive.File, replaceDiff(l.Directive, strings.TrimSuffix(l.Directive.String(), ";")+" http2;")})
			}
		}
	}
	return nginxEditsStep(f, fmt.Sprintf("Replace \"http2 on\" with the listen parameter (NGINX %s)", n.Version),
		"NGINX "+n.Version+" does not know the http2 directive, which appeared in 1.25.1, so nginx -t rejects the whole configuration; "+
			"before 1.25.1 HTTP/2 is turned on by the http2 parameter of listen ... ssl.",
		[]string{"nginx-config-invalid", "nginx-http2-missing"}, edits...), true
}

// keyRepair is the step that points one ssl_certificate_key at the key of its certificate.
type keyRepair struct {
	step Step
	key  string // the path of the key that does not match
}

// keyRepairs point every ssl_certificate_key that holds another certificate's key at the
// key file found beside the certificate that does belong to it (compared by public key),
// or at the <server-key-path> the user names when none was found. The key's content is
// never shown, only its path.
func keyRepairs(f *Facts) []keyRepair {
	var out []keyRepair
	seen := map[*nginxconf.Directive]bool{}
	for _, s := range f.Nginx.Servers {
		for i, match := range s.MatchingKeys {
			if i >= len(s.SSL.CertificateKeys) || i >= len(s.Certs) || s.Certs[i] == nil || s.Keys[i] == nil {
				continue
			}
			kd := s.SSL.CertificateKeys[i].Directive
			if kd == nil || seen[kd] {
				continue
			}
			seen[kd] = true
			cert, wrong := s.Certs[i], s.Keys[i].Path
			value, how := nginxArg(match), "the key beside it that belongs to it, "+match
			if match == "" {
				value, how = `"<server-key-path>"`, "its key, which you name: none of the keys beside it belongs to it"
			}
			step := nginxStep(f, "Point ssl_certificate_key at the key of "+cert.Path,
				fmt.Sprintf("nginx -t refuses %s: it is the key of another certificate than %s, the first certificate of %s. "+
					"Point ssl_certificate_key at %s.", wrong, certName(cert.Certs[0]), cert.Path, how),
				kd.File, replaceDiff(kd, "ssl_certificate_key "+value+";"), "nginx-config-invalid")
			out = append(out, keyRepair{step, wrong})
		}
	}
	return out
}

// nginxArg writes s as one NGINX directive argument, quoted when it needs to be.
func nginxArg(s string) string {
	d := nginxconf.Directive{Name: "x", Args: []string{s}}
	return strings.TrimSuffix(strings.TrimPrefix(d.String(), "x "), ";")
}

// showNginxError is the step for an error the tool cannot rewrite: show the lines nginx -t
// names, for a person to decide.
func showNginxError(f *Facts) Step {
	file, line := "<manager-nginx-conf>", 0
	if f != nil && f.Nginx != nil {
		n := f.Nginx
		if n.Main != "" {
			file = n.Main
		}
		switch {
		case len(n.Errors) > 0:
			file, line = n.Errors[0].File, n.Errors[0].Line
		case n.Test != nil && n.Test.Error != nil && n.Test.Error.File != "":
			file, line = n.Test.Error.File, n.Test.Error.Line
		case n.Config != nil:
			if ps := offlineProblems(f); len(ps) > 0 {
				if p, l, ok := strings.Cut(ps[0].where, ":"); ok {
					file = p
					line, _ = strconv.Atoi(l)
				}
			}
		}
	}
	where, show := file, "sudo cat -n "+shellQuote(file)
	if line > 0 {
		where = fmt.Sprintf("%s:%d", file, line)
		show = fmt.Sprintf("sudo sed -n '%d,%dp' %s", max(1, line-3), line+3, shellQuote(file))
	}
	return Step{
		Title: "Fix what nginx -t names at " + where,
		Why: "nginx -t prints the first error with its file and line. \"http2 on\" needs NGINX 1.25.1 (older: add http2 " +
			"to the listen directive); a key must belong to the first certificate of its ssl_certificate file.",
		Commands: []string{show, reloadNginxFor(f)},
		Changes:  []string{file},
		Verify:   []string{"nginx-config-invalid"},
		Host:     HostManager,
		Manual:   "what the line should say is for a person to decide; the reload runs only once nginx -t passes",
	}
}
