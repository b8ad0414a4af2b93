package diagnostics

import (
	"fmt"
	"net"
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
		Commands: []string{"getent ahosts " + shellQuote(h.Host), "resolvectl query " + shellQuote(h.Host), "grep -n " + shellQuote(h.Host) + " /etc/hosts"},
		Verify:   []string{"endpoint-dns"},
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
			Title:    "Check the port on the manager",
			Why:      "Run these on the manager: NGINX must be running and listening on port " + h.Port + " on an address this host can reach.",
			Commands: []string{"sudo ss -ltnp " + shellQuote("sport = :"+h.Port), "sudo systemctl status nginx --no-pager", "sudo nginx -T 2>/dev/null | grep -n 'listen'"},
			Verify:   []string{"endpoint-refused"},
		},
		h.editStep("Or correct the port in the agent configuration",
			"NGINX Instance Manager 2.x takes agents on 443; NIM 1.x behind NGINX used 10443.",
			[]string{"endpoint-refused"}, edit{setPort, h.Port}),
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
			Fail("%s accepted the connection but the TLS handshake timed out", e.Address).Because(CauseTimeout)
	}
	if a != nil && a.HTTP != nil && a.HTTP.Error != nil && a.HTTP.Error.Kind == probes.ErrTimeout {
		return "the gRPC request to " + e.Address, a.HTTP.Error,
			Warn("%s did not answer the gRPC request in time", e.Address).Because(CauseTimeout)
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
		Commands: []string{"mtls-doctor --check --timeout " + probes.DefaultStepTimeout.String()},
		Verify:   []string{verify},
	}
}

func fixTimeout(f *Facts, r Result) []Step {
	h := hostOf(f)
	if r.Cause.Code == CauseTimeoutTooShort {
		return []Step{largerTimeoutStep(f, "endpoint-timeout")}
	}
	return []Step{{
		Title: "Find where the packets are dropped",
		Why: "A timeout is a firewall, security group or routing problem between this host and " + h.Addr +
			". Check this host's outbound rules, then the manager's inbound rules for port " + h.Port + ".",
		Commands: []string{
			"nc -vz -w 5 " + shellQuote(h.Host) + " " + shellQuote(h.Port),
			"tracepath -n " + shellQuote(h.Host),
			"sudo iptables -S OUTPUT; sudo nft list ruleset 2>/dev/null | grep -n " + shellQuote(h.Port),
		},
		Verify: []string{"endpoint-timeout"},
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
	steps := []Step{
		{
			Title: "Point the agent at the manager's TLS port",
			Why: "The port " + h.Port + " speaks plaintext (often NGINX's port 80, or a backend behind NGINX). " +
				"On the manager, the listener for agents carries `ssl`.",
			Commands: []string{"sudo nginx -T 2>/dev/null | grep -n 'listen.*ssl'"},
			Verify:   []string{"endpoint-not-tls"},
		},
	}
	if h.Port != "443" { // 443 is where NGINX Instance Manager 2.x takes agents
		steps = append(steps, h.editStep("Set the TLS port in the agent configuration",
			"NGINX Instance Manager 2.x takes agents on 443.", []string{"endpoint-not-tls"}, edit{setPort, "443"}))
	}
	return steps
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

func fixTLSVersion(f *Facts, _ Result) []Step {
	return []Step{{
		Title: "Allow TLS 1.2 and 1.3 on the manager",
		Why: "On the manager, set ssl_protocols in the server block that agents reach (NGINX Instance Manager " +
			"keeps it in " + managerNginxConf + "), then reload NGINX.",
		File:     managerNginxConf,
		Diff:     "-    ssl_protocols TLSv1 TLSv1.1;\n+    ssl_protocols TLSv1.2 TLSv1.3;",
		Commands: []string{"sudo grep -rn ssl_protocols /etc/nginx/", "sudoedit " + managerNginxConf, reloadNginxFor(f)},
		Verify:   []string{"tls-version-mismatch"},
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
		Commands: []string{h.sClient(true)},
		Verify:   []string{"tls-handshake-failed"},
	}}
	if pe := tlsError(f); pe != nil && pe.Alert == 112 {
		steps = append(steps, Step{
			Title: fmt.Sprintf("Set %s to a name the manager serves", h.keyName(setServerName)),
			Why: "The manager refuses the name " + h.Name + ": it matches no server_name (ssl_reject_handshake, or a " +
				"stream proxy's ssl_preread map). List the manager's names (on the manager), then put one in " + h.Config + ".",
			Commands: []string{"sudo nginx -T 2>/dev/null | grep -n 'server_name\\|ssl_reject_handshake\\|ssl_preread'", "sudoedit " + shellQuote(h.Config), restartAgent},
			Verify:   []string{"tls-handshake-failed", "server-name-mismatch"},
		})
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

func fixALPN(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return []Step{{
		Title: "Enable HTTP/2 on the manager's listener for agents",
		Why: "Run on the manager. NGINX 1.25.1 and later: add `http2 on;` to the server block. Older NGINX (Debian " +
			"12 ships 1.22): add http2 to the listen line, as shown.",
		File:     managerNginxConf,
		Diff:     fmt.Sprintf("-    listen %s ssl;\n+    listen %s ssl http2;", h.Port, h.Port),
		Commands: []string{"nginx -v", "sudo nginx -T 2>/dev/null | grep -n " + shellQuote("listen.*"+h.Port+`\|http2`), "sudoedit " + managerNginxConf, reloadNginxFor(f)},
		Verify:   []string{"alpn-h2-missing"},
	}}
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
	return []Step{{
		Title:    "Synchronise the clocks with NTP",
		Why:      "Run this on both this host and the manager; certificate checks on either side depend on it.",
		Commands: []string{"timedatectl status", "sudo timedatectl set-ntp true", "chronyc tracking 2>/dev/null || timedatectl timesync-status"},
		Verify:   []string{"clock-skew"},
	}}
}
