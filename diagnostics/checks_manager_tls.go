package diagnostics

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The manager-side checks on the agents' server block: HTTP/2, TLS versions, CRLs, error
// pages and the error log level.

// --- nginx-http2-missing

// http2On reports whether agents get h2 from server s: "http2 on", or the http2 listen
// parameter on s or on any server sharing one of its ports (the parameter belongs to the
// listening socket).
func http2On(f *Facts, s *probes.NginxServer) bool {
	if s.HTTP2Enabled() {
		return true
	}
	for _, other := range f.Nginx.HTTPServers {
		for _, ol := range other.Listens {
			if !ol.HTTP2 {
				continue
			}
			for _, l := range s.Listens {
				if l.Port == ol.Port && l.Unix == ol.Unix && (l.Addr == ol.Addr || l.Addr == "" || ol.Addr == "") {
					return true
				}
			}
		}
	}
	return false
}

// noH2Symptom is what agents see from an NGINX that cannot speak HTTP/2: since 1.21.4
// NGINX aborts a handshake whose ALPN offers nothing it supports; older ones complete it
// without ALPN, which grpc-go 1.67+ refuses.
func noH2Symptom(version string) string {
	const abort = "NGINX aborts the agents' handshakes (\"remote error: tls: no application protocol\", alert 120)"
	const noALPN = "agents fail with \"credentials: cannot check peer: missing selected ALPN property\""
	switch {
	case version == "":
		return abort + ", or on NGINX before 1.21.4 " + noALPN
	case nginxconf.VersionAtLeast(version, "1.21.4"):
		return abort
	}
	return noALPN
}

func evalHTTP2Missing(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		if streamServer(s) {
			return streamALPN(f, s)
		}
		if http2On(f, s) {
			how := "http2 on"
			if !s.HTTP2On {
				how = "listen ... http2"
			}
			return OK("HTTP/2 is on (%s)", how)
		}
		r := Fail("the server agents reach has no \"http2 on\" (nor \"listen ... http2\"): %s", noH2Symptom(f.Nginx.Version)).Because(CauseNoHTTP2)
		if len(s.Listens) > 0 {
			r = r.With(directiveNote(s.Listens[0].Directive, "listen without http2"))
		}
		return r
	})
}

// streamALPN judges a stream server that terminates the agents' TLS: it speaks no HTTP, so
// h2 is only negotiated when ssl_alpn names it (ngx_stream_ssl_module, NGINX 1.21.4+);
// without it NGINX answers the agents' ALPN offer with none, which grpc-go 1.67+ refuses.
func streamALPN(f *Facts, s *probes.NginxServer) Result {
	alpn := s.Stream.Server.ALPN
	if slices.Contains(alpn.Args(), "h2") {
		if r, bad := reEncryptALPN(f, s); bad {
			return r
		}
		return OK("the stream server negotiates h2 (ssl_alpn %s)", alpn.Value)
	}
	what := "has no ssl_alpn"
	if alpn.IsSet() {
		what = "has ssl_alpn " + alpn.Value + " without h2"
	}
	r := Fail("the stream server that terminates the agents' TLS %s: NGINX answers their ALPN offer with none, and agents fail with \"credentials: cannot check peer: missing selected ALPN property\"", what).Because(CauseNoHTTP2)
	if alpn.IsSet() {
		return r.With(directiveNote(alpn.Directive, "ssl_alpn"))
	}
	if len(s.Listens) > 0 {
		r = r.With(directiveNote(s.Listens[0].Directive, "listen ... ssl, no ssl_alpn"))
	}
	return r
}

// reEncryptALPN judges the ALPN a re-encrypting stream server offers its target: none
// unless proxy_ssl_alpn (NGINX 1.31.0+, commit 98fc3bb78 "Stream: support ALPN for
// proxy_ssl upstream") names h2. A target that picks HTTP/2 by ALPN (NGINX with http2,
// Go's net/http) then reads the agents' HTTP/2 preface as an HTTP/1.1 request.
func reEncryptALPN(f *Facts, s *probes.NginxServer) (Result, bool) {
	ss := s.Stream.Server
	if !s.Stream.ReEncrypts || slices.Contains(ss.ProxySSLALPN.Args(), "h2") {
		return Result{}, false
	}
	how := "proxy_ssl_alpn is not set"
	if v := f.Nginx.Version; v != "" && !nginxconf.VersionAtLeast(v, "1.31.0") {
		how = "NGINX " + v + " has no proxy_ssl_alpn in stream (1.31.0+)"
	}
	r := Warn("the stream server re-encrypts the agents' gRPC without offering ALPN h2 (%s): a target that chooses HTTP/2 by ALPN reads "+
		"the agents' preface as HTTP/1.1 (NGINX logs \"client sent invalid request ... \"PRI * HTTP/2.0\"\"); a gRPC server that does not need ALPN accepts it", how).
		Because(CauseNoHTTP2)
	if d := ss.ProxySSL.Directive; d != nil {
		r = r.With(directiveNote(d, "proxy_ssl"))
	}
	return r, true
}

func fixHTTP2Missing(f *Facts, r Result) []Step {
	why := "NGINX 1.25.1 and later take \"http2 on;\" in the server block; older versions need the http2 parameter on the listen directive."
	s := judgedServer(f, r)
	if streamServer(s) && slices.Contains(s.Stream.Server.ALPN.Args(), "h2") {
		return []Step{setServerDirective(f, s, s.Stream.Server.ProxySSLALPN, "proxy_ssl_alpn", "h2", "Offer h2 to the target the stream server re-encrypts to",
			"proxy_ssl_alpn (NGINX 1.31.0+) makes the stream server offer h2 when it opens TLS to its target; on older NGINX pass plaintext "+
				"to a gRPC port that needs no TLS (proxy_ssl off), or to a target that does not need ALPN.",
			"nginx-http2-missing")}
	}
	if streamServer(s) {
		return []Step{setServerDirective(f, s, s.Stream.Server.ALPN, "ssl_alpn", "h2", "Negotiate h2 on the stream server",
			"A stream server passes bytes and speaks no HTTP; ssl_alpn (NGINX 1.21.4+) makes it answer the agents' ALPN offer with h2, which gRPC requires.",
			"nginx-http2-missing", "alpn-h2-missing")}
	}
	if s == nil || len(s.Listens) == 0 {
		return []Step{nginxStep(f, "Turn on HTTP/2 for the agents' server", why, managerConfPath(f),
			"     listen 443 ssl;\n+    http2 on;", "nginx-http2-missing", "alpn-h2-missing")}
	}
	l := s.Listens[0].Directive
	if v := f.Nginx.Version; v != "" && !nginxconf.VersionAtLeast(v, "1.25.1") {
		text := strings.TrimSuffix(l.String(), ";") + " http2;"
		return []Step{nginxStep(f, "Add http2 to the listen directive (NGINX "+v+")", why, l.File, replaceDiff(l, text),
			"nginx-http2-missing", "alpn-h2-missing")}
	}
	return []Step{nginxStep(f, "Turn on HTTP/2 for the agents' server", why, l.File, insertAfterDiff(l, "http2 on;"),
		"nginx-http2-missing", "alpn-h2-missing")}
}

// --- nginx-tls-protocols

func sslServer(s *probes.NginxServer) bool {
	for _, l := range s.Listens {
		if l.SSL {
			return true
		}
	}
	return s.SSL.Legacy.Value == "on"
}

func evalTLSProtocols(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		if !sslServer(s) {
			return Skip("skipped: the server does not terminate TLS")
		}
		p := s.SSL.Protocols
		protos := p.Args()
		if !p.IsSet() {
			v := f.Nginx.Version
			switch {
			case v == "":
				return Info("ssl_protocols is not set; NGINX's default depends on its version (1.23.4 and later: TLSv1.2 TLSv1.3)")
			case nginxconf.VersionAtLeast(v, "1.23.4"):
				return OK("ssl_protocols is not set: NGINX %s's default is TLSv1.2 TLSv1.3", v)
			}
			protos = []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
		}
		var modern, old []string
		for _, x := range protos {
			switch x {
			case "TLSv1.2", "TLSv1.3":
				modern = append(modern, x)
			case "SSLv2", "SSLv3", "TLSv1", "TLSv1.1":
				old = append(old, x)
			}
		}
		ev := settingNote(s, "ssl_protocols", p)
		if !p.IsSet() {
			ev = Note(s.Pos(), "ssl_protocols is not set: NGINX %s's default is TLSv1 TLSv1.1 TLSv1.2 TLSv1.3", f.Nginx.Version)
		}
		switch {
		case len(modern) == 0:
			return Fail("ssl_protocols %s offers neither TLSv1.2 nor TLSv1.3: agents cannot connect (\"protocol version not supported\")", strings.Join(protos, " ")).Because(CauseTLSVersion).With(ev)
		case len(old) > 0:
			return Warn("ssl_protocols also enables %s, deprecated (RFC 8996) and never used by agents", strings.Join(old, " ")).Because(CauseDeprecatedProtocol).With(ev)
		}
		return OK("ssl_protocols %s", strings.Join(protos, " "))
	})
}

func fixTLSProtocols(f *Facts, r Result) []Step {
	title, why := "Offer TLS 1.2 and 1.3 only", "Agents speak TLS 1.2 and 1.3; nothing needs the older versions."
	if s := judgedServer(f, r); s != nil {
		return []Step{setServerDirective(f, s, s.SSL.Protocols, "ssl_protocols", "TLSv1.2 TLSv1.3", title, why,
			"nginx-tls-protocols", "tls-version-mismatch")}
	}
	return []Step{nginxStep(f, title, why, managerConfPath(f), "-    ssl_protocols TLSv1.1 TLSv1.2;\n+    ssl_protocols TLSv1.2 TLSv1.3;",
		"nginx-tls-protocols", "tls-version-mismatch")}
}

// --- crl-expired, crl-missing

// crlServer returns the server's CRL facts, or a skip when it has no usable ssl_crl.
func crlServer(f *Facts, s *probes.NginxServer) (*probes.CRLFacts, Result, bool) {
	c := s.CRL
	switch {
	case !s.SSL.CRL.IsSet():
		return nil, Skip("skipped: no ssl_crl, NGINX checks no CRL"), false
	case c == nil:
		return nil, Skip("skipped: ssl_crl %s names its file with variables", s.SSL.CRL.Value), false
	case !c.Exists && f.Nginx.Source == probes.NginxDump:
		return nil, Skip("skipped: ssl_crl %s is not on this host (configuration from nginx -T)", c.Path), false
	case !c.Exists:
		return nil, Skip("skipped: ssl_crl %s does not exist (see nginx-config-invalid)", c.Path), false
	case c.ReadError != "":
		return nil, Skip("skipped: cannot read %s: %s", c.Path, c.ReadError), false
	case len(c.CRLs) == 0:
		return nil, Skip("skipped: %s holds no CRL (see nginx-config-invalid)", c.Path), false
	}
	return c, Result{}, true
}

func evalCRLExpired(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		c, skip, ok := crlServer(f, s)
		if !ok {
			return skip
		}
		where := directiveNote(s.SSL.CRL.Directive, "ssl_crl")
		worst := OK("%s of %s %s current", Plural(len(c.CRLs), "CRL"), c.Path, map[bool]string{true: "is", false: "are"}[len(c.CRLs) == 1])
		for _, rl := range c.CRLs {
			issuer := dn(rl.RawIssuer)
			var r Result
			switch {
			case f.Now.Before(rl.ThisUpdate):
				r = Fail("the CRL from %s in %s is valid only from %s: NGINX rejects agents with \"(11:CRL is not yet valid)\"",
					issuer, c.Path, stamp(rl.ThisUpdate)).WithCause(Cause{Code: CauseNotYetValid, OpenSSL: opensslverdict.CRLNotYetValid})
			case !rl.NextUpdate.IsZero() && f.Now.After(rl.NextUpdate):
				r = Fail("the CRL from %s in %s expired %s (%s ago): NGINX rejects every agent with \"(12:CRL has expired)\"",
					issuer, c.Path, stamp(rl.NextUpdate), HumanDuration(f.Now.Sub(rl.NextUpdate))).WithCause(Cause{Code: CauseExpired, OpenSSL: opensslverdict.CRLHasExpired})
			case !rl.NextUpdate.IsZero():
				life, left := rl.NextUpdate.Sub(rl.ThisUpdate), rl.NextUpdate.Sub(f.Now)
				if life > 0 && float64(left) < float64(life)*float64(f.Thresholds.WarnPercent)/100 {
					r = Warn("the CRL from %s in %s expires %s (%s left)", issuer, c.Path, stamp(rl.NextUpdate), HumanDuration(left)).Because(CauseExpiring)
				}
			}
			if r.Severity > worst.Severity {
				worst = r
			}
		}
		return worst.With(where)
	})
}

func fixCRLExpired(f *Facts, r Result) []Step {
	path := "<crl-path>"
	if s := judgedServer(f, r); s != nil && s.CRL != nil {
		path = s.CRL.Path
	}
	return []Step{{
		Title: "Install fresh CRLs in " + path,
		Why: "Each CA publishes a new CRL before the old one's nextUpdate; fetch (or generate) the current ones, " +
			"concatenate them in one PEM file, and reload NGINX, which reads CRLs only at (re)load.",
		Commands: []string{
			backupCommand(path),
			"sudo cp '<new-crl-path>' " + shellQuote(path),
			"openssl crl -in " + shellQuote(path) + " -noout -issuer -lastupdate -nextupdate",
			reloadNginxFor(f),
		},
		Changes: []string{path},
		Verify:  []string{"crl-expired", "crl-missing"},
		Host:    HostManager,
	}}
}

// agentChainForManagerChecks is the agent certificate chain the manager checks judge: the agent's own cert
// file when this host has the agent too, else --cert. The label names its file.
func agentChainForManagerChecks(f *Facts) ([]*probes.FileFacts, string) {
	if f.Files != nil && f.Files.Cert != nil && len(f.Files.Cert.Certs) > 0 {
		return []*probes.FileFacts{f.Files.Cert}, f.Files.Cert.Path
	}
	if f.Nginx != nil && f.Nginx.AgentCert != nil && len(f.Nginx.AgentCert.Certs) > 0 {
		return []*probes.FileFacts{f.Nginx.AgentCert}, f.Nginx.AgentCert.Path
	}
	return nil, ""
}

func evalCRLMissing(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		c, skip, ok := crlServer(f, s)
		if !ok {
			return skip
		}
		where := directiveNote(s.SSL.CRL.Directive, "ssl_crl")
		have := func(issuer []byte) bool {
			for _, rl := range c.CRLs {
				if string(rl.RawIssuer) == string(issuer) {
					return true
				}
			}
			return false
		}
		if files, path := agentChainForManagerChecks(f); files != nil {
			v := predictFor(f, s, files[0].Certs)
			var missing []string
			for _, x := range v.Verify.Chain {
				if !have(x.RawIssuer) && !containsString(missing, dn(x.RawIssuer)) {
					missing = append(missing, dn(x.RawIssuer))
				}
			}
			if len(missing) > 0 && v.Sent {
				return Fail("%s has no CRL from %s, which the chain of %s passes through: NGINX logs \"(3:unable to get certificate CRL)\"",
					c.Path, joinNames(missing, 3), path).WithCause(Cause{Code: CauseCRLMissing, OpenSSL: opensslverdict.UnableToGetCRL}).With(where)
			}
			return OK("%s has a CRL from every CA in the chain of %s", c.Path, path).With(where)
		}
		var missing []string
		for _, ca := range verifyStore(s) {
			if ca.IsCA && !have(ca.RawSubject) && !containsString(missing, dn(ca.RawSubject)) {
				missing = append(missing, dn(ca.RawSubject))
			}
		}
		if len(missing) > 0 {
			return Fail("%s has no CRL from %s: NGINX rejects every agent whose chain passes through it with \"(3:unable to get certificate CRL)\"",
				c.Path, joinNames(missing, 3)).WithCause(Cause{Code: CauseCRLMissing, OpenSSL: opensslverdict.UnableToGetCRL}).With(where)
		}
		return OK("%s has a CRL from every CA NGINX trusts", c.Path).With(where)
	})
}

func fixCRLMissing(f *Facts, r Result) []Step {
	path := "<crl-path>"
	if s := judgedServer(f, r); s != nil && s.CRL != nil {
		path = s.CRL.Path
	}
	return []Step{{
		Title: "Add a CRL from each CA, root included, to " + path,
		Why: "NGINX checks the whole chain against CRLs (X509_V_FLAG_CRL_CHECK_ALL). Generate or download the missing " +
			"CA's CRL and append it; the file may hold any number of PEM CRLs.",
		Commands: []string{
			backupCommand(path),
			"sudo cat '<new-crl-path>' | sudo tee -a " + shellQuote(path) + " >/dev/null",
			"grep -c 'BEGIN X509 CRL' " + shellQuote(path),
			reloadNginxFor(f),
		},
		Changes: []string{path},
		Verify:  []string{"crl-missing", "agent-cert-rejected"},
		Host:    HostManager,
	}}
}

// --- nginx-error-page-in-location

// locationErrorPages are the error_page directives written inside a location (or an if in
// one) of s that map 495, 496 or 497.
func locationErrorPages(s *probes.NginxServer) []nginxconf.ErrorPage {
	var out []nginxconf.ErrorPage
	seen := map[*nginxconf.Directive]bool{}
	for _, l := range s.Locations {
		for _, ep := range l.ErrorPages {
			if (ep.Context != "location" && ep.Context != "if") || seen[ep.Directive] {
				continue
			}
			if ep.Maps(495) || ep.Maps(496) || ep.Maps(497) {
				seen[ep.Directive] = true
				out = append(out, ep)
			}
		}
	}
	return out
}

func serverMaps(s *probes.NginxServer, code int) bool {
	for _, ep := range s.ErrorPages {
		if ep.Maps(code) {
			return true
		}
	}
	return false
}

func evalErrorPageInLocation(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		if streamServer(s) {
			return Skip("skipped: a stream server has no locations")
		}
		eps := locationErrorPages(s)
		if len(eps) == 0 {
			return OK("no error_page for 495, 496 or 497 inside a location")
		}
		var ev []Evidence
		unmapped := false
		for _, ep := range eps {
			ev = append(ev, directiveNote(ep.Directive, "inside location "+ep.Directive.Parent.Arg(len(ep.Directive.Parent.Args)-1)))
			for _, c := range ep.Codes {
				if (c == 495 || c == 496 || c == 497) && !serverMaps(s, c) {
					unmapped = true
				}
			}
		}
		first := eps[0].Directive
		if !unmapped {
			return Info("%s at %s never fires (the server level maps the same codes)", first.String(), first.Pos()).With(ev...)
		}
		return Warn("%s at %s sits inside a location and never fires: NGINX raises 495/496/497 before it picks a location",
			first.String(), first.Pos()).Because(CauseNeverFires).With(ev...)
	})
}

func fixErrorPageInLocation(f *Facts, r Result) []Step {
	why := "Move the error_page to the server block agents reach; named locations it points to stay where they are."
	s := judgedServer(f, r)
	if s == nil {
		return []Step{nginxStep(f, "Move error_page 495/496 to the server level", why, managerConfPath(f),
			" server {\n+    error_page 495 496 = @grpc_unauthenticated;", "nginx-error-page-in-location", "nginx-grpc-errors-unmapped")}
	}
	ep := locationErrorPages(s)[0].Directive
	anchor := serverAnchor(s, "ssl_verify_client", "ssl_client_certificate", "server_name")
	return []Step{nginxEditsStep(f, "Move "+ep.String()+" from the location to the server block",
		why+" 495, 496 and 497 are only seen at server level.", []string{"nginx-error-page-in-location", "nginx-grpc-errors-unmapped"},
		nginxEdit{ep.File, removeDiff(ep)}, nginxEdit{anchor.File, insertAfterDiff(anchor, ep.String())})}
}

// --- nginx-log-level-hides-mtls

var logLevels = map[string]int{"debug": 0, "info": 1, "notice": 2, "warn": 3, "error": 4, "crit": 5, "alert": 6, "emerg": 7}

func evalLogLevel(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		var quiet []nginxconf.ErrorLog
		for _, l := range s.ErrorLogs {
			lv, known := logLevels[l.Level]
			if !known || lv <= logLevels["info"] {
				where := "the compiled-in default"
				if l.Directive != nil {
					where = l.Directive.Pos()
				}
				return OK("error_log %s %s (%s) records [info] lines", l.Target, l.Level, where)
			}
			quiet = append(quiet, l)
		}
		var ev []Evidence
		for _, l := range quiet {
			if l.Directive != nil {
				ev = append(ev, directiveNote(l.Directive, "error_log in effect for this server"))
			} else {
				ev = append(ev, Note(s.Pos(), "no error_log applies: the compiled-in %s at level error", l.Target))
			}
		}
		l := quiet[0]
		return Warn("NGINX logs this server at %s (error_log %s): the [info] lines that name a rejected agent certificate are never written",
			l.Level, l.Target).Because(CauseLogLevel).With(ev...)
	})
}

func fixLogLevel(f *Facts, r Result) []Step {
	title := "Log at info where the agents' server logs"
	why := "Client-certificate rejections are [info] lines. info also logs client disconnects; keep it while " +
		"troubleshooting if the volume matters."
	s := judgedServer(f, r)
	if s == nil || len(s.ErrorLogs) == 0 {
		return []Step{nginxStep(f, title, why, "/etc/nginx/nginx.conf",
			"-error_log /var/log/nginx/error.log;\n+error_log /var/log/nginx/error.log info;", "nginx-log-level-hides-mtls")}
	}
	l := s.ErrorLogs[0]
	if l.Directive != nil {
		text := "error_log " + l.Target + " info;"
		return []Step{nginxStep(f, title, why, l.Directive.File, replaceDiff(l.Directive, text), "nginx-log-level-hides-mtls")}
	}
	anchor := serverAnchor(s, "server_name")
	// No error_log applies: the compiled-in file (nginx -V --error-log-path), now at info.
	return []Step{nginxStep(f, title, why, anchor.File, insertAfterDiff(anchor, "error_log "+l.Target+" info;"), "nginx-log-level-hides-mtls")}
}

// --- nginx-grpc-errors-unmapped

// namedLocation returns s's location "@name".
func namedLocation(s *probes.NginxServer, name string) *nginxconf.Location {
	for i := range s.Locations {
		if s.Locations[i].Path == name {
			return &s.Locations[i]
		}
	}
	return nil
}

// errorMapping judges the answer an error_page target gives a gRPC client.
func errorMapping(s *probes.NginxServer, ep nginxconf.ErrorPage) Result {
	if !strings.HasPrefix(ep.URI, "@") {
		return Info("error_page maps it to %s; make sure that answers with content-type application/grpc and grpc-status 16", ep.URI)
	}
	loc := namedLocation(s, ep.URI)
	if loc == nil {
		return Warn("error_page maps it to %s, which this server does not define", ep.URI).Because(CauseUndefinedTarget)
	}
	grpcStatus := ""
	for _, h := range loc.AddHeaders {
		if strings.EqualFold(strings.Trim(h.Arg(0), `'"`), "grpc-status") {
			grpcStatus = h.Arg(1)
		}
	}
	ret := ""
	if loc.Return != nil {
		ret = loc.Return.Arg(0)
	}
	switch {
	case ret == "204":
		return Warn("%s answers \"return 204\", which drops Content-Type: agents see \"code = Unknown ... malformed header: missing HTTP content-type\"", ep.URI).Because(CauseNotGRPC)
	case !strings.HasPrefix(loc.DefaultType.Value, "application/grpc"):
		return Warn("%s answers with content-type %s, not application/grpc: agents see %q",
			ep.URI, loc.DefaultType.Value, grpcGoNonGRPCError(atoiOr(ret, 200), loc.DefaultType.Value)).Because(CauseNotGRPC)
	case grpcStatus == "":
		return Warn("%s sets no grpc-status header", ep.URI).Because(CauseNotGRPC)
	}
	return OK("%s answers grpc-status %s", ep.URI, grpcStatus)
}

// grpcGoNonGRPCError is the error grpc-go reports for a response that is not gRPC
// (internal/transport/http2_client.go, operateHeaders): the code comes from the HTTP
// status (HTTPStatusConvTab; Unknown for any other, 200 included), and the message names
// the status only when it is not 200, then the content type.
func grpcGoNonGRPCError(status int, contentType string) string {
	code := map[int]string{400: "Internal", 401: "Unauthenticated", 403: "PermissionDenied", 404: "Unimplemented",
		429: "Unavailable", 502: "Unavailable", 503: "Unavailable", 504: "Unavailable"}[status]
	if code == "" {
		code = "Unknown"
	}
	desc := fmt.Sprintf("transport: received unexpected content-type %q", contentType)
	if status != 200 {
		desc = fmt.Sprintf("unexpected HTTP status code received from server: %d (%s); %s", status, http.StatusText(status), desc)
	}
	return "code = " + code + " desc = " + desc
}

func atoiOr(s string, def int) int {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return def
	}
	return n
}

func evalGRPCErrorsUnmapped(f *Facts) Result {
	return perServer(f, func(s *probes.NginxServer) Result {
		if s.SSL.VerifyClient.Value == "off" {
			return Skip("skipped: ssl_verify_client is off, NGINX never answers 495 or 496")
		}
		if streamServer(s) {
			return Info("a stream server answers a rejected agent with nothing: it closes the connection after the handshake, and the agent logs a transport error (EOF or connection reset), not a gRPC status")
		}
		var missing []string
		worst := Result{Severity: SeverityOK}
		var ev []Evidence
		for _, code := range []int{495, 496} {
			var found *nginxconf.ErrorPage
			for i := range s.ErrorPages {
				if s.ErrorPages[i].Maps(code) {
					found = &s.ErrorPages[i]
					break
				}
			}
			if found == nil {
				missing = append(missing, fmt.Sprint(code))
				continue
			}
			r := errorMapping(s, *found)
			ev = append(ev, directiveNote(found.Directive, fmt.Sprintf("%d: %s", code, r.Summary)))
			if r.Severity > worst.Severity {
				worst = r
			}
		}
		if len(missing) > 0 {
			ev = append([]Evidence{Note(s.Pos(), "no error_page for %s in this server block or in http{}", strings.Join(missing, " or "))}, ev...)
			return Warn("no server-level error_page for %s: a rejected agent gets an HTML 400 and logs \"code = Internal desc = unexpected HTTP status code received from server: 400 (Bad Request); transport: received unexpected content-type \\\"text/html\\\"\"",
				strings.Join(missing, " and ")).Because(CauseUnmapped).With(ev...)
		}
		if worst.Severity == SeverityOK {
			return OK("495 and 496 reach agents as gRPC errors (%s)", worst.Summary).With(ev...)
		}
		return worst.With(ev...)
	})
}

// untypedMapping returns the named location that s's error_page 495 and 496 both go to
// when it sets grpc-status and answers with a body but without content-type
// application/grpc; nil otherwise.
func untypedMapping(s *probes.NginxServer) *nginxconf.Location {
	var loc *nginxconf.Location
	for _, code := range []int{495, 496} {
		var ep *nginxconf.ErrorPage
		for i := range s.ErrorPages {
			if s.ErrorPages[i].Maps(code) {
				ep = &s.ErrorPages[i]
				break
			}
		}
		if ep == nil || !strings.HasPrefix(ep.URI, "@") {
			return nil
		}
		l := namedLocation(s, ep.URI)
		if l == nil || (loc != nil && l != loc) || l.Directive == nil || l.Directive.File == "" {
			return nil
		}
		loc = l
	}
	r := errorMapping(s, nginxconf.ErrorPage{URI: loc.Path})
	hasStatus := false
	for _, h := range loc.AddHeaders {
		hasStatus = hasStatus || strings.EqualFold(strings.Trim(h.Arg(0), `'"`), "grpc-status")
	}
	if r.Severity != SeverityWarn || !hasStatus || (loc.Return != nil && loc.Return.Arg(0) == "204") ||
		strings.HasPrefix(loc.DefaultType.Value, "application/grpc") {
		return nil
	}
	return loc
}

func fixGRPCErrorsUnmapped(f *Facts, r Result) []Step {
	lines := []string{
		"error_page 495 496 = @grpc_unauthenticated;",
		"location @grpc_unauthenticated {",
		"    default_type application/grpc;",
		"    add_header grpc-status 16;",
		"    add_header grpc-message \"client certificate rejected\";",
		"    return 200;",
		"}",
	}
	why := "Agents then log \"code = Unauthenticated\" (agent v3 stops retrying on it) instead of an HTML 400. " +
		"NGINX's own errors.grpc_conf maps 495 and 496 the same way."
	file, diff := managerConfPath(f), " server {\n+    "+strings.Join(lines, "\n+    ")
	if s := judgedServer(f, r); s != nil {
		if loc := untypedMapping(s); loc != nil {
			// The mapping is there and sets grpc-status; only its content type is wrong. A
			// second error_page and @grpc_unauthenticated would shadow or be shadowed by it.
			return []Step{nginxStep(f, "Answer application/grpc from "+loc.Path,
				"Without a gRPC content type grpc-go ignores the grpc-status header. "+why,
				loc.Directive.File, insertAfterDiff(loc.Directive, "default_type application/grpc;"), "nginx-grpc-errors-unmapped")}
		}
		anchor := serverAnchor(s, "ssl_verify_client", "ssl_client_certificate", "server_name")
		file, diff = anchor.File, insertAfterDiff(anchor, lines...)
	}
	return []Step{nginxStep(f, "Map 495 and 496 to grpc-status 16 at server level", why, file, diff, "nginx-grpc-errors-unmapped")}
}
