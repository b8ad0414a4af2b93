package diagnostics

import (
	"crypto/x509"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file holds the manager side: the checks on the NGINX configuration that terminates
// the agents' mutual TLS (Facts.Nginx), and the helpers they share. Checks whose ID also
// has an agent side get their manager half in checks_client_auth_manager.go
// (client-auth-*, agent-cert-*) and checks_server_cert_manager.go (server-cert-*).

// reloadNginxFor is how the manager playbooks end: test, then reload the running NGINX —
// the one whose configuration was judged, so a --nginx-config outside nginx's default
// paths is named with -c (nginx -s reload -c reads that configuration's pid file), and a
// --nginx-prefix with -p.
func reloadNginxFor(f *Facts) string {
	var args string
	if f != nil && f.Nginx != nil {
		n := f.Nginx
		if n.Prefix != "" {
			args += " -p " + shellQuote(n.Prefix)
		}
		if n.Explicit && n.Source == probes.NginxFile && n.Main != "" && !slices.Contains(nginxconf.DefaultPaths(), n.Main) {
			args += " -c " + shellQuote(n.Main)
		}
	}
	return "sudo nginx -t" + args + " && sudo nginx -s reload" + args
}

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
	return fmt.Sprintf("server at %s (listen %s)", s.Pos(), strings.Join(ls, ", "))
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
		if results[i].Subject.IsZero() {
			results[i].Subject = serverSubject(s)
		}
	}
	if len(servers) == 1 {
		return results[0]
	}
	where := make([]string, len(servers))
	for i, s := range servers {
		where[i] = s.Pos()
	}
	out, worst := mergeWorst(results, where)
	out.Summary = serverLabel(servers[worst]) + ": " + out.Summary
	return out
}

// mergeWorst merges the results of several things judged alike (servers, served
// certificates): the worst, first among equals, leads, and every other follows as evidence
// at its location where[i]. It returns the index of the worst.
func mergeWorst(results []Result, where []string) (Result, int) {
	worst := 0
	for i, r := range results {
		if r.Severity > results[worst].Severity {
			worst = i
		}
	}
	out := results[worst]
	out.Evidence = otherVerdicts(append([]Evidence(nil), out.Evidence...), results, worst, func(i int) string { return where[i] })
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

// indentOf is the indentation a directive at d's nesting depth within its own file has in
// a tidy file.
func indentOf(d *nginxconf.Directive) string {
	// Only the blocks open in d's own file indent it: a server in conf.d/*.conf sits at
	// column 0 although http{} in nginx.conf encloses it.
	n := 0
	for p := d.Parent; p != nil; p = p.Parent {
		if p.File == d.File {
			n++
		}
	}
	return strings.Repeat("    ", n)
}

// blockOpen renders a block directive's opening line, e.g. "location /x {".
func blockOpen(d *nginxconf.Directive) string {
	s := d.String()
	return strings.TrimSuffix(s, " { … }") + " {"
}

// replaceDiff is a unified-diff hunk replacing directive d with text (a whole directive,
// ";" included), at d's line.
func replaceDiff(d *nginxconf.Directive, text string) string {
	ind := indentOf(d)
	return fmt.Sprintf("@@ -%d +%d @@\n-%s%s\n+%s%s", d.Line, d.Line, ind, d.String(), ind, text)
}

// insertAfterDiff is a hunk adding text after directive anchor, at the same level.
func insertAfterDiff(anchor *nginxconf.Directive, text ...string) string {
	ind := indentOf(anchor)
	first := anchor.String()
	if anchor.Block != nil {
		first = blockOpen(anchor)
		ind += "    "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "@@ -%d +%d,%d @@\n %s%s", anchor.Line, anchor.Line, len(text)+1, indentOf(anchor), first)
	for _, t := range text {
		fmt.Fprintf(&b, "\n+%s%s", ind, t)
	}
	return b.String()
}

// removeDiff is a hunk deleting directive d.
func removeDiff(d *nginxconf.Directive) string {
	return fmt.Sprintf("@@ -%d +%d,0 @@\n-%s%s", d.Line, d.Line-1, indentOf(d), d.String())
}

// nginxStep is a playbook step that edits the NGINX configuration, then tests and reloads
// it. The edit is the diff, made by sed on the lines it names after a backup of the file;
// a diff without line numbers (no configuration was read) cannot be run and says so.
func nginxStep(f *Facts, title, why, file, diff string, verify ...string) Step {
	return nginxEditsStep(f, title, why, verify, nginxEdit{file, diff})
}

// nginxEdit is a diff of one configuration file.
type nginxEdit struct{ file, diff string }

// nginxEditsStep is nginxStep for several edits, tested and reloaded once after all of them.
func nginxEditsStep(f *Facts, title, why string, verify []string, edits ...nginxEdit) Step {
	st := Step{Title: title, Why: why, File: edits[0].file, Verify: verify, Host: HostManager}
	var diffs []string
	exprs := map[string][]string{}
	var files []string
	runnable := managerHost(f)
	for _, e := range edits {
		diffs = append(diffs, e.diff)
		x, ok := diffSed(e.diff)
		runnable = runnable && ok && e.file != ""
		if !slices.Contains(files, e.file) {
			files = append(files, e.file)
		}
		exprs[e.file] = append(exprs[e.file], x...)
	}
	st.Diff = strings.Join(diffs, "\n")
	if !runnable {
		file := edits[0].file
		if file == "" || file == managerNginxConf || !managerHost(f) {
			file = "<manager-nginx-conf>"
			st.File = file
		}
		st.Commands = []string{"sudo grep -n 'server\\|listen\\|ssl_\\|error_' " + shellQuote(file), reloadNginxFor(f)}
		st.Changes = []string{file}
		st.Manual = "the manager's NGINX configuration was not read here, so the lines to change are not known: " +
			"make the edit shown by hand on the manager, or run mtls-doctor there with --nginx-config for the exact commands"
		return st
	}
	for _, file := range files {
		st.Commands = append(st.Commands, backupCommand(file), sedCommand(file, exprs[file]...))
		st.Changes = append(st.Changes, file)
	}
	st.Commands = append(st.Commands, reloadNginxFor(f))
	return st
}

var hunkHeader = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@$`) })

// diffSed turns a diff made by replaceDiff, insertAfterDiff or removeDiff (hunks naming
// their line) into sed expressions on those lines; ok is false for any other diff. A
// directive is replaced or removed from its name to its ";", so other directives on the
// line stay; added lines go after the hunk's first line, their indentation kept by a
// leading backslash (POSIX sed, a command).
func diffSed(diff string) (exprs []string, ok bool) {
	lines := strings.Split(strings.TrimRight(diff, "\n"), "\n")
	for i := 0; i < len(lines); {
		m := hunkHeader().FindStringSubmatch(lines[i])
		if m == nil {
			return nil, false
		}
		line := m[1]
		i++
		var old []string
		var added []string
		context := false
		for ; i < len(lines) && !strings.HasPrefix(lines[i], "@@"); i++ {
			switch l := lines[i]; {
			case strings.HasPrefix(l, "-"):
				old = append(old, strings.TrimSpace(l[1:]))
			case strings.HasPrefix(l, "+"):
				added = append(added, l[1:])
			case strings.HasPrefix(l, " "):
				context = true
			}
		}
		switch {
		case len(old) == 1 && !context:
			name, _, _ := strings.Cut(old[0], " ")
			if !directiveName().MatchString(name) {
				return nil, false
			}
			repl := ""
			if len(added) == 1 {
				repl = sedText(strings.TrimSpace(added[0]))
			} else if len(added) > 1 {
				return nil, false
			}
			exprs = append(exprs, line+"s|"+strings.TrimSuffix(name, ";")+"[^;]*;|"+repl+"|")
		case len(old) == 0 && context && len(added) > 0:
			exprs = append(exprs, line+"a\\")
			for j, a := range added {
				e := "\\" + sedText(a)
				if j < len(added)-1 {
					e += "\\"
				}
				exprs = append(exprs, e)
			}
		default:
			return nil, false
		}
	}
	return exprs, len(exprs) > 0
}

var directiveName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_]*;?$`) })

// serverAnchor is the directive after which a server-level setting is added: the named
// directive if the server has it, else its last listen, else the server block itself.
func serverAnchor(s *probes.NginxServer, near ...string) *nginxconf.Directive {
	for _, n := range near {
		if ds := s.Children(n); len(ds) > 0 {
			return ds[len(ds)-1]
		}
	}
	if len(s.Listens) > 0 {
		return s.Listens[len(s.Listens)-1].Directive
	}
	return s.Directive
}

// setServerDirective is the step that sets name to value in server s: it replaces the
// directive in effect when the server itself has it, else adds one to the server block.
func setServerDirective(f *Facts, s *probes.NginxServer, st nginxconf.Setting, name, value, title, why string, verify ...string) Step {
	text := name + " " + value + ";"
	if st.Directive != nil && st.Directive.Parent == s.Directive {
		return nginxStep(f, title, why, st.Directive.File, replaceDiff(st.Directive, text), verify...)
	}
	anchor := serverAnchor(s, "ssl_verify_client", "ssl_client_certificate", "ssl_certificate_key", "server_name")
	return nginxStep(f, title, why, anchor.File, insertAfterDiff(anchor, text), verify...)
}

// managerConfPath names the file playbooks edit when no facts say which: NIM 2.x's.
func managerConfPath(f *Facts) string {
	if managerHost(f) && len(f.Nginx.Servers) > 0 {
		return f.Nginx.Servers[0].File
	}
	return managerNginxConf
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
	if n.NIM1 != nil && n.NIM1.Path != "" {
		c := n.NIM1
		return OK("nginx-manager (NIM 1.x) serves the agents itself on %s (%s)", net.JoinHostPort(c.BindAddress.Value, c.GRPCPort.Value), c.Path)
	}
	if n.Config == nil {
		if n.Explicit {
			return Skip("skipped: the NGINX configuration could not be read (see nginx-config-invalid)")
		}
		return Skip("skipped: no NGINX configuration on this host")
	}
	if len(n.Servers) > 0 {
		var ev []Evidence
		for i, s := range n.Servers {
			if i == maxAlike {
				ev = append(ev, Note("", "and %s pass them on", moreServers(len(n.Servers)-maxAlike)))
				break
			}
			for _, r := range s.Routes {
				ev = append(ev, routeNote(s, r))
			}
		}
		labels := make([]string, len(n.Servers))
		for i, s := range n.Servers {
			labels[i] = serverLabel(s)
		}
		return OK("%s %s the agent gRPC paths on", joinNames(labels, 2), map[bool]string{true: "passes", false: "pass"}[len(labels) == 1]).With(ev...)
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

func fixAgentServer(f *Facts, _ Result) []Step {
	file, diff := managerNginxConf, "+    location /f5.nginx.agent.sdk.Commander {\n+        grpc_pass grpc://127.0.0.1:10000;\n+    }"
	if f != nil && f.Nginx != nil {
		for _, s := range f.Nginx.HTTPServers {
			for _, l := range s.Listens {
				if l.SSL {
					file = s.File
					diff = insertAfterDiff(serverAnchor(&probes.NginxServer{Server: s}, "ssl_certificate_key", "server_name"),
						"location /f5.nginx.agent.sdk.Commander {", "    grpc_pass grpc://127.0.0.1:10000;", "}",
						"location /f5.nginx.agent.sdk.MetricsService {", "    grpc_pass grpc://127.0.0.1:10000;", "}")
					break
				}
			}
			if file != managerNginxConf {
				break
			}
		}
	}
	return []Step{nginxStep(f, "Route the agents' gRPC services to the management plane",
		"Add a location per agent service (agent v3: /mpi.v1.) to the TLS server agents reach, with grpc_pass to the "+
			"manager's gRPC listener; NGINX Instance Manager 2.x ships them in "+managerNginxConf+".",
		file, diff, "nginx-agent-server-missing")}
}

// --- nginx-config-invalid

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
	return []Step{{
		Title: "Fix what nginx -t names at " + where,
		Why: "nginx -t prints the first error with its file and line. \"http2 on\" needs NGINX 1.25.1 (older: add http2 " +
			"to the listen directive); a key must belong to the first certificate of its ssl_certificate file.",
		Commands: []string{show, reloadNginxFor(f)},
		Changes:  []string{file},
		Verify:   []string{"nginx-config-invalid"},
		Host:     HostManager,
		Manual:   "what the line should say is for a person to decide; the reload runs only once nginx -t passes",
	}}
}

// --- nginx-client-ca-missing

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

// --- nginx-ssl-verify-optional-no-ca

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
		if !ar.IsSet() || ar.Value == "off" || !checksClientVerify(s, ar.Args[0]) {
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
		if ok, _ := enforcedByAuthRequest(s); ok {
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
