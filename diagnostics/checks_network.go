package diagnostics

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func networkChecks() []Check {
	need := []FactKind{FactEndpoint}
	return []Check{
		{
			ID: "endpoint-dns", Category: CategoryNetwork,
			Title: "manager host name resolves",
			Why: "The agent dials the host in its configuration; if the name does not resolve on this host, no " +
				"connection is even attempted and the agent retries for ever.",
			Needs: need, Evaluate: evalDNS, Fix: fixDNS,
			LogKinds: []logparse.Kind{logparse.KindEndpointDNS},
		},
		{
			ID: "endpoint-refused", Category: CategoryNetwork,
			Title: "manager port accepts connections",
			Why: "\"connection refused\" means the host answered but nothing listens on that port: a wrong port " +
				"in the agent config, NGINX not running, or not listening on that address.",
			Needs: need, Wants: []FactKind{FactAgentConfig}, Evaluate: evalRefused, Fix: fixRefused,
			LogKinds: []logparse.Kind{logparse.KindEndpointRefused},
		},
		{
			ID: "endpoint-timeout", Category: CategoryNetwork,
			Title: "manager answers within the timeout",
			Why: "A connection that never completes is almost always a firewall or security group silently " +
				"dropping packets, or a wrong address. The agent waits and retries without a useful error.",
			Needs: need, Evaluate: evalTimeout, Fix: fixTimeout,
			LogKinds: []logparse.Kind{logparse.KindEndpointTimeout},
		},
		{
			ID: "endpoint-not-tls", Category: CategoryNetwork,
			Title: "manager port speaks TLS",
			Why: "The agent with TLS on expects a TLS server; a plaintext port answers with something else and the " +
				"agent logs \"tls: first record does not look like a TLS handshake\".",
			Needs: need, Wants: []FactKind{FactAgentConfig}, Evaluate: evalNotTLS, Fix: fixNotTLS,
			LogKinds: []logparse.Kind{logparse.KindEndpointNotTLS},
		},
		{
			ID: "tls-version-mismatch", Category: CategoryNetwork,
			Title: "agent and manager share a TLS version",
			Why: "The agent requires TLS 1.2 or newer. A manager NGINX limited to TLSv1 or TLSv1.1 (ssl_protocols) " +
				"fails the handshake with \"protocol version not supported\".",
			Needs: need, Evaluate: evalTLSVersion, Fix: fixTLSVersion,
			LogKinds: []logparse.Kind{logparse.KindTLSVersionMismatch},
		},
		{
			ID: "tls-handshake-failed", Category: CategoryNetwork,
			Title: "the TLS handshake with the manager completes",
			Why: "NGINX never fails the handshake over a client certificate, so a handshake that fails points to " +
				"the server's TLS setup itself: a rejected server name (ssl_reject_handshake), no common cipher, " +
				"or a proxy in the way.",
			Needs: need, Evaluate: evalHandshake, Fix: fixHandshake,
		},
		{
			ID: "alpn-h2-missing", Category: CategoryNetwork,
			Title: "manager negotiates HTTP/2 (ALPN h2)",
			Why: "gRPC runs over HTTP/2, and grpc-go 1.67 and later refuse a TLS server that does not agree to " +
				"\"h2\" (\"missing selected ALPN property\"). NGINX only offers it with HTTP/2 enabled on the listener.",
			Needs: need, Evaluate: evalALPN, Fix: fixALPN,
			LogKinds: []logparse.Kind{logparse.KindALPNH2Missing},
		},
		{
			ID: "clock-skew", Category: CategoryNetwork,
			Title: "this host's clock agrees with the manager's",
			Why: "Certificate validity is judged against the clock. A clock that is off by hours makes fresh " +
				"certificates look not yet valid and old ones look fine, on one side but not the other.",
			Needs: need, Evaluate: evalClockSkew, Fix: fixClockSkew,
		},
	}
}

func evalDNS(f *Facts) Result {
	e := f.Endpoint
	host, _, _ := net.SplitHostPort(e.Address)
	if deadlineTooShort(e, e.DNSError) {
		return tooShort("looking up "+host, e)
	}
	if e.DNSError != nil {
		if e.DNSError.Kind == probes.ErrBadAddress {
			return Fail("%s", e.DNSError.Message).Because(CauseDNS)
		}
		if e.DNSError.Kind == probes.ErrDNSNotFound {
			return Fail("%s does not resolve: %s", host, e.DNSError.Message).Because(CauseDNS)
		}
		return Fail("looking up %s failed: %s", host, e.DNSError.Message).Because(CauseDNS)
	}
	if net.ParseIP(host) != nil {
		return OK("%s is an IP address; no lookup needed", host)
	}
	if len(e.DNSAddrs) == 0 {
		return Skip("skipped: the lookup of %s was not done", host)
	}
	return OK("%s resolves to %s", host, joinNames(e.DNSAddrs, 4))
}

func fixDNS(f *Facts, r Result) []Step {
	if r.Cause.Code == CauseTimeoutTooShort {
		return []Step{largerTimeoutStep(f, "endpoint-dns")}
	}
	h := hostOf(f)
	return []Step{{
		Title: "Check the name " + h.Host + " on this host",
		Why: "The name must resolve here, through DNS or /etc/hosts. If the manager has no DNS name, use its IP " +
			"as the host and set the server name to a name in its certificate.",
		Commands: []string{"getent ahosts " + shellQuote(h.Host) + " || echo 'not resolved'", "grep -n " + shellQuote(h.Host) + " /etc/hosts || true"},
		Verify:   []string{"endpoint-dns"},
		Host:     HostAgent,
	}, {
		Title: "Or map " + h.Host + " to the manager's address in /etc/hosts",
		Why:   "Only when the name is missing from DNS and the manager's address is fixed; a DNS record is the lasting fix.",
		Commands: []string{backupCommand("/etc/hosts"),
			appendLinesCommand("/etc/hosts", "<manager-ip> "+h.Host), "getent ahosts " + shellQuote(h.Host), restartAgent},
		Changes: []string{"/etc/hosts"},
		Verify:  []string{"endpoint-dns"},
		Host:    HostAgent,
	}}
}

// dialFailed returns the TCP failure if the kind is one of kinds.
func dialFailed(e *probes.EndpointReport, kinds ...probes.ErrorKind) *probes.ProbeError {
	if e.TCPError == nil {
		return nil
	}
	for _, k := range kinds {
		if e.TCPError.Kind == k {
			return e.TCPError
		}
	}
	return nil
}

func evalRefused(f *Facts) Result {
	e := f.Endpoint
	if e.DNSError != nil {
		return Skip("skipped: the name did not resolve")
	}
	if pe := dialFailed(e, probes.ErrRefused); pe != nil {
		return Fail("nothing listens on %s: connection refused", e.Address).Because(CauseRefused)
	}
	if pe := dialFailed(e, probes.ErrUnreachable); pe != nil {
		return Fail("%s is unreachable from this host: %s", e.Address, pe.Message).Because(CauseUnreachable)
	}
	if e.TCPError != nil {
		return Skip("skipped: the connection failed otherwise (%s)", e.TCPError.Kind)
	}
	addr := e.TCPAddr
	if addr == "" {
		addr = e.Address
	}
	return OK("connected to %s", addr)
}

func fixRefused(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{
		{
			Title: "Start NGINX on the manager and check it listens on port " + h.Port,
			Why: "Nothing accepted the connection: NGINX is stopped, or listens on another port or address. " +
				"Starting it changes no configuration.",
			Commands: []string{"sudo systemctl start nginx", "sudo ss -ltnp " + shellQuote("sport = :"+h.Port)},
			Verify:   []string{"endpoint-refused"},
			Host:     HostManager,
		},
		h.editStep("Or set the agent's port to the one NGINX takes agents on",
			"NGINX Instance Manager 2.x takes agents on 443; NIM 1.x behind NGINX used 10443.",
			[]string{"endpoint-refused"}, edit{setPort, "<manager-port>"}),
	}
}

// minJudgingTimeout is the shortest step deadline whose expiry says something about the
// network: TCP waits one initial retransmission timeout, 1 s (RFC 6298, section 2.1), before
// it resends a lost SYN, so a shorter deadline cannot tell one lost packet from a dropped path.
const minJudgingTimeout = time.Second

// deadlineTooShort reports whether pe is the probe's own deadline passing under a --timeout too
// short to blame the network for it.
func deadlineTooShort(e *probes.EndpointReport, pe *probes.ProbeError) bool {
	return e != nil && pe != nil && pe.Deadline && e.StepTimeout > 0 && e.StepTimeout < minJudgingTimeout
}

// tooShort is the verdict on a step cut off by a --timeout under minJudgingTimeout: a warning
// that asks for a larger one, never blame on the network.
func tooShort(step string, e *probes.EndpointReport) Result {
	return Warn("%s did not finish within --timeout %s, too short for this step to judge the network; "+
		"re-run with a larger --timeout (default %s)", step, e.StepTimeout, probes.DefaultStepTimeout).Because(CauseTimeoutTooShort)
}

// timedOutStep names the step of the agent's attempt that timed out ("connecting to ADDR")
// and returns its error and its verdict when the deadline was long enough to judge; the step
// is "" when none timed out.
func timedOutStep(f *Facts) (string, *probes.ProbeError, Result) {
	e := f.Endpoint
	if pe := dialFailed(e, probes.ErrTimeout); pe != nil {
		return "connecting to " + e.Address, pe,
			Fail("connecting to %s timed out: packets are dropped on the way", e.Address).Because(CauseTimeout)
	}
	a := agentAttempt(f)
	if a != nil && a.TLS != nil && a.TLS.Error != nil && a.TLS.Error.Kind == probes.ErrTimeout {
		return "the TLS handshake with " + e.Address, a.TLS.Error,
			Fail("%s accepted the connection but the TLS handshake timed out", e.Address).Because(CauseHandshakeTimeout)
	}
	if a != nil && a.HTTP != nil && a.HTTP.Error != nil && a.HTTP.Error.Kind == probes.ErrTimeout {
		return "the gRPC request to " + e.Address, a.HTTP.Error,
			Warn("%s did not answer the gRPC request in time", e.Address).Because(CauseReplyTimeout)
	}
	return "", nil, Result{}
}

func evalTimeout(f *Facts) Result {
	e := f.Endpoint
	step, pe, verdict := timedOutStep(f)
	switch {
	case deadlineTooShort(e, pe):
		return tooShort(step, e)
	case step != "":
		return verdict
	case e.TCPError != nil || e.DNSError != nil:
		return Skip("skipped: the connection failed before any timeout applied")
	}
	return OK("%s answered in %s", e.Address, e.Duration.Round(1e6))
}

// largerTimeoutStep asks for a re-run with the default --timeout after a shorter one cut a
// step off before the network could answer.
func largerTimeoutStep(f *Facts, verify string) Step {
	return Step{
		Title: "Re-run with a larger --timeout",
		Why: "--timeout " + f.Endpoint.StepTimeout.String() + " ended the step before a round trip could finish, " +
			"so the probe could not judge " + hostOf(f).Addr + ". The agent itself waits far longer.",
		Commands: []string{"mtls-doctor --check --timeout " + probes.DefaultStepTimeout.String() + " || true"},
		Verify:   []string{verify},
		Host:     HostAgent,
	}
}

func fixTimeout(f *Facts, r Result) []Step {
	h := hostOf(f)
	if r.Cause.Code == CauseTimeoutTooShort {
		return []Step{largerTimeoutStep(f, "endpoint-timeout")}
	}
	listener := Step{
		Title: "See what listens on port " + h.Port + " on the manager",
		Why: "The TCP connection was accepted, so no firewall drops it: whatever accepted it did not start TLS in time. " +
			"That is a wrong port (a service that waits for the client to speak first), a proxy or load balancer in " +
			"front, or an NGINX stream server without ssl. The agents' port belongs to an http server with listen … ssl.",
		Commands: []string{"sudo ss -ltnp " + shellQuote("sport = :"+h.Port), "sudo nginx -T 2>/dev/null | grep -n 'listen\\|stream\\|ssl_preread' || true"},
		Verify:   []string{"endpoint-timeout", "endpoint-not-tls"},
		Host:     HostManager,
	}
	port := h.editStep("Set the agent's port to the manager's TLS port for agents",
		"NGINX Instance Manager 2.x takes agents on 443.", []string{"endpoint-timeout", "endpoint-not-tls"}, edit{setPort, "<manager-port>"})
	switch r.Cause.Code {
	case CauseHandshakeTimeout:
		return []Step{listener, port}
	case CauseReplyTimeout:
		return []Step{{
			Title: "Find why the manager does not answer the agent's request",
			Why: "TLS worked and NGINX took the request, but no answer came in time: the gRPC service behind NGINX " +
				"hangs or NGINX waits on it (grpc_read_timeout). Its logs on the manager say which.",
			Commands: []string{"sudo ss -ltnp " + shellQuote("sport = :"+h.Port), "sudo journalctl -u nms -n 50 --no-pager || true"},
			Verify:   []string{"endpoint-timeout", "grpc-backend-unavailable"},
			Host:     HostManager,
		}}
	}
	return []Step{{
		Title: "Find where the packets are dropped",
		Why: "The TCP connection itself timed out: a firewall, security group or route between this host and " + h.Addr +
			" drops it. Check this host's outbound rules, then the manager's inbound rules for port " + h.Port + ".",
		Commands: []string{
			"nc -vz -w 5 " + shellQuote(h.Host) + " " + shellQuote(h.Port) + " || true",
			"tracepath -n " + shellQuote(h.Host) + " || true",
			"sudo iptables -S OUTPUT; sudo nft list ruleset 2>/dev/null | grep -n " + shellQuote(h.Port) + " || true",
		},
		Verify: []string{"endpoint-timeout"},
		Host:   HostAgent,
	}}
}

func evalNotTLS(f *Facts) Result {
	e := f.Endpoint
	if e.PlainText {
		return Skip("skipped: the agent does not use TLS")
	}
	a := agentAttempt(f)
	if a == nil || a.TLS == nil {
		return Skip("skipped: no connection to try TLS on")
	}
	if a.TLS.Error != nil && a.TLS.Error.Kind == probes.ErrNotTLS {
		return Fail("%s answered without TLS: it is a plaintext port (%s)", e.Address, a.TLS.Error.Message).Because(CauseNotTLS)
	}
	if a.TLS.Error != nil {
		return Skip("skipped: the handshake failed otherwise (%s)", a.TLS.Error.Kind)
	}
	return OK("%s speaks %s", e.Address, tlsVersionName(a.TLS.Version))
}

func fixNotTLS(f *Facts, _ Result) []Step {
	h := hostOf(f)
	port := "<manager-port>"
	why := "NGINX Instance Manager 2.x takes agents on 443."
	if p := managerTLSPort(f); p != "" && p != h.Port {
		port, why = p, "The NGINX configuration read here takes TLS on port "+p+"."
	}
	steps := []Step{
		h.editStep("Set the agent's port to the manager's TLS port",
			"The port "+h.Port+" speaks plaintext (often NGINX's port 80, or a backend behind NGINX). "+why,
			[]string{"endpoint-not-tls"}, edit{setPort, port}),
		{
			Title: "Or take agents with TLS on port " + h.Port + " on the manager",
			Why: "If " + h.Port + " is meant for agents, its listen directive needs ssl (with ssl_certificate, " +
				"ssl_certificate_key and ssl_verify_client on); this shows the listeners.",
			Commands: []string{"sudo nginx -T 2>/dev/null | grep -n 'listen' || true"},
			Verify:   []string{"endpoint-not-tls"},
			Host:     HostManager,
			Manual:   "which server block should take agents on this port is for the manager's owner to decide",
		},
	}
	if st, ok := tlsListenerStep(f, h); ok {
		steps[1] = st
	}
	return steps
}

// tlsListenerStep turns TLS on for the agents' server that the configuration read here
// serves plaintext on the agent's port: ssl on its listen directive, the server
// certificate and key, and the CA that verifies agents (files only the user can name).
func tlsListenerStep(f *Facts, h hostInfo) (Step, bool) {
	port, err := strconv.Atoi(h.Port)
	if err != nil || !managerHost(f) {
		return Step{}, false
	}
	for _, s := range f.Nginx.Servers {
		for _, l := range s.Listens {
			if l.Port != port || l.SSL || l.Directive == nil {
				continue
			}
			listen := strings.TrimSuffix(l.Directive.String(), ";")
			text := strings.Replace(listen, " "+l.Directive.Args[0], " "+l.Directive.Args[0]+" ssl", 1) + ";"
			edits := []nginxEdit{{l.Directive.File, replaceDiff(l.Directive, text)}}
			var add []string
			for _, d := range [][2]string{{"ssl_certificate", "<server-cert-path>"}, {"ssl_certificate_key", "<server-key-path>"},
				{"ssl_client_certificate", "<agents-ca-path>"}, {"ssl_verify_client", "on"}} {
				line := d[0] + " " + d[1] + ";"
				if have := s.Children(d[0]); len(have) > 0 { // set in the server already: rewrite it
					edits = append(edits, nginxEdit{have[0].File, replaceDiff(have[0], line)})
					continue
				}
				add = append(add, line)
			}
			if len(add) > 0 {
				edits = append(edits, nginxEdit{l.Directive.File, insertAfterDiff(l.Directive, add...)})
			}
			return nginxEditsStep(f, "Take agents with TLS on port "+h.Port,
				"The server agents reach listens without ssl. Agents need TLS with the manager's server certificate, "+
					"and ssl_verify_client on with the CA that issues their certificates.",
				[]string{"endpoint-not-tls", "agent-cert-rejected"}, edits...), true
		}
	}
	return Step{}, false
}

// managerTLSPort is the port of an ssl listener of the agents' server in the NGINX
// configuration read here; "" when none was read.
func managerTLSPort(f *Facts) string {
	if !managerHost(f) {
		return ""
	}
	for _, s := range f.Nginx.Servers {
		for _, l := range s.Listens {
			if l.SSL && l.Port != 0 {
				return fmt.Sprint(l.Port)
			}
		}
	}
	return ""
}

func tlsError(f *Facts) *probes.ProbeError {
	if a := agentAttempt(f); a != nil && a.TLS != nil {
		return a.TLS.Error
	}
	return nil
}

func evalTLSVersion(f *Facts) Result {
	if f.Endpoint.PlainText {
		return Skip("skipped: the agent does not use TLS")
	}
	pe := tlsError(f)
	if pe != nil && (pe.Kind == probes.ErrTLSVersion || (pe.Kind == probes.ErrTLSAlert && pe.Alert == 70)) {
		return Fail("%s offers no TLS version the agent accepts (TLS 1.2 or 1.3): %s", f.Endpoint.Address, pe.Message).Because(CauseTLSVersion)
	}
	t := handshake(agentAttempt(f))
	if t == nil {
		return noHandshake(f)
	}
	return OK("negotiated %s", tlsVersionName(t.Version))
}

func fixTLSVersion(f *Facts, r Result) []Step {
	if mr, ok := managerProblem(f, evalTLSProtocols); ok {
		return fixTLSProtocols(f, mr) // the configuration read here: its own lines
	}
	file := "<manager-nginx-conf>"
	return []Step{{
		Title: "Allow TLS 1.2 and 1.3 on the manager",
		Why: "On the manager, ssl_protocols in the server block agents reach (or the http block above it) must " +
			"include TLSv1.2 or TLSv1.3, which agents speak. This rewrites every ssl_protocols in the file named.",
		File:     file,
		Diff:     "-    ssl_protocols TLSv1 TLSv1.1;\n+    ssl_protocols TLSv1.2 TLSv1.3;",
		Commands: []string{backupCommand(file), sedCommand(file, `s|ssl_protocols[^;]*;|ssl_protocols TLSv1.2 TLSv1.3;|`), reloadNginxFor(f)},
		Changes:  []string{file},
		Verify:   []string{"tls-version-mismatch"},
		Host:     HostManager,
	}}
}

// alertNoALPN is what OpenSSL (NGINX) sends when the client offers only h2 and the listener
// has no HTTP/2: it aborts the handshake rather than leaving ALPN empty.
const alertNoALPN = 120

func evalHandshake(f *Facts) Result {
	if f.Endpoint.PlainText {
		return Skip("skipped: the agent does not use TLS")
	}
	pe := tlsError(f)
	if pe == nil {
		if handshake(agentAttempt(f)) == nil {
			return noHandshake(f)
		}
		return OK("handshake with %s completed", f.Endpoint.Address)
	}
	switch {
	case pe.Kind == probes.ErrTLSAlert && pe.Alert == 112:
		return Fail("%s rejected the server name %q (alert 112 unrecognized name)", f.Endpoint.Address, f.Endpoint.ServerName).WithCause(Cause{Code: CauseUnrecognizedName, Alert: 112})
	case pe.Kind == probes.ErrTLSAlert && pe.Alert == alertNoALPN:
		return Skip("skipped: reported by alpn-h2-missing")
	case pe.Kind == probes.ErrTLSAlert && pe.Alert != 70:
		return Fail("%s aborted the handshake with %q: %s", f.Endpoint.Address, probes.AlertName(pe.Alert), pe.Message).Because(CauseHandshakeFailed)
	case pe.Kind == probes.ErrClosed || pe.Kind == probes.ErrOther || pe.Kind == probes.ErrProtocol:
		return Fail("the TLS handshake with %s failed: %s", f.Endpoint.Address, pe.Message).Because(CauseHandshakeFailed)
	}
	return Skip("skipped: reported by another check (%s)", pe.Kind)
}

func fixHandshake(f *Facts, _ Result) []Step {
	h := hostOf(f)
	steps := []Step{{
		Title:    "Repeat the handshake with openssl to see the server's side",
		Why:      "openssl prints the alert and how far the handshake got, with the same server name the agent sends.",
		Commands: []string{h.sClient(true) + " || true"},
		Verify:   []string{"tls-handshake-failed"},
		Host:     HostAgent,
	}}
	if pe := tlsError(f); pe != nil && pe.Alert == 112 {
		steps = append(steps, h.editStep(fmt.Sprintf("Set %s to a name the manager serves", h.nameOf(setServerName)),
			"The manager refuses the name "+h.Name+": it matches no server_name (ssl_reject_handshake, or a "+
				"stream proxy's ssl_preread map). Use a name its server_name lists and its certificate holds.",
			[]string{"tls-handshake-failed", "server-name-mismatch"}, edit{setServerName, "<manager-host>"}))
	}
	return steps
}

func evalALPN(f *Facts) Result {
	if pe := tlsError(f); pe != nil && pe.Kind == probes.ErrTLSAlert && pe.Alert == alertNoALPN {
		return Fail("%s aborted the handshake with \"no application protocol\" (alert 120): the listener has no HTTP/2, "+
			"which the agent's gRPC needs", f.Endpoint.Address).WithCause(Cause{Code: CauseNoALPNH2, Alert: 120})
	}
	t := handshake(agentAttempt(f))
	if t == nil {
		return noHandshake(f)
	}
	if t.ALPN == "h2" {
		return OK("negotiated ALPN h2")
	}
	got := t.ALPN
	if got == "" {
		got = "none"
	}
	return Fail("%s negotiated ALPN %q, not h2: grpc-go 1.67+ refuses the connection", f.Endpoint.Address, got).Because(CauseNoALPNH2)
}

func fixALPN(f *Facts, r Result) []Step {
	if mr, ok := managerProblem(f, evalHTTP2Missing); ok {
		return fixHTTP2Missing(f, mr) // the configuration read here: its own lines
	}
	h := hostOf(f)
	return []Step{nginxStep(f, "Enable HTTP/2 on the manager's listener for agents",
		"NGINX 1.25.1 and later: add `http2 on;` to the server block. Older NGINX (Debian 12 ships 1.22): add "+
			"http2 to the listen line, as shown.",
		managerNginxConf, fmt.Sprintf("-    listen %s ssl;\n+    listen %s ssl http2;", h.Port, h.Port), "alpn-h2-missing")}
}

func evalClockSkew(f *Facts) Result {
	d := serverDate(f)
	if d.IsZero() {
		return Skip("skipped: the server sent no Date header")
	}
	if note, skewed := skewNote(f); skewed {
		return Warn("%s", note).Because(CauseClockSkew)
	}
	return OK("clocks agree within %s", f.Thresholds.MaxSkew)
}

func fixClockSkew(f *Facts, _ Result) []Step {
	st := Step{
		Title:    "Synchronise the clocks with NTP",
		Why:      "Certificate checks on either side depend on the clock; run this on this host and on the manager.",
		Commands: []string{"timedatectl status", "sudo timedatectl set-ntp true"},
		Verify:   []string{"clock-skew"},
	}
	return on(HostAgent, st, func() Step {
		m := st
		m.Title, m.Commands, m.Host = "Synchronise the manager's clock with NTP", slices.Clone(st.Commands), HostManager
		return m
	}())
}
