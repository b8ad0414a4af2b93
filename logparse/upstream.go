package logparse

import (
	"strconv"
	"strings"
)

// Upstream event kinds: NGINX as the TLS client of its upstreams (proxy_pass https://,
// grpc_pass grpcs://, uwsgi_pass suwsgi://). The front's lines carry the upstream
// ("upstream: "https://10.0.0.9:443/"") and the action "… to upstream" or "… from
// upstream"; the upstream NGINX's own lines about the front's certificate are the
// client-certificate lines of a request that is not an agent's. Each kind is named after
// the upstream-* finding it backs.
const (
	// Upstream NGINX: client sent no required SSL certificate (a non-agent request);
	// front: alert 116 certificate required from a TLS 1.3 upstream.
	KindUpstreamClientCertNotConfigured Kind = "upstream-client-cert-not-configured"
	// Upstream NGINX: (18|19|20|21:…) for the front's certificate; front: alert 48 unknown CA.
	KindUpstreamClientCertUnknownCA Kind = "upstream-client-cert-unknown-ca"
	// Upstream NGINX: (10:certificate has expired); front: alert 45 certificate expired.
	KindUpstreamClientCertExpired Kind = "upstream-client-cert-expired"
	// Upstream NGINX: (9:certificate is not yet valid).
	KindUpstreamClientCertNotYetValid Kind = "upstream-client-cert-not-yet-valid"
	// Upstream NGINX: (26:unsuitable certificate purpose).
	KindUpstreamClientCertWrongPurpose Kind = "upstream-client-cert-wrong-purpose"
	// Upstream NGINX: (23:certificate revoked); front: alert 44 certificate revoked.
	KindUpstreamClientCertRevoked Kind = "upstream-client-cert-revoked"
	// Upstream NGINX: any other verify error for the front's certificate; front: alert
	// 42 bad certificate, 43 unsupported or 46 certificate unknown; access log: a 400,
	// 403, 495 or 496 from the upstream ($upstream_status).
	KindUpstreamClientCertRejected Kind = "upstream-client-cert-rejected"
	// Front: upstream SSL certificate verify error: (2|18|19|20|21|26|27:…).
	KindUpstreamCertUntrusted Kind = "upstream-cert-untrusted"
	// Front: upstream SSL certificate does not match "name".
	KindUpstreamNameMismatch Kind = "upstream-name-mismatch"
	// Front: alert 112 unrecognized name (the upstream chose its server by SNI and the
	// front sent none, or another name).
	KindUpstreamSNIMissing Kind = "upstream-sni-missing"
	// Front: (10:certificate has expired) or (9:certificate is not yet valid).
	KindUpstreamCertExpired Kind = "upstream-cert-expired"
	// Front: (23:certificate revoked), or a CRL error from proxy_ssl_crl.
	KindUpstreamCertRevoked Kind = "upstream-cert-revoked"
	// Front: (22:certificate chain too long).
	KindUpstreamVerifyDepth Kind = "upstream-verify-depth"
	// Front: alert 70 protocol version, or unsupported protocol / no protocols available.
	KindUpstreamTLSVersionMismatch Kind = "upstream-tls-version-mismatch"
	// Front: any other handshake failure (alert 40 handshake failure, no shared cipher,
	// the upstream closing the connection in the handshake), with the alert named.
	KindUpstreamTLSHandshakeFailed Kind = "upstream-tls-handshake-failed"
	// Front: SSL_do_handshake() failed (… wrong version number): the upstream answered
	// the ClientHello in plaintext.
	KindUpstreamNotTLS Kind = "upstream-not-tls"
	// Front: connect() failed, upstream timed out or no live upstreams while connecting
	// to a TLS upstream.
	KindUpstreamUnreachable Kind = "upstream-unreachable"
)

// upstreamKinds are the upstream kinds in display order; Kinds ends with them.
var upstreamKinds = []Kind{
	KindUpstreamUnreachable, KindUpstreamNotTLS, KindUpstreamTLSVersionMismatch, KindUpstreamTLSHandshakeFailed,
	KindUpstreamSNIMissing, KindUpstreamCertUntrusted, KindUpstreamNameMismatch, KindUpstreamCertExpired,
	KindUpstreamCertRevoked, KindUpstreamVerifyDepth,
	KindUpstreamClientCertNotConfigured, KindUpstreamClientCertUnknownCA, KindUpstreamClientCertExpired,
	KindUpstreamClientCertNotYetValid, KindUpstreamClientCertWrongPurpose, KindUpstreamClientCertRevoked,
	KindUpstreamClientCertRejected,
}

// IsUpstreamKind reports whether k is about NGINX as the client of an upstream rather
// than about an agent.
func IsUpstreamKind(k Kind) bool { return strings.HasPrefix(string(k), "upstream-") }

// towardsUpstream reports whether an error-log entry is about the connection to an
// upstream: NGINX sets the action "connecting to upstream", "SSL handshaking to
// upstream", "reading response header from upstream", … (src/http/ngx_http_upstream.c).
func towardsUpstream(e *ErrorEntry) bool {
	return strings.HasSuffix(e.Action, " upstream") && e.Upstream != ""
}

// tlsUpstream reports whether the upstream field names a TLS scheme.
func tlsUpstream(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "grpcs://") || strings.HasPrefix(u, "suwsgi://")
}

// UpstreamPeer returns the host:port of NGINX's upstream field: "https://10.0.0.9:443/x"
// gives "10.0.0.9:443". NGINX writes the peer it connected to, so for an upstream{}
// block it is the chosen server's address.
func UpstreamPeer(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

// classifyUpstreamError classifies the front's lines about a TLS upstream (ok false for
// other lines), following ngx_http_upstream_ssl_handshake (src/http/ngx_http_upstream.c)
// and ngx_ssl_connection_error (src/event/ngx_event_openssl.c).
func classifyUpstreamError(e *ErrorEntry) (ev Event, ok bool) {
	if !towardsUpstream(e) || !tlsUpstream(e.Upstream) {
		return ev, false
	}
	ev = Event{Source: SourceNginxError, Time: e.Time, Client: e.Client, Server: e.Server, Upstream: UpstreamPeer(e.Upstream)}
	m := e.Message
	switch {
	case strings.HasPrefix(m, "upstream SSL certificate verify error: "):
		reason := m[len("upstream SSL certificate verify error: "):]
		ev.X509Code, ev.X509Text = parseVerifyReason(reason)
		ev.Kind, ev.Detail = upstreamX509Kind(ev.X509Code, ev.X509Text), reason
	case strings.HasPrefix(m, "upstream SSL certificate does not match "):
		ev.Kind, ev.Detail = KindUpstreamNameMismatch, m
	case strings.HasPrefix(m, "SSL_do_handshake() failed"), strings.HasPrefix(m, "SSL_read() failed"),
		strings.HasPrefix(m, "SSL_write() failed"):
		if !upstreamSSLFailure(&ev, m) {
			return ev, false
		}
	case strings.HasPrefix(m, "peer closed connection in SSL handshake") && e.Action == "SSL handshaking to upstream":
		ev.Kind, ev.Detail = KindUpstreamTLSHandshakeFailed, m
	case e.Action == "connecting to upstream" &&
		(strings.HasPrefix(m, "connect() failed") || m == "no live upstreams" || strings.HasPrefix(m, "upstream timed out")):
		ev.Kind, ev.Detail = KindUpstreamUnreachable, m
	case e.Action == "SSL handshaking to upstream" && strings.HasPrefix(m, "upstream timed out"):
		ev.Kind, ev.Detail = KindUpstreamTLSHandshakeFailed, m
	default:
		return ev, false
	}
	return ev, true
}

// upstreamAlertKinds maps the alert an upstream sends in (or, under TLS 1.3, just after)
// the handshake to the finding it points at (RFC 8446 section 6.2; Go's choices are in
// crypto/tls handshake_server.go: 116 or 40 for no certificate, 48 unknown CA, 45
// expired, 42 otherwise).
var upstreamAlertKinds = map[int]Kind{
	116: KindUpstreamClientCertNotConfigured, // certificate required
	48:  KindUpstreamClientCertUnknownCA,     // unknown CA
	45:  KindUpstreamClientCertExpired,       // certificate expired
	44:  KindUpstreamClientCertRevoked,       // certificate revoked
	42:  KindUpstreamClientCertRejected,      // bad certificate
	43:  KindUpstreamClientCertRejected,      // unsupported certificate
	46:  KindUpstreamClientCertRejected,      // certificate unknown
	70:  KindUpstreamTLSVersionMismatch,      // protocol version
	112: KindUpstreamSNIMissing,              // unrecognized name
}

// upstreamSSLFailure classifies an OpenSSL failure on the upstream connection: by the
// alert the upstream sent, else by OpenSSL's reason.
func upstreamSSLFailure(ev *Event, m string) bool {
	if i := strings.Index(m, "SSL alert number "); i >= 0 {
		digits, _, _ := strings.Cut(m[i+len("SSL alert number "):], ")")
		n, err := strconv.Atoi(digits)
		if err != nil {
			return false
		}
		ev.Detail = alertDetail(m, i, n)
		if k, ok := upstreamAlertKinds[n]; ok {
			ev.Kind = k
		} else {
			ev.Kind = KindUpstreamTLSHandshakeFailed
		}
		return true
	}
	for _, r := range []struct {
		text string
		kind Kind
	}{
		{"wrong version number", KindUpstreamNotTLS},
		{"packet length too long", KindUpstreamNotTLS},
		{"unsupported protocol", KindUpstreamTLSVersionMismatch},
		{"no protocols available", KindUpstreamTLSVersionMismatch},
		{"no ciphers available", KindUpstreamTLSHandshakeFailed},
		{"no shared cipher", KindUpstreamTLSHandshakeFailed},
	} {
		if strings.Contains(m, r.text) {
			ev.Kind, ev.Detail = r.kind, r.text
			return true
		}
	}
	if strings.HasPrefix(m, "SSL_do_handshake() failed") {
		ev.Kind, ev.Detail = KindUpstreamTLSHandshakeFailed, m
		return true
	}
	return false
}

// alertDetail names the alert: "alert handshake failure (SSL alert number 40)" from
// OpenSSL's "…:sslv3 alert handshake failure:SSL alert number 40".
func alertDetail(m string, at, n int) string {
	num := "SSL alert number " + strconv.Itoa(n)
	before := m[:at]
	if j := strings.LastIndex(before, "alert "); j >= 0 {
		name := strings.TrimRight(before[j:], ":")
		return name + " (" + num + ")"
	}
	return num
}

// upstreamX509Kind maps OpenSSL's verdict on the upstream's certificate, as the front
// logs it, to a kind. The text decides where it is stable; numbers have moved between
// OpenSSL versions (see x509Kind).
func upstreamX509Kind(code int, text string) Kind {
	switch {
	case text == "certificate has expired", strings.HasPrefix(text, "certificate is not yet valid"):
		return KindUpstreamCertExpired
	case text == "certificate revoked", text == "CRL has expired", text == "unable to get certificate CRL",
		strings.HasPrefix(text, "CRL is not yet valid"):
		return KindUpstreamCertRevoked
	case text == "certificate chain too long":
		return KindUpstreamVerifyDepth
	}
	return KindUpstreamCertUntrusted
}

// classifyUpstreamClientCert classifies the upstream NGINX's verdict on the front's
// certificate: a client-certificate line of a request that is not an agent's (agents
// speak gRPC on their own paths). The event's Upstream is the Host the front sent, which
// by default is the proxy_pass host ($proxy_host).
func classifyUpstreamClientCert(e *ErrorEntry, ev Event) (Event, bool) {
	if !notAgentRequest(e.Request) {
		return ev, false
	}
	ev.Upstream = e.Host
	switch ev.Kind {
	case KindAgentCertNotSent:
		ev.Kind = KindUpstreamClientCertNotConfigured
	case KindAgentCertExpired:
		ev.Kind = KindUpstreamClientCertExpired
	case KindAgentCertNotYetValid:
		ev.Kind = KindUpstreamClientCertNotYetValid
	case KindAgentCertWrongPurpose:
		ev.Kind = KindUpstreamClientCertWrongPurpose
	case KindAgentCertRevoked:
		ev.Kind = KindUpstreamClientCertRevoked
	default:
		switch ev.X509Code {
		case 18, 19, 20, 21:
			// 21: the leaf's issuer is in neither the chain sent nor the CA file.
			ev.Kind = KindUpstreamClientCertUnknownCA
		default:
			ev.Kind = KindUpstreamClientCertRejected
		}
	}
	return ev, true
}

// notAgentRequest reports whether an error line's request is known and is not an agent's
// gRPC call.
func notAgentRequest(request string) bool {
	if request == "" {
		return false
	}
	_, rest, ok := strings.Cut(request, " ")
	if !ok {
		return false
	}
	uri, _, _ := strings.Cut(rest, " ")
	return !IsAgentPath(uri)
}

// classifyUpstreamAccess classifies a front access line whose format logs
// $upstream_status: the client got a 400, 403, 495, 496 or 502 because the upstream
// answered 400 (NGINX sends 495/496 as 400), 403, 495 or 496 — an upstream that refused
// the front's certificate. $upstream_status and $upstream_addr list every server tried
// ("502, 400" or "10.0.0.1:443 : 10.0.0.2:443"); the last one answered.
func classifyUpstreamAccess(e *AccessEntry) (ev Event, ok bool) {
	if e.UpstreamStatus == "" || IsAgentPath(e.URI) {
		return ev, false
	}
	switch e.Status {
	case 400, 403, 495, 496, 502:
	default:
		return ev, false
	}
	last := lastListed(e.UpstreamStatus)
	switch last {
	case "400", "403", "495", "496":
	default:
		return ev, false
	}
	ev = Event{Source: SourceNginxAccess, Time: e.Time, Client: e.RemoteAddr, Server: e.Host, Status: e.Status,
		Upstream: lastListed(e.UpstreamAddr), Kind: KindUpstreamClientCertRejected}
	ev.Detail = "upstream answered " + last
	if last == "400" {
		ev.Detail += " (an upstream NGINX sends 495/496 as 400)"
	}
	return ev, true
}

// lastListed returns the last entry of an $upstream_* list, whose entries are separated
// by ", " (servers tried) and " : " (internal redirects).
func lastListed(v string) string {
	for _, sep := range []string{", ", " : "} {
		if i := strings.LastIndex(v, sep); i >= 0 {
			v = v[i+len(sep):]
		}
	}
	return strings.TrimSpace(v)
}
