package diagnostics

import (
	"fmt"
	"net"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file holds the manager side: the checks on the NGINX configuration that terminates
// the agents' mutual TLS (Facts.Nginx), and the helpers they share. Checks whose ID also
// has an agent side get their manager half in checks_client_auth_manager.go
// (client-auth-*, agent-cert-*) and checks_server_cert_manager.go (server-cert-*). The
// checks of the configuration as a whole (nginx-config-invalid) are in
// checks_manager_config.go, those of the client CA in checks_manager_client_ca.go, and the
// fix steps' edits of NGINX configuration files in nginx_edit.go.

func managerChecks() []Check {
	need := []FactKind{FactNginx}
	wants := []FactKind{FactAgentConfig, FactAgentFiles}
	return []Check{
		{
			ID: "nginx-agent-server-missing", Category: CategoryManager,
			Title: "an NGINX server passes the agents' gRPC calls on",
			Why: "Agents call /f5.nginx.agent.sdk.* (agent v2, NGINX Instance Manager) or /mpi.v1.* (agent v3). " +
				"The server they reach needs a location with grpc_pass for those paths, or every call ends in 404 or an HTML page.",
			Needs: need, Wants: []FactKind{FactAgentConfig}, Evaluate: evalAgentServer, Fix: fixAgentServer,
		},
		{
			ID: "nginx-config-invalid", Category: CategoryManager,
			Title: "the manager's NGINX accepts its configuration (nginx -t)",
			Why: "A configuration nginx -t rejects is never loaded: a reload keeps the old one and a restart fails. " +
				"Typical causes are \"http2 on\" before NGINX 1.25.1, a certificate file that is missing, and a key that does not match its certificate.",
			Needs: need, Evaluate: evalNginxInvalid, Fix: fixNginxInvalid,
		},
		{
			ID: "nginx-client-ca-missing", Category: CategoryManager,
			Title: "the manager's NGINX has the CA certificates that verify agents",
			Why: "ssl_verify_client needs ssl_client_certificate (or, since NGINX 1.27.2, ssl_trusted_certificate) with " +
				"the CAs that issue agent certificates. Its names are also what NGINX asks agents for, and Go sends nothing that does not match them.",
			Needs: need, Wants: wants, Evaluate: evalClientCAMissing, Fix: fixClientCAMissing,
		},
		{
			ID: "nginx-ssl-verify-optional-no-ca", Category: CategoryManager,
			Title: "agent certificates from unknown CAs are refused",
			Why: "With ssl_verify_client optional_no_ca NGINX lets through certificates it cannot chain to a trusted CA, " +
				"self-signed ones included. Unless every agent location checks $ssl_client_verify, anyone can call the agent services.",
			Needs: need, Evaluate: evalOptionalNoCA, Fix: fixOptionalNoCA,
		},
		{
			ID: "nginx-http2-missing", Category: CategoryManager,
			Title: "the agents' server speaks HTTP/2",
			Why: "gRPC needs HTTP/2, negotiated with ALPN h2. Without \"http2 on\" (or \"listen ... http2\" before NGINX 1.25.1) " +
				"NGINX 1.21.4 and later abort the agents' handshakes (\"no application protocol\"); older ones answer without ALPN, which grpc-go 1.67+ refuses.",
			Needs: need, Evaluate: evalHTTP2Missing, Fix: fixHTTP2Missing,
		},
		{
			ID: "nginx-tls-protocols", Category: CategoryManager,
			Title: "the agents' server offers TLS 1.2 or 1.3 and nothing older",
			Why: "Agents speak TLS 1.2 and 1.3 only, so ssl_protocols must list one of them. TLS 1.0 and 1.1 are " +
				"deprecated (RFC 8996); NGINX Instance Manager's sample configuration still enables TLSv1.1.",
			Needs: need, Evaluate: evalTLSProtocols, Fix: fixTLSProtocols,
		},
		{
			ID: "crl-expired", Category: CategoryManager,
			Title: "the manager's CRLs are current",
			Why: "With ssl_crl NGINX checks every certificate of the agent's chain against a CRL from its issuer. A CRL " +
				"past its nextUpdate makes NGINX reject every agent with \"CRL has expired\" until a fresh one is installed.",
			Needs: need, Evaluate: evalCRLExpired, Fix: fixCRLExpired,
			LogKinds:    []logparse.Kind{logparse.KindCRLExpired},
			LiveVerdict: true,
		},
		{
			ID: "crl-missing", Category: CategoryManager,
			Title: "the manager has a CRL from every CA in the agents' chain",
			Why: "ssl_crl turns on CRL checks for the whole chain (X509_V_FLAG_CRL_CHECK_ALL), so NGINX needs a CRL from " +
				"each CA that issued a certificate in it, the root's own included. A missing one fails every agent with \"unable to get certificate CRL\".",
			Needs: need, Wants: wants, Evaluate: evalCRLMissing, Fix: fixCRLMissing,
			LiveVerdict: true,
		},
		{
			ID: "nginx-error-page-in-location", Category: CategoryManager,
			Title: "no error_page for 495/496 inside a location, where it never fires",
			Why: "NGINX raises 495, 496 and 497 while reading the request headers, before it chooses a location, so an " +
				"error_page for them inside a location never fires. It has to be in the server block (or http).",
			Needs: need, Evaluate: evalErrorPageInLocation, Fix: fixErrorPageInLocation,
		},
		{
			ID: "nginx-log-level-hides-mtls", Category: CategoryManager,
			Title: "client-certificate errors reach NGINX's error log",
			Why: "NGINX writes \"client SSL certificate verify error\" and \"client sent no required SSL certificate\" at " +
				"[info]. With error_log at notice, warn or the default error, the one line that names the cause is never written.",
			Needs: need, Evaluate: evalLogLevel, Fix: fixLogLevel,
		},
		{
			ID: "nginx-grpc-errors-unmapped", Category: CategoryManager,
			Title: "client-certificate rejections reach agents as gRPC errors",
			Why: "Without a server-level error_page for 495 and 496, NGINX answers a rejected agent with an HTML 400 and " +
				"the agent logs \"code = Internal ... 400 (Bad Request)\". A mapping that answers without application/grpc " +
				"gives \"code = Unknown\" instead of Unauthenticated.",
			Needs: need, Evaluate: evalGRPCErrorsUnmapped, Fix: fixGRPCErrorsUnmapped,
		},
	}
}

// agentServers returns the NGINX servers that serve the agents, or a skip saying why the
// manager side does not apply here.
func agentServers(f *Facts) ([]*probes.NginxServer, Result, bool) {
	n := f.Nginx
	switch {
	case n == nil:
		return nil, Skip("skipped: the NGINX configuration was not read"), false
	case n.Config == nil && n.NIM1 == nil:
		if n.Explicit {
			return nil, Skip("skipped: the NGINX configuration could not be read (see nginx-config-invalid)"), false
		}
		return nil, Skip("skipped: no NGINX configuration on this host"), false
	case passthroughOnly(n):
		return nil, Skip("skipped: NGINX passes the agents' TLS through (stream server at %s); what listens behind it terminates it (see client-auth-not-required)", n.Streams[0].Pos), false
	case len(n.Servers) == 0:
		if n.Explicit {
			return nil, Skip("skipped: no server in %s passes the agent gRPC paths on (see nginx-agent-server-missing)", n.Main), false
		}
		return nil, Skip("skipped: no NGINX server here passes the agent gRPC paths on (not a manager host)"), false
	}
	return n.Servers, Result{}, true
}

// managerHost reports whether the manager side applies: this host's NGINX (or NIM 1.x's
// nginx-manager) serves the agents.
func managerHost(f *Facts) bool { return f != nil && f.Nginx.Manager() }

// serverName labels a server in summaries: "server at FILE:LINE (listen 443)".
func serverLabel(s *probes.NginxServer) string {
	var ls []string
	for _, l := range s.Listens {
		ls = append(ls, l.String())
	}
	if len(ls) == 0 {
		ls = []string{"80"}
	}
	kind := "server"
	if streamServer(s) {
		kind = "stream server"
	}
	return fmt.Sprintf("%s at %s (listen %s)", kind, s.Pos(), strings.Join(ls, ", "))
}

// perServer judges every agent-facing server with fn and merges the results: the worst
// leads, prefixed with its server when there are several, and names it as its Subject (the
// server a playbook edits: judgedServer); the others follow as evidence.
func perServer(f *Facts, fn func(s *probes.NginxServer) Result) Result {
	servers, skip, ok := agentServers(f)
	if !ok {
		return skip
	}
	results := make([]Result, len(servers))
	for i, s := range servers {
		results[i] = fn(s)
	}
	// Only the leading result's subject and the listed servers' locations are shown:
	// both are formatted once chosen, not for each of a fleet's servers.
	if len(servers) == 1 {
		return withServerSubject(results[0], servers[0])
	}
	out, worst := mergeWorst(results, func(i int) string { return servers[i].Pos() }, "server")
	out = withServerSubject(out, servers[worst])
	out.Summary = serverLabel(servers[worst]) + ": " + out.Summary
	return out
}

// withServerSubject names server s as r's Subject unless fn named one.
func withServerSubject(r Result, s *probes.NginxServer) Result {
	if r.Subject.IsZero() {
		r.Subject = serverSubject(s)
	}
	return r
}

// mergeWorst merges the results of several things judged alike (servers, served
// certificates, upstream links), each a noun for counts: the worst, first among equals,
// leads, and every other follows as evidence at its location where(i). It returns the
// index of the worst; an empty results gives a zero Result.
func mergeWorst(results []Result, where func(i int) string, noun string) (Result, int) {
	if len(results) == 0 {
		return Result{}, 0
	}
	worst := 0
	for i, r := range results {
		if r.Severity > results[worst].Severity {
			worst = i
		}
	}
	out := results[worst]
	out.Evidence = otherVerdicts(append([]Evidence(nil), out.Evidence...), results, worst, where, noun)
	return out, worst
}

// serverSubject names server s as the subject of a finding.
func serverSubject(s *probes.NginxServer) Subject {
	return Subject{Kind: SubjectNginxServer, Name: s.Pos()}
}

// judgedServer returns the agent-facing server r is about (perServer names the worst one
// as r's Subject), for playbooks; nil when r names none (mtls-doctor explain, or a
// result about something else).
func judgedServer(f *Facts, r Result) *probes.NginxServer {
	if !managerHost(f) || r.Subject.Kind != SubjectNginxServer {
		return nil
	}
	for _, s := range f.Nginx.Servers {
		if serverSubject(s) == r.Subject {
			return s
		}
	}
	return nil
}

// directiveNote is evidence quoting a directive at its file:line.
func directiveNote(d *nginxconf.Directive, text string) Evidence {
	return Quoted(d.Pos(), text, d.String())
}

// settingNote is evidence for an effective setting: its directive, or nginx's default at
// the server block.
func settingNote(s *probes.NginxServer, name string, st nginxconf.Setting) Evidence {
	if st.Directive != nil {
		return directiveNote(st.Directive, name+" in effect")
	}
	def := st.Value
	if def == "" {
		return Note(s.Pos(), "%s is not set in this server or around it", name)
	}
	return Note(s.Pos(), "%s is not set: NGINX's default %q applies", name, def)
}

// --- nginx-agent-server-missing

func routeNote(s *probes.NginxServer, r probes.AgentRoute) Evidence {
	switch {
	case r.Location == nil:
		return Note(s.Pos(), "POST %s: no location matches", r.Path)
	case r.GRPCPass == "":
		return Note(r.Location.Directive.Pos(), "POST %s: location %s passes nothing to gRPC", r.Path, r.Location.Path)
	}
	return Note(r.Location.Directive.Pos(), "POST %s: location %s → grpc_pass %s", r.Path, r.Location.Path, r.GRPCPass)
}

func evalAgentServer(f *Facts) Result {
	n := f.Nginx
	if r, _, bad := streamTLSMismatch(n); bad {
		return r
	}
	if n.NIM1 != nil && n.NIM1.Path != "" && len(n.Servers) == 0 {
		c := n.NIM1
		return OK("nginx-manager (NIM 1.x) serves the agents itself on %s (%s)", net.JoinHostPort(c.BindAddress.Value, c.GRPCPort.Value), c.Path).With(hopNotes(n)...)
	}
	if n.Config == nil {
		if n.Explicit {
			return Skip("skipped: the NGINX configuration could not be read (see nginx-config-invalid)")
		}
		return Skip("skipped: no NGINX configuration on this host")
	}
	if passthroughOnly(n) {
		return evalStreamPassthrough(f)
	}
	if len(n.Servers) > 0 {
		var ev []Evidence
		for i, s := range n.Servers {
			if i == maxAlike {
				ev = append(ev, Note("", "and %s pass them on", moreServers(len(n.Servers)-maxAlike)))
				break
			}
			if streamServer(s) {
				ev = append(ev, hopNote(n, s.Stream))
			}
			for _, r := range s.Routes {
				ev = append(ev, routeNote(s, r))
			}
		}
		labels := make([]string, len(n.Servers))
		for i, s := range n.Servers {
			labels[i] = serverLabel(s)
		}
		for _, h := range n.Streams {
			if !h.Terminates {
				ev = append(ev, hopNote(n, h))
			}
		}
		what := "the agent gRPC paths"
		for _, s := range n.Servers {
			if streamServer(s) {
				what = "the agents' connections" // a stream server passes bytes, not paths
			}
		}
		return OK("%s %s %s on", joinNames(labels, 2), map[bool]string{true: "passes", false: "pass"}[len(labels) == 1], what).With(ev...)
	}
	why := agentsExpected(f)
	if len(why) == 0 {
		if !n.Explicit {
			return Skip("skipped: no NGINX server here passes the agent gRPC paths on (not a manager host)")
		}
		return Info("no server in %s passes the agent gRPC paths on: this NGINX serves no agents, and nothing on this host says it should", n.Main)
	}
	r := Fail("no server in %s passes the agent gRPC paths (/f5.nginx.agent.sdk.*, /mpi.v1.*) to grpc_pass, though %s",
		n.Main, why[0].Text).Because(CauseNoAgentServer).With(why[1:]...)
	for i, s := range n.HTTPServers {
		if i == maxAlike {
			r = r.With(Note("", "and %s", moreServers(len(n.HTTPServers)-maxAlike)))
			break
		}
		ns := &probes.NginxServer{Server: s}
		loc := nginxconf.SelectLocation(s, probes.PathV2CommandChannel)
		r = r.With(routeNote(ns, probes.AgentRoute{Path: probes.PathV2CommandChannel, Location: loc}))
	}
	if len(n.HTTPServers) == 0 {
		r = r.With(Note(n.Main, "the configuration has no http server at all"))
	}
	return r
}

// agentsExpected lists what says this NGINX should serve agents: NGINX Instance Manager's
// files on this host, an agent configuration (or --server) that points at one of its
// servers, or an agent certificate given to judge against it (--cert). Without any, an
// NGINX without agent locations is an ordinary web server or proxy, not a broken manager.
func agentsExpected(f *Facts) []Evidence {
	var why []Evidence
	n := f.Nginx
	for _, nf := range n.NIMFiles {
		why = append(why, Note(nf.Path, "NGINX Instance Manager's %s is on this host", nf.Path))
	}
	if f.Agent != nil && f.Agent.Address() != "" {
		host, port := f.Agent.Host.Value, atoiOr(f.Agent.Port.Value, 0)
		for _, s := range n.HTTPServers {
			ns := &probes.NginxServer{Server: s}
			if port == 0 || !ns.ListensOn(port) || !namesThisServer(ns, host, f.Agent.ServerName.Value) {
				continue
			}
			why = append(why, Note(s.Pos(), "the agent's server (%s) is %s, which the %s listens on",
				where(f.Agent.Host), f.Agent.Address(), serverLabel(ns)))
			break
		}
	}
	if n.AgentCert != nil {
		why = append(why, Note(n.AgentCert.Path, "--cert names an agent certificate to judge against this NGINX"))
	}
	return why
}

// namesThisServer reports whether an agent's host (or its TLS server name) reaches this
// host's server s: a loopback address, localhost, or one of s's server names.
func namesThisServer(s *probes.NginxServer, host, serverName string) bool {
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, name := range plainServerNames(s) {
		if strings.EqualFold(name, host) || serverName != "" && strings.EqualFold(name, serverName) {
			return true
		}
	}
	return false
}

func fixAgentServer(f *Facts, r Result) []Step {
	if f != nil && f.Nginx != nil && r.Cause.Code != "" {
		if steps := fixStreamTLSMismatch(f, r); len(steps) > 0 {
			return steps
		}
	}
	why := "Add the agents' locations, as NGINX Instance Manager 2.x's " + managerNginxConf + " has them, to the TLS server agents reach, " +
		"with grpc_pass to the manager's gRPC services (agent v3 and NGINX One: /mpi.v1.)."
	target, candidates := agentServerTarget(f)
	if target == nil {
		st := nginxStep(f, "Route the agents' gRPC services to the management plane", why, managerNginxConf,
			"+    "+strings.Join(agentLocations(nil), "\n+    "), "nginx-agent-server-missing")
		if len(candidates) > 1 {
			labels := make([]string, len(candidates))
			for i, c := range candidates {
				labels[i] = serverLabel(&probes.NginxServer{Server: c})
			}
			st.File = candidates[0].File
			st.Commands = []string{"sudo grep -n 'server\\|listen\\|ssl_\\|location' " + shellQuote(candidates[0].File), reloadNginxFor(f)}
			st.Changes = []string{candidates[0].File}
			st.Manual = "several TLS servers could be the one agents reach (" + joinNames(labels, 3) +
				"): add the locations to that one, or run mtls-doctor with the agent's configuration (--agent-config) so that its server.host and port pick it"
		}
		return []Step{st}
	}
	anchor := serverAnchor(&probes.NginxServer{Server: target}, "ssl_verify_client", "ssl_certificate_key", "server_name")
	return []Step{nginxStep(f, "Route the agents' gRPC services to "+serverLabel(&probes.NginxServer{Server: target}), why,
		anchor.File, insertAfterDiff(anchor, agentLocations(f.Nginx.Config)...), "nginx-agent-server-missing")}
}

// agentServerTarget is the http server the agents' locations belong in: the one the
// agent's server.host and port reach, else the only TLS server that asks for client
// certificates, else the only TLS server. When it cannot tell, target is nil and
// candidates lists the servers it could be.
func agentServerTarget(f *Facts) (target *nginxconf.Server, candidates []*nginxconf.Server) {
	if f == nil || f.Nginx == nil || f.Nginx.Config == nil {
		return nil, nil
	}
	var tls, verifying, reached []*nginxconf.Server
	for _, s := range f.Nginx.HTTPServers {
		ns := &probes.NginxServer{Server: s}
		if !sslServer(ns) {
			continue
		}
		tls = append(tls, s)
		if m := s.SSL.VerifyClient.Value; m == "on" || m == "optional" || m == "optional_no_ca" {
			verifying = append(verifying, s)
		}
		if a := f.Agent; a != nil && a.Address() != "" {
			if port := atoiOr(a.Port.Value, 0); port > 0 && ns.ListensOn(port) && namesThisServer(ns, a.Host.Value, a.ServerName.Value) {
				reached = append(reached, s)
			}
		}
	}
	for _, set := range [][]*nginxconf.Server{reached, verifying, tls} {
		switch {
		case len(set) == 1:
			return set[0], nil
		case len(set) > 1:
			return nil, set
		}
	}
	return nil, nil
}

// agentLocations are NGINX Instance Manager 2.x's locations for the agent v2 services
// (docs.nginx.com, NGINX Management Suite "Secure traffic with certificates": a server
// for gRPC with mTLS), less its include of errors-grpc.loc_conf, which only NIM installs.
// They pass to NIM's own upstreams when cfg defines them, else to <backend-address>.
func agentLocations(cfg *nginxconf.Config) []string {
	target := map[string]string{"dpm-grpc-service": "<backend-address>", "ingestion-grpc-service": "<backend-address>"}
	if cfg != nil {
		for _, u := range cfg.Find("upstream") {
			if _, ok := target[u.Arg(0)]; ok && u.Context() == "http" {
				target[u.Arg(0)] = u.Arg(0)
			}
		}
	}
	var out []string
	for _, l := range []struct{ path, upstream string }{
		{"/f5.nginx.agent.sdk.MetricsService", "ingestion-grpc-service"},
		{"/f5.nginx.agent.sdk.Commander", "dpm-grpc-service"},
	} {
		out = append(out, "location "+l.path+" {", "    grpc_socket_keepalive on;", "    grpc_read_timeout 5m;",
			"    grpc_send_timeout 5m;", "    client_body_timeout 10m;", "    grpc_pass grpc://"+target[l.upstream]+";", "}")
	}
	return out
}

// managerProblem is the manager half's verdict on the first agent server it finds a
// problem in, naming that server, for an agent-side playbook on a host whose NGINX
// configuration was read too; ok is false when there is none.
func managerProblem(f *Facts, eval func(*Facts) Result) (Result, bool) {
	if !managerHost(f) {
		return Result{}, false
	}
	for _, s := range f.Nginx.Servers {
		if r := onlyServer(f, s, eval); r.Severity >= SeverityWarn {
			r.Subject = serverSubject(s)
			return r, true
		}
	}
	return Result{}, false
}

// onlyServer evaluates a per-server check on one server (for playbooks).
func onlyServer(f *Facts, s *probes.NginxServer, eval func(*Facts) Result) Result {
	g := *f
	n := *f.Nginx
	n.Servers = []*probes.NginxServer{s}
	g.Nginx = &n
	return eval(&g)
}
