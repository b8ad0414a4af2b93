package diagnostics

import (
	"fmt"
	"net"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// The manager side when agents reach the management plane through a stream{} server:
// which hop terminates their TLS and which verifies their certificate. A stream server
// that passes TCP through terminates nothing; what listens at its target does
// (nginx-manager's own TLS in NIM 1.x, or an http server of this NGINX). A stream server
// with listen … ssl terminates TLS itself and is judged by the manager checks like an
// http server, except for what only HTTP has (locations, error pages, HTTP/2).

// nim1VerifiesNone is why nginx-manager 1.x is said to verify no client certificate: its
// configuration and flags have a certificate and a key for its own TLS, and nothing that
// names a CA to verify clients with.
const nim1VerifiesNone = "nginx-manager 1.x verifies no client certificate: its settings name a server certificate and key " +
	"(cert, key; --cert, --key) and no CA to verify agents with " +
	"(https://docs.nginx.com/nginx-management-suite/nim/previous-versions/v1/reference/server-cli/)"

// streamServer reports whether s is a stream{} server rather than an http one.
func streamServer(s *probes.NginxServer) bool { return s != nil && s.Stream != nil }

// hopTargets describes where a stream hop sends the agents: "127.0.0.1:10000
// (nginx-manager, /etc/nginx-manager/nginx-manager.conf)".
func hopTargets(n *probes.NginxFacts, h *probes.StreamHop) string {
	var out []string
	for _, t := range h.Targets {
		text := t.Address
		var what []string
		if t.ServerName != "" {
			what = append(what, "for server name "+t.ServerName)
		}
		if t.Upstream != "" {
			what = append(what, "upstream "+t.Upstream)
		}
		switch t.Kind {
		case probes.TermNIM1:
			what = append(what, "nginx-manager, "+n.NIM1.Path)
		case probes.TermNIM1Default:
			what = append(what, "NIM 1.x's default gRPC port")
		case probes.TermHTTPServer:
			what = append(what, "http server at "+t.HTTPServer.Pos())
		case probes.TermStreamServer:
			what = append(what, "stream server at "+t.Stream.Pos())
		}
		if len(what) > 0 {
			text += " (" + strings.Join(what, ", ") + ")"
		}
		out = append(out, text)
	}
	if len(out) == 0 {
		switch {
		case h.Server.Variables:
			return "a target chosen per connection (proxy_pass " + h.Server.ProxyPass.Value + ")"
		case h.Server.Problem != "":
			return "nowhere: " + h.Server.Problem
		}
		return "nowhere (no proxy_pass)"
	}
	return joinNames(out, 3)
}

// hopNotes are the evidence that says, for each stream hop, which hop terminates the
// agents' TLS and which verifies their certificate.
func hopNotes(n *probes.NginxFacts) []Evidence {
	var ev []Evidence
	for _, h := range n.Streams {
		ev = append(ev, hopNote(n, h))
	}
	return ev
}

func hopNote(n *probes.NginxFacts, h *probes.StreamHop) Evidence {
	listen := h.Listen
	if listen == "" {
		listen = "(none)"
	}
	where := fmt.Sprintf("stream server at %s (listen %s)", h.Pos, listen)
	if h.Terminates {
		verify := "asks agents for no certificate (ssl_verify_client off)"
		if vc := h.Server.SSL.VerifyClient.Value; vc != "off" {
			verify = "verifies the agents' certificates (ssl_verify_client " + vc + ")"
		}
		onward := "passes plaintext on"
		if h.ReEncrypts {
			onward = "re-encrypts (proxy_ssl on"
			if ss := h.Server; ss.ProxySSLVerify.Value == "on" {
				onward += ", verifying the target against " + orNotSet(ss.ProxySSLTrustedCertificate.Value) + ")"
			} else {
				onward += "; proxy_ssl_verify is off, so NGINX accepts any certificate there)"
			}
		}
		return Note(h.Pos, "%s terminates the agents' TLS, %s, and %s to %s", where, verify, onward, hopTargets(n, h))
	}
	text := fmt.Sprintf("%s passes the agents' TCP through without terminating TLS to %s", where, hopTargets(n, h))
	for _, t := range h.Targets {
		switch t.Kind {
		case probes.TermNIM1:
			if n.NIM1.Cert.Value == "" {
				text += "; nginx-manager serves gRPC without TLS there (nginx-manager.conf sets no cert and key)"
			} else {
				text += "; nginx-manager terminates TLS there with " + n.NIM1.Cert.Value + ". " + nim1VerifiesNone
			}
			return Note(h.Pos, "%s", text)
		case probes.TermNIM1Default:
			return Note(h.Pos, "%s; nginx-manager.conf was not read, so its TLS is not judged (give --nim-config). %s", text, nim1VerifiesNone)
		case probes.TermHTTPServer:
			return Note(h.Pos, "%s; the http server there terminates TLS and verifies the agents (judged as the agents' server)", text)
		}
	}
	return Note(h.Pos, "%s; nothing this configuration knows of listens there, so what terminates TLS is not judged", text)
}

// nim1BehindNginx reports whether agents cannot see nginx-manager's own certificate: it
// listens on loopback only and an NGINX server of this host terminates the agents' TLS in
// front of it (NIM 1.x's offload and re-encrypt topologies), so its certificate is the
// one NGINX verifies, not the one agents do.
func nim1BehindNginx(n *probes.NginxFacts) bool {
	if n == nil || n.NIM1 == nil || len(n.Servers) == 0 {
		return false
	}
	switch b := n.NIM1.BindAddress.Value; b {
	case "localhost":
		return true
	default:
		ip := net.ParseIP(b)
		return ip != nil && ip.IsLoopback()
	}
}

// passthroughOnly reports whether agents reach this host only through stream servers
// that pass TLS through: no NGINX server of it terminates their TLS.
func passthroughOnly(n *probes.NginxFacts) bool {
	return n != nil && len(n.Streams) > 0 && len(n.Servers) == 0
}

// nim1Behind reports whether a stream hop passes agents to nginx-manager (read from
// nginx-manager.conf or at its default port).
func nim1Behind(n *probes.NginxFacts) (*probes.StreamHop, probes.TerminatorKind) {
	for _, h := range n.Streams {
		if h.Terminates {
			continue
		}
		for _, t := range h.Targets {
			if t.Kind == probes.TermNIM1 || t.Kind == probes.TermNIM1Default {
				return h, t.Kind
			}
		}
	}
	return nil, probes.TermUnknown
}

// evalStreamPassthrough is nginx-agent-server-missing's verdict when stream servers pass
// the agents' TLS through and no NGINX server terminates it.
func evalStreamPassthrough(f *Facts) Result {
	n := f.Nginx
	h := n.Streams[0]
	r := OK("stream server at %s (listen %s) passes the agents' connections through to %s", h.Pos, h.Listen, hopTargets(n, h))
	if len(n.Streams) > 1 {
		r.Summary += fmt.Sprintf(" (and %s)", Plural(len(n.Streams)-1, "more stream server"))
	}
	return r.With(hopNotes(n)...)
}

// mgrAuthNotRequiredNIM1 is client-auth-not-required when nginx-manager terminates the
// agents' TLS itself, directly or behind a stream passthrough.
func mgrAuthNotRequiredNIM1(f *Facts) Result {
	n := f.Nginx
	hop, kind := nim1Behind(n)
	if c := n.NIM1; c != nil && c.Path != "" {
		addr := net.JoinHostPort(c.BindAddress.Value, c.GRPCPort.Value)
		ev := []Evidence{Note(c.Path, "cert %s, key %s", orNotSet(c.Cert.Value), orNotSet(c.Key.Value))}
		if hop != nil {
			ev = append(ev, hopNote(n, hop))
		}
		if c.Cert.Value == "" {
			return Warn("nginx-manager (NIM 1.x) serves agents on %s without TLS (nginx-manager.conf sets no cert and key): it neither encrypts nor asks for a client certificate",
				addr).Because(CauseNotRequired).With(ev...)
		}
		return Warn("nginx-manager (NIM 1.x) terminates the agents' TLS on %s and asks for no client certificate (%s)", addr, nim1VerifiesNone).
			Because(CauseNotRequired).With(ev...)
	}
	if kind == probes.TermNIM1Default {
		return Info("stream server at %s passes the agents' TLS through to NIM 1.x's default gRPC port; if nginx-manager terminates it there, no client certificate is asked for (%s)",
			hop.Pos, nim1VerifiesNone).With(hopNote(n, hop))
	}
	return Skip("")
}

func orNotSet(v string) string {
	if v == "" {
		return "not set"
	}
	return v
}

// streamTLSMismatch finds a stream server that terminates the agents' TLS and passes them
// on to nginx-manager in the other mode than nginx-manager serves: plaintext to its TLS
// port (nginx-manager.conf sets cert and key), or TLS (proxy_ssl on) to its plaintext one.
// Either way no agent call gets through.
func streamTLSMismatch(n *probes.NginxFacts) (Result, *probes.StreamHop, bool) {
	c := n.NIM1
	if c == nil || c.Path == "" {
		return Result{}, nil, false
	}
	for _, h := range n.Streams {
		if !h.Terminates {
			continue
		}
		for _, t := range h.Targets {
			if t.Kind != probes.TermNIM1 {
				continue
			}
			ev := []Evidence{hopNote(n, h), Note(c.Path, "cert %s, key %s", orNotSet(c.Cert.Value), orNotSet(c.Key.Value))}
			switch {
			case c.Cert.Value != "" && !h.ReEncrypts:
				return Fail("stream server at %s passes the agents' gRPC to nginx-manager on %s in plaintext, but nginx-manager serves TLS there (cert %s): "+
					"nginx-manager refuses every call; set proxy_ssl on in the stream server, or leave cert and key out of nginx-manager.conf",
					h.Pos, t.Address, c.Cert.Value).Because(CauseTLSOff).With(ev...), h, true
			case h.ReEncrypts && h.Server.ProxySSLVerify.Value == "on":
				if r, bad := reEncryptVerdict(n, h, t); bad {
					return r.With(ev...), h, true
				}
			case c.Cert.Value == "" && h.ReEncrypts:
				r := Fail("stream server at %s re-encrypts the agents' connections (proxy_ssl on) to nginx-manager on %s, which serves plaintext "+
					"(nginx-manager.conf sets no cert): NGINX's handshake with it fails (\"peer closed connection in SSL handshake\" "+
					"from a Go gRPC server, \"wrong version number\" from one that answers) and it closes every agent connection",
					h.Pos, t.Address).Because(CauseNotTLS).With(ev...)
				if d := h.Server.ProxySSL.Directive; d != nil {
					r = r.With(directiveNote(d, "proxy_ssl"))
				}
				return r, h, true
			}
		}
	}
	return Result{}, nil, false
}

// reEncryptVerdict is NGINX's verdict on nginx-manager's certificate when a stream server
// re-encrypts to it with proxy_ssl_verify on: the name is proxy_ssl_name, by default the
// proxy_pass host (ngx_stream_proxy_ssl_name in src/stream/ngx_stream_proxy_module.c),
// matched against DNS names only; the chain must reach proxy_ssl_trusted_certificate.
func reEncryptVerdict(n *probes.NginxFacts, h *probes.StreamHop, t probes.StreamHopTarget) (Result, bool) {
	cf := n.NIM1.CertFile
	if cf == nil || len(cf.Certs) == 0 {
		return Result{}, false
	}
	leaf := cf.Certs[0]
	ss := h.Server
	name := ss.ProxySSLName.Value
	if name == "" {
		name = t.Host
		if t.Upstream != "" {
			name = t.Upstream
		}
	}
	if ca := h.ProxyTrustedCA; ca != nil && len(ca.Certs) > 0 {
		if ch := WalkChain(leaf, cf.Certs[1:], ca.Certs); !ch.Rooted || !containsCert(ca.Certs, ch.Last()) && !containsCert(ca.Certs, leaf) {
			return Fail("stream server at %s verifies nginx-manager's certificate (proxy_ssl_verify on) against %s, which %s does not chain to: "+
				"NGINX logs \"upstream SSL certificate verify error\" and closes every agent connection", h.Pos, ca.Path, certName(leaf)).
				Because(CauseUntrusted).With(directiveNote(ss.ProxySSLTrustedCertificate.Directive, "proxy_ssl_trusted_certificate")), true
		}
	}
	if !strings.Contains(name, "$") && !probes.CheckHost(leaf, name) {
		r := Fail("stream server at %s verifies nginx-manager's certificate (%s) against the name %q: NGINX logs "+
			"\"upstream SSL certificate does not match \"%s\"\" and closes every agent connection; NGINX matches DNS names only",
			h.Pos, sanText(leaf), name, name).Because(CauseNameMismatch)
		if d := ss.ProxySSLName.Directive; d != nil {
			r = r.With(directiveNote(d, "proxy_ssl_name"))
		} else {
			r = r.With(Note(ss.ProxyPass.Directive.Pos(), "proxy_ssl_name is not set: the name is the proxy_pass host %s", name))
		}
		return r, true
	}
	return Result{}, false
}

// fixStreamTLSMismatch turns proxy_ssl on or off in the stream server to match what
// nginx-manager serves.
func fixStreamTLSMismatch(f *Facts, r Result) []Step {
	_, h, ok := streamTLSMismatch(f.Nginx)
	if !ok {
		return nil
	}
	s := &probes.NginxServer{Server: h.Server.Server, Stream: h}
	switch r.Cause.Code {
	case CauseNameMismatch:
		name := "<nginx-manager-name>"
		if c := f.Nginx.NIM1; c.ServerName.Value != "" {
			name = c.ServerName.Value
		} else if cf := c.CertFile; cf != nil && len(cf.Certs) > 0 && len(cf.Certs[0].DNSNames) > 0 {
			name = cf.Certs[0].DNSNames[0]
		}
		return []Step{setServerDirective(f, s, h.Server.ProxySSLName, "proxy_ssl_name", name, "Verify nginx-manager by a name its certificate holds",
			"proxy_ssl_name sets the name NGINX checks against the certificate's DNS names (and sends as SNI with proxy_ssl_server_name on).",
			"nginx-agent-server-missing")}
	case CauseUntrusted:
		return []Step{setServerDirective(f, s, h.Server.ProxySSLTrustedCertificate, "proxy_ssl_trusted_certificate", "<ca-of-nginx-manager-cert>",
			"Trust the CA that issued nginx-manager's certificate",
			"proxy_ssl_trusted_certificate must hold the CA (and intermediates) that issued the certificate nginx-manager.conf names.",
			"nginx-agent-server-missing")}
	}
	value, why := "on", "nginx-manager serves TLS on its gRPC port, so the stream server must open TLS to it (proxy_ssl on); "+
		"add proxy_ssl_verify on with proxy_ssl_trusted_certificate naming the CA of nginx-manager's certificate to verify it."
	if r.Cause.Code == CauseNotTLS {
		value, why = "off", "nginx-manager serves plaintext gRPC on 127.0.0.1, so the stream server passes plaintext to it."
	}
	return []Step{setServerDirective(f, s, h.Server.ProxySSL, "proxy_ssl", value, "Set proxy_ssl "+value+" in the stream server at "+h.Pos, why,
		"nginx-agent-server-missing")}
}
