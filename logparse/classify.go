package logparse

import (
	"strconv"
	"strings"
	"time"
)

// Kind is an event class. Its value is part of the output (`mtls-doctor logs -o json`)
// and usually matches the finding it backs, but diagnostics joins events to findings by
// the kinds a check declares (Check.LogKinds), never by the name.
type Kind string

// Event kinds. NGINX-side kinds come from the error and access logs of the manager's NGINX,
// agent-side kinds from agent.log.
const (
	// NGINX: client SSL certificate verify error: (10:certificate has expired).
	KindAgentCertExpired Kind = "agent-cert-expired"
	// NGINX: (9:certificate is not yet valid).
	KindAgentCertNotYetValid Kind = "agent-cert-not-yet-valid"
	// NGINX: client sent no required SSL certificate (496).
	KindAgentCertNotSent Kind = "agent-cert-not-sent"
	// NGINX: (26:unsuitable certificate purpose).
	KindAgentCertWrongPurpose Kind = "agent-cert-wrong-purpose"
	// NGINX: (23:certificate revoked).
	KindAgentCertRevoked Kind = "agent-cert-revoked"
	// NGINX: (12:CRL has expired).
	KindCRLExpired Kind = "crl-expired"
	// NGINX: (22:certificate chain too long).
	KindClientVerifyDepth Kind = "client-verify-depth"
	// NGINX: any other client certificate verify error (code kept); access log 400/495 on
	// the agent's gRPC paths; agent: 400 text/html, code = Unauthenticated, or a TLS
	// alert from a server that rejects certificates in the handshake.
	KindAgentCertRejected Kind = "agent-cert-rejected"
	// NGINX: SSL_do_handshake() failed … alert bad certificate (the agent refused
	// NGINX's certificate; Go sends alert 42 for every verification failure).
	KindServerCertRejectedByAgent Kind = "server-cert-rejected-by-agent"
	// NGINX: … no application protocol; agent: missing selected ALPN property.
	KindALPNH2Missing Kind = "alpn-h2-missing"
	// NGINX: … unsupported protocol; agent: protocol version not supported.
	KindTLSVersionMismatch Kind = "tls-version-mismatch"
	// NGINX: client sent plain HTTP request to HTTPS port, or a "PRI * HTTP/2.0"
	// request (h2c preface on a TLS port); agent: error reading server preface.
	KindAgentTLSDisabled Kind = "agent-tls-disabled"
	// NGINX: connect() failed … while connecting to upstream on a grpc:// upstream,
	// access log 502.
	KindGRPCBackendUnavailable Kind = "grpc-backend-unavailable"
	// NGINX: client attempted to request the server name different from the one that
	// was negotiated (421).
	KindMisdirectedRequest Kind = "misdirected-request"
	// Agent: x509: certificate is valid for …, not … / doesn't contain any IP SANs.
	KindServerNameMismatch Kind = "server-name-mismatch"
	// Agent: x509: certificate relies on legacy Common Name field.
	KindServerCertCNOnly Kind = "server-cert-cn-only"
	// Agent: x509: certificate signed by unknown authority.
	KindServerCertUntrusted Kind = "server-cert-untrusted"
	// Agent: x509: certificate has expired or is not yet valid: … is after ….
	KindServerCertExpired Kind = "server-cert-expired"
	// Agent: x509: certificate has expired or is not yet valid: … is before ….
	KindServerCertNotYetValid Kind = "server-cert-not-yet-valid"
	// Agent: x509: certificate specifies an incompatible key usage.
	KindServerCertWrongPurpose Kind = "server-cert-wrong-purpose"
	// Agent: tls: private key does not match public key.
	KindAgentKeyMismatch Kind = "agent-key-mismatch"
	// Agent: the X509 key pair or CA file could not be opened.
	KindAgentCertFileUnreadable Kind = "agent-cert-file-unreadable"
	// Agent: connect: connection refused.
	KindEndpointRefused Kind = "endpoint-refused"
	// Agent: dial tcp: lookup …: no such host.
	KindEndpointDNS Kind = "endpoint-dns"
	// Agent: dial tcp …: i/o timeout.
	KindEndpointTimeout Kind = "endpoint-timeout"
	// Agent: tls: first record does not look like a TLS handshake.
	KindEndpointNotTLS Kind = "endpoint-not-tls"
)

// Kinds lists every event kind, in the order findings are displayed.
var Kinds = []Kind{
	KindAgentTLSDisabled, KindAgentCertFileUnreadable, KindAgentKeyMismatch,
	KindAgentCertExpired, KindAgentCertNotYetValid, KindAgentCertWrongPurpose,
	KindEndpointDNS, KindEndpointRefused, KindEndpointTimeout, KindEndpointNotTLS,
	KindTLSVersionMismatch, KindALPNH2Missing,
	KindServerCertUntrusted, KindServerNameMismatch, KindServerCertCNOnly,
	KindServerCertExpired, KindServerCertNotYetValid, KindServerCertWrongPurpose,
	KindServerCertRejectedByAgent,
	KindAgentCertNotSent, KindAgentCertRejected, KindAgentCertRevoked, KindCRLExpired, KindClientVerifyDepth,
	KindGRPCBackendUnavailable, KindMisdirectedRequest,
	// The upstream kinds (upstream.go) follow, in their own order.
}

func init() { Kinds = append(Kinds, upstreamKinds...) }

// Source says which log an event came from.
type Source string

const (
	SourceNginxError  Source = "nginx-error"  // an NGINX error_log
	SourceNginxAccess Source = "nginx-access" // an NGINX access_log
	SourceAgent       Source = "agent"        // the agent's agent.log
)

// Event is one classified log line.
type Event struct {
	Kind   Kind
	Source Source
	// Time is the line's timestamp.
	Time time.Time
	// Client is the agent's address as NGINX logged it; "" for agent lines.
	Client string
	// Upstream is the upstream server of an upstream-* event, host:port as the front
	// logged it (or the Host the front sent, on the upstream's own lines); "" otherwise.
	Upstream string
	// Server is NGINX's server name or listen address, or the host:port an agent line
	// names; "" when the line does not say.
	Server string
	// X509Code and X509Text are OpenSSL's verify result as NGINX logged it
	// ("(10:certificate has expired)"); the code is 0 when only the text is known
	// (access log $ssl_client_verify) and no table entry gives it.
	X509Code int
	X509Text string
	// Status is the access log's $status; 0 for other sources.
	Status int
	// Detail is the part of the line that decided the kind, e.g. "SSL alert number 42"
	// or the agent's error text.
	Detail string
	// Line is the verbatim line, cut at MaxLineBytes.
	Line string
}

// ClassifyError classifies an NGINX error-log entry. ok is false for lines that are
// not about the agent's mTLS connection.
func ClassifyError(e *ErrorEntry) (ev Event, ok bool) {
	ok = classifyError(e, &ev)
	return ev, ok
}

// classifyError is ClassifyError into *ev, which it overwrites.
func classifyError(e *ErrorEntry, ev *Event) bool {
	if up, ok := classifyUpstreamError(e); ok {
		*ev = up
		return true
	}
	*ev = Event{Source: SourceNginxError, Time: e.Time, Client: e.Client, Server: e.Server}
	m := e.Message
	switch {
	case strings.HasPrefix(m, "client SSL certificate verify error: "):
		reason := m[len("client SSL certificate verify error: "):]
		ev.X509Code, ev.X509Text = parseVerifyReason(reason)
		ev.Kind, ev.Detail = x509Kind(ev.X509Text), reason
		if up, ok := classifyUpstreamClientCert(e, *ev); ok {
			*ev = up
		}
		return true
	case m == "client sent no required SSL certificate":
		ev.Kind, ev.Detail = KindAgentCertNotSent, m
		if up, ok := classifyUpstreamClientCert(e, *ev); ok {
			*ev = up
		}
		return true
	case m == "client sent plain HTTP request to HTTPS port":
		ev.Kind, ev.Detail = KindAgentTLSDisabled, m
		return true
	case strings.HasPrefix(e.Request, "PRI * HTTP/2.0") && strings.HasPrefix(m, "client sent invalid "):
		ev.Kind, ev.Detail = KindAgentTLSDisabled, `request "PRI * HTTP/2.0": an HTTP/2 preface without TLS`
		return true
	case m == "client attempted to request the server name different from the one that was negotiated":
		ev.Kind, ev.Detail = KindMisdirectedRequest, m
		return true
	case strings.HasPrefix(m, "SSL_do_handshake() failed"):
		return classifyHandshake(ev, m)
	case e.Action == "connecting to upstream" && isGRPCUpstream(e.Upstream) &&
		(strings.HasPrefix(m, "connect() failed") || m == "no live upstreams" || strings.HasPrefix(m, "upstream timed out")):
		ev.Kind, ev.Detail = KindGRPCBackendUnavailable, m // the line names the upstream
		return true
	}
	return false
}

// errorPrefixes are the message starts ClassifyError can classify. Parser checks them
// before it splits the fields of a line, which most lines of a busy log never need.
var errorPrefixes = []string{
	"client SSL certificate verify error: ", "client sent ", "client attempted to request ",
	"SSL_do_handshake() failed", "connect() failed", "no live upstreams", "upstream timed out",
	"upstream SSL certificate ", "SSL_read() failed", "SSL_write() failed", "peer closed connection in SSL handshake",
}

// mayClassifyError reports whether a message can classify, and up to which field of the
// line ClassifyError reads (an index into errorFields). ok false means ClassifyError is
// false for every line with this message.
func mayClassifyError(msg string) (last int, ok bool) {
	if msg == "" || msg[0] != 'c' && msg[0] != 'S' && msg[0] != 'n' && msg[0] != 'u' && msg[0] != 'p' {
		return 0, false // the first bytes of errorPrefixes: most messages stop here
	}
	for _, p := range errorPrefixes {
		if strings.HasPrefix(msg, p) {
			switch p {
			case "client sent ", "client SSL certificate verify error: ":
				// request and host: the "PRI * HTTP/2.0" check, an agent's path or
				// an upstream's view of the front.
				return 5, true
			case "connect() failed", "no live upstreams", "upstream timed out", "upstream SSL certificate ",
				"SSL_read() failed", "SSL_write() failed", "peer closed connection in SSL handshake":
				return 4, true // upstream: grpc:// or not
			case "SSL_do_handshake() failed":
				return 4, true // upstream: an agent's handshake or the front's to an upstream
			}
			return 1, true // client and server
		}
	}
	return 0, false
}

// handshakeAlerts maps the TLS alert numbers a client sends when it refuses the server's
// certificate: 42 bad certificate (what Go sends), 45 certificate expired, 46 certificate
// unknown, 48 unknown CA.
var handshakeAlerts = map[string]bool{"42": true, "45": true, "46": true, "48": true}

func classifyHandshake(ev *Event, m string) bool {
	if i := strings.Index(m, "SSL alert number "); i >= 0 {
		n, _, _ := strings.Cut(m[i+len("SSL alert number "):], ")")
		ev.Detail = m[i : i+len("SSL alert number ")+len(n)]
		switch {
		case handshakeAlerts[n]:
			ev.Kind = KindServerCertRejectedByAgent
			return true
		case n == "70":
			ev.Kind = KindTLSVersionMismatch
			return true
		case n == "120":
			ev.Kind = KindALPNH2Missing
			return true
		}
		return false
	}
	for _, r := range []struct {
		text string
		kind Kind
	}{
		{"no application protocol", KindALPNH2Missing},
		{"unsupported protocol", KindTLSVersionMismatch},
	} {
		if strings.Contains(m, r.text) {
			ev.Kind, ev.Detail = r.kind, r.text
			return true
		}
	}
	return false
}

func isGRPCUpstream(u string) bool {
	return strings.HasPrefix(u, "grpc://") || strings.HasPrefix(u, "grpcs://")
}

// parseVerifyReason splits "(10:certificate has expired)"; the OCSP form has no parens
// and no code.
func parseVerifyReason(r string) (int, string) {
	if !strings.HasPrefix(r, "(") {
		return 0, r
	}
	inner := strings.TrimSuffix(r[1:], ")")
	n, k := atoiPrefix(inner)
	if k == 0 || k >= len(inner) || inner[k] != ':' {
		return 0, inner
	}
	return n, inner[k+1:]
}

// x509Kind maps OpenSSL's verify text to a kind. The text, not the number, decides:
// numbers have moved between OpenSSL versions (openssl include/openssl/x509_vfy.h.in,
// crypto/x509/x509_txt.c).
func x509Kind(text string) Kind {
	switch {
	case text == "certificate has expired":
		return KindAgentCertExpired
	case strings.HasPrefix(text, "certificate is not yet valid"):
		return KindAgentCertNotYetValid
	case text == "certificate revoked":
		return KindAgentCertRevoked
	case text == "unsuitable certificate purpose":
		return KindAgentCertWrongPurpose
	case text == "CRL has expired":
		return KindCRLExpired
	case text == "certificate chain too long":
		return KindClientVerifyDepth
	}
	return KindAgentCertRejected
}

// x509Codes gives the code of OpenSSL verify texts whose number has been stable, for
// access logs that carry only $ssl_client_verify's "FAILED:<text>".
var x509Codes = map[string]int{
	"unable to get issuer certificate":               2,
	"certificate signature failure":                  7,
	"certificate is not yet valid":                   9,
	"certificate has expired":                        10,
	"CRL has expired":                                12,
	"self-signed certificate":                        18,
	"self signed certificate":                        18,
	"self-signed certificate in certificate chain":   19,
	"self signed certificate in certificate chain":   19,
	"unable to get local issuer certificate":         20,
	"unable to verify the first certificate":         21,
	"certificate chain too long":                     22,
	"certificate revoked":                            23,
	"unsuitable certificate purpose":                 26,
	"certificate not trusted":                        27,
	"certificate rejected":                           28,
	"key usage does not include certificate signing": 32,
}

// agentPaths are the gRPC service prefixes of agent v2 and v3.
var agentPaths = []string{"/f5.nginx.agent.sdk.", "/mpi.v1."}

// IsAgentPath reports whether a request URI is one of the agent's gRPC services.
func IsAgentPath(uri string) bool {
	for _, p := range agentPaths {
		if strings.HasPrefix(uri, p) {
			return true
		}
	}
	return false
}

// ClassifyAccess classifies an access-log entry by its status (NGINX
// src/http/ngx_http_special_response.c):
// 495/496/497 appear as such only when an error_page keeps them; NGINX logs them as
// 400, so a 400 is judged by $ssl_client_verify and the request.
func ClassifyAccess(e *AccessEntry) (ev Event, ok bool) {
	ok = classifyAccess(e, &ev, nil)
	return ev, ok
}

// classifyAccess is ClassifyAccess into *ev, which it overwrites. memo, when not nil,
// holds the last "$ssl_client_verify …" detail made and is reused while the verify
// result repeats, which spares the scan an allocation per rejected line.
func classifyAccess(e *AccessEntry, ev *Event, memo *string) bool {
	if up, ok := classifyUpstreamAccess(e); ok {
		*ev = up
		return true
	}
	*ev = Event{Source: SourceNginxAccess, Time: e.Time, Client: e.RemoteAddr, Server: e.Host, Status: e.Status}
	agent := IsAgentPath(e.URI)
	failed, hasReason := strings.CutPrefix(e.SSLClientVerify, "FAILED:")
	setFailed := func() {
		ev.X509Text, ev.X509Code = failed, x509Codes[failed]
		if ev.X509Code == 0 && strings.HasPrefix(failed, "certificate is not yet valid") {
			ev.X509Code = 9
		}
		const prefix = "$ssl_client_verify "
		ev.Kind = x509Kind(failed)
		switch {
		case memo == nil:
			ev.Detail = prefix + e.SSLClientVerify
		case len(*memo) == len(prefix)+len(e.SSLClientVerify) && (*memo)[len(prefix):] == e.SSLClientVerify:
			ev.Detail = *memo
		default:
			ev.Detail = prefix + e.SSLClientVerify
			*memo = ev.Detail
		}
	}
	switch {
	case e.Status == 495 || e.Status == 400 && hasReason:
		ev.Kind, ev.Detail = KindAgentCertRejected, statusText(e.Status)
		if hasReason {
			setFailed()
		}
	case e.Status == 496 || e.Status == 400 && agent && e.SSLClientVerify == "NONE":
		ev.Kind, ev.Detail = KindAgentCertNotSent, statusText(e.Status)
	case e.Status == 497 || e.Status == 400 && strings.HasPrefix(e.Request, "PRI * HTTP/2.0"):
		ev.Kind, ev.Detail = KindAgentTLSDisabled, statusText(e.Status)
	case e.Status == 421:
		ev.Kind, ev.Detail = KindMisdirectedRequest, statusText(e.Status)
	case e.Status == 502 && (agent || e.URI == ""):
		ev.Kind, ev.Detail = KindGRPCBackendUnavailable, statusText(e.Status)
	case e.Status == 400 && agent:
		ev.Kind, ev.Detail = KindAgentCertRejected, statusText(e.Status)
	case agent && e.GRPCStatus == "16":
		ev.Kind, ev.Detail = KindAgentCertRejected, "grpc-status 16 (Unauthenticated)"
	default:
		return false
	}
	return true
}

// mayClassifyStatus reports whether ClassifyAccess may report a line with this status
// whatever its grpc status: the statuses its cases name (400 stands for 495, 496 and 497,
// as NGINX logs them). Keep it in step with ClassifyAccess.
func mayClassifyStatus(status int) bool {
	switch status {
	case 400, 403, 421, 495, 496, 497, 502:
		return true
	}
	return false
}

func statusText(s int) string {
	switch s {
	case 400:
		return "status 400 (NGINX logs 495/496/497 as 400)"
	case 495:
		return "status 495 (client certificate verify error)"
	case 496:
		return "status 496 (no client certificate)"
	case 497:
		return "status 497 (plain HTTP to an HTTPS port)"
	case 421:
		return "status 421 (misdirected request)"
	case 502:
		return "status 502 (bad gateway)"
	}
	return "status " + strconv.Itoa(s)
}

// agentRules match the agent's error text (Go crypto/tls and crypto/x509, grpc-go and the
// agent's own messages in nginx/agent v2 sdk/client/commander.go and v3
// internal/grpc/grpc.go), most specific first. Every string in
// a rule must appear.
var agentRules = []struct {
	all  []string
	kind Kind
}{
	{[]string{"private key does not match public key"}, KindAgentKeyMismatch},
	{[]string{"X509 keypair: open "}, KindAgentCertFileUnreadable},
	{[]string{"read CA file (", ": open "}, KindAgentCertFileUnreadable},
	{[]string{"missing selected ALPN property"}, KindALPNH2Missing},
	{[]string{"tls: no application protocol"}, KindALPNH2Missing},
	{[]string{"x509: certificate is valid for "}, KindServerNameMismatch},
	{[]string{"x509: certificate is not valid for any names"}, KindServerNameMismatch},
	{[]string{"x509: cannot validate certificate for ", "doesn't contain any IP SANs"}, KindServerNameMismatch},
	{[]string{"x509: certificate relies on legacy Common Name field"}, KindServerCertCNOnly},
	{[]string{"x509: certificate signed by unknown authority"}, KindServerCertUntrusted},
	{[]string{"x509: certificate has expired or is not yet valid", " is after "}, KindServerCertExpired},
	{[]string{"x509: certificate has expired or is not yet valid", " is before "}, KindServerCertNotYetValid},
	{[]string{"x509: certificate specifies an incompatible key usage"}, KindServerCertWrongPurpose},
	{[]string{"tls: first record does not look like a TLS handshake"}, KindEndpointNotTLS},
	{[]string{"error reading server preface", "looked like an HTTP/1.1 header"}, KindAgentTLSDisabled},
	{[]string{"error reading server preface", "frame too large"}, KindAgentTLSDisabled},
	{[]string{"remote error: tls: protocol version not supported"}, KindTLSVersionMismatch},
	{[]string{"400 (Bad Request)", "text/html"}, KindAgentCertRejected},
	{[]string{"code = Unauthenticated"}, KindAgentCertRejected},
	{[]string{"code=Unauthenticated"}, KindAgentCertRejected},
	{[]string{"remote error: tls: bad certificate"}, KindAgentCertRejected},
	{[]string{"remote error: tls: certificate required"}, KindAgentCertRejected},
	{[]string{"remote error: tls: unknown certificate authority"}, KindAgentCertRejected},
	{[]string{"remote error: tls: expired certificate"}, KindAgentCertRejected},
	{[]string{"connect: connection refused"}, KindEndpointRefused},
	{[]string{"dial tcp", "no such host"}, KindEndpointDNS},
	{[]string{"dial tcp", "i/o timeout"}, KindEndpointTimeout},
}

// ClassifyAgent classifies an agent entry by the Go and grpc-go error text it carries.
func ClassifyAgent(e *AgentEntry) (ev Event, ok bool) {
	ev = Event{Source: SourceAgent, Time: e.Time}
	text := e.Text()
	for _, r := range agentRules {
		matched := true
		for _, s := range r.all {
			if !strings.Contains(text, s) {
				matched = false
				break
			}
		}
		if matched {
			ev.Kind, ev.Detail = r.kind, agentDetail(text, r.all[0])
			return ev, true
		}
	}
	return ev, false
}

// agentDetail cuts the error text to the part from the innermost recognisable prefix
// ("x509: …", "tls: …", "transport: …") that holds the match.
func agentDetail(text, match string) string {
	i := strings.Index(text, match)
	if i < 0 {
		return text
	}
	start := 0
	for _, p := range []string{"tls: failed to verify certificate: ", "transport: ", "desc = ", "message="} {
		if j := strings.LastIndex(text[:i], p); j >= 0 && j+len(p) > start {
			start = j + len(p)
		}
	}
	if start == 0 {
		return strings.TrimSpace(text)
	}
	return strings.TrimSuffix(strings.TrimSpace(text[start:]), `"`)
}
