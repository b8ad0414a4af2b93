package probes

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// This file holds the facts of NGINX's upstream links: NGINX as the TLS client of the
// servers its proxy_pass https://, grpc_pass grpcs:// and uwsgi_pass suwsgi:// locations
// reach, with the files its *_ssl_* directives name and, unless offline, a probe of each
// upstream server made the way NGINX would connect.

// UpstreamFacts is every upstream link of the NGINX configuration that was read.
type UpstreamFacts struct {
	// Version is the nginx version whose defaults were applied; "" when unknown.
	Version string `json:"version,omitempty"`
	// Links are the links in configuration order.
	Links []*UpstreamLinkFacts `json:"links,omitempty"`
	// Offline is true when no upstream was probed (only the configuration and files
	// were read).
	Offline bool `json:"offline,omitempty"`
	// NotProbed counts the upstream servers left unprobed because the run reached its
	// probe limit (UpstreamProbeOptions.MaxProbes).
	NotProbed int `json:"not_probed,omitempty"`
	// Concurrency is how many upstream servers were probed at once.
	Concurrency int `json:"concurrency,omitempty"`
	// StepTimeout is the deadline of each network step of a probe (--timeout).
	StepTimeout time.Duration `json:"step_timeout,omitempty"`
	// Duration is the wall time of reading the files and probing every server.
	Duration time.Duration `json:"duration,omitempty"`
}

// UpstreamLinkFacts is one link: its configuration, the files it names and what the
// probe of each of its servers showed.
type UpstreamLinkFacts struct {
	*nginxconf.UpstreamLink
	// Cert and Key are the client certificate and key files (*_ssl_certificate,
	// *_ssl_certificate_key); nil when unset or when the path holds variables.
	Cert *FileFacts `json:"cert,omitempty"`
	Key  *FileFacts `json:"key,omitempty"`
	// PasswordFile is *_ssl_password_file; nil when unset.
	PasswordFile *PasswordFileFacts `json:"password_file,omitempty"`
	// KeyUnlock is set when Key holds an encrypted private key: whether one of the
	// password file's passphrases decrypts it, as NGINX tries them (each line in turn).
	KeyUnlock *KeyUnlock `json:"key_unlock,omitempty"`
	// TrustedCA is *_ssl_trusted_certificate; nil when unset.
	TrustedCA *FileFacts `json:"trusted_ca,omitempty"`
	// CRL is *_ssl_crl; nil when unset.
	CRL *CRLFacts `json:"crl,omitempty"`
	// Local are the upstream servers this same configuration terminates, with the server
	// block that judges the link's certificate (FindLocalTerminators): NGINX's verdict
	// can be predicted offline from its ssl_verify_client settings.
	Local []LocalTerminator `json:"local,omitempty"`
	// Probes hold one probe per server of the link that was probed, in Servers order:
	// none when offline or when the link cannot be judged (UpstreamLink.Judgeable); down
	// servers and those past the run's probe limit are left out.
	Probes []*UpstreamProbe `json:"probes,omitempty"`
	// NotProbed counts this link's servers left unprobed at the run's probe limit.
	NotProbed int `json:"not_probed,omitempty"`

	// clientCert is the certificate and key NGINX would present, loaded for the probe
	// (never rendered); clientCertErr says why there is none although one is configured.
	clientCert    *tls.Certificate
	clientCertErr string
}

// PasswordFileFacts is what a *_ssl_password_file holds, without the passphrases.
type PasswordFileFacts struct {
	Path      string `json:"path"`
	Exists    bool   `json:"exists"`
	ReadError string `json:"read_error,omitempty"`
	// Passphrases counts the lines NGINX would try (ngx_ssl_read_password_file: every
	// line, trailing CR and whitespace trimmed, empty lines included).
	Passphrases int `json:"passphrases"`
}

// KeyUnlock is the outcome of decrypting an encrypted private key with the password file.
type KeyUnlock struct {
	// Line is the 1-based line of the passphrase that decrypted the key; 0 when none did
	// (or there is no password file).
	Line int `json:"line,omitempty"`
	// Error says why the key stayed locked: no password file, no passphrase matched, or
	// an encryption this tool cannot undo (then NGINX may still succeed).
	Error string `json:"error,omitempty"`
	// Unsupported is true when the key's encryption could not be tried here.
	Unsupported bool `json:"unsupported,omitempty"`
	// Key describes the decrypted key (for the key/certificate match); nil while locked.
	Key *KeyFacts `json:"key,omitempty"`
}

// UpstreamProbe is one connection to one upstream server, made as NGINX makes it: the
// link's client certificate, its SNI rule and protocol range, then one request (HTTP/1.1
// for proxy_pass, an HTTP/2 gRPC call for grpc_pass).
type UpstreamProbe struct {
	// Server is the upstream server probed.
	Server nginxconf.UpstreamServer `json:"server"`
	// SNI is the server name sent; "" when none (NGINX's default).
	SNI string `json:"sni,omitempty"`
	// MinVersion and MaxVersion are the TLS versions offered (tls.VersionTLS12, …);
	// zero when the link's protocols could not be mapped.
	MinVersion uint16 `json:"min_version,omitempty"`
	MaxVersion uint16 `json:"max_version,omitempty"`
	// Ciphers are the TLS 1.2 suites offered (OpenSSL's names), those *_ssl_ciphers
	// enables that Go implements (OfferedCiphers); CiphersUnknown are the elements of
	// *_ssl_ciphers the probe could not map (OpenSSL may offer more than the probe).
	Ciphers        []string `json:"ciphers,omitempty"`
	CiphersUnknown []string `json:"ciphers_unknown,omitempty"`
	// ClientCertOffered is true when the link's certificate loaded and was offered.
	ClientCertOffered bool `json:"client_cert_offered"`
	// ClientCertError says why the link's certificate could not be offered although
	// configured (a locked key, a mismatch, …).
	ClientCertError string `json:"client_cert_error,omitempty"`
	// TCPAddr is the address connected to; TCPError is set when no connection was made.
	TCPAddr  string      `json:"tcp_addr,omitempty"`
	TCPError *ProbeError `json:"tcp_error,omitempty"`
	// TLS is the handshake: version, alert (Error.Alert, AlertName), the acceptable CA
	// names the upstream advertised, the chain it sent, whether a certificate went out.
	TLS *TLSObservation `json:"tls,omitempty"`
	// HTTP is the reply to the request: status (NGINX upstreams answer 400 to a missing
	// or refused certificate), page title, gRPC status.
	HTTP *HTTPObservation `json:"http,omitempty"`
	// Verify is the upstream's chain judged by NGINX's rules; nil when no chain was
	// received.
	Verify *UpstreamVerify `json:"verify,omitempty"`
	// Variations are the handshakes made after the upstream refused NGINX's ClientHello
	// with alert 40 (handshake_failure): each changes one thing NGINX offers, so that
	// the upstream says what it would accept. None when the handshake did not fail so.
	Variations []HandshakeVariation `json:"variations,omitempty"`
	// Duration is the probe's wall time.
	Duration time.Duration `json:"duration"`
}

// HandshakeVariation is one handshake with one thing changed from what NGINX offers.
type HandshakeVariation struct {
	// Change is what was changed: VariationSNI (SNI sent: SNI), VariationTLS13 (TLS 1.3
	// only) or VariationCipher (TLS 1.2 with the one suite Cipher, which *_ssl_ciphers
	// leaves out).
	Change string `json:"change"`
	SNI    string `json:"sni,omitempty"`
	Cipher string `json:"cipher,omitempty"`
	// Accepted is true when the handshake completed; else Error says how it ended
	// (Error.Alert the alert the upstream sent).
	Accepted bool        `json:"accepted"`
	Error    *ProbeError `json:"error,omitempty"`
}

// The changes a HandshakeVariation makes.
const (
	VariationSNI    = "sni"
	VariationTLS13  = "tls1.3"
	VariationCipher = "cipher"
)

// UpstreamVerify is the upstream's certificate judged as NGINX judges it with
// *_ssl_verify on: X509_verify_cert against *_ssl_trusted_certificate at
// *_ssl_verify_depth (with *_ssl_crl), then X509_check_host against the SSL name.
// It is computed whether or not verify is on, so an "off" link can say what turning it
// on would do.
type UpstreamVerify struct {
	// Enabled mirrors *_ssl_verify.
	Enabled bool `json:"enabled"`
	// Trusted is false when no trusted CA file loaded: nothing can verify the chain.
	Trusted bool `json:"trusted"`
	// Code is the X509_V_ERR NGINX would log ("upstream SSL certificate verify error:
	// (Code:Text)"); 0 when the chain verifies. Depth is where it was found.
	Code  int    `json:"code,omitempty"`
	Text  string `json:"text,omitempty"`
	Depth int    `json:"depth,omitempty"`
	// Chain is the chain built, leaf first.
	Chain []*x509.Certificate `json:"-"`
	// Name is the name checked (UpstreamLink.SSLName); NameMatched reports whether the
	// leaf matches it as X509_check_host does: DNS SANs only (IP SANs are not
	// consulted), the subject CN only when there is no DNS SAN.
	Name        string `json:"name,omitempty"`
	NameMatched bool   `json:"name_matched"`
}

// SessionSharers returns the other TLS links that share TLS sessions with l. NGINX keeps
// one saved session per upstream peer (ngx_http_upstream_set_round_robin_peer_session,
// src/http/ngx_http_upstream_round_robin.c), and every location whose pass names the same
// upstream block, or the same host:port, reaches the same peers. With *_ssl_session_reuse
// on (the default) on both sides, a location may resume a session that another
// location's settings negotiated: the resumed handshake verifies no certificate, so
// SSL_get_verify_result is the other location's verdict (its trusted CA, its depth) —
// a good one lets an untrusted upstream through, and a failed one is saved too (the
// session is stored before NGINX reads the verify result), so a correctly configured
// location logs "upstream SSL certificate verify error" it did not cause. The name is
// still checked against this location's *_ssl_name. Measured with nginx 1.22.1.
func (uf *UpstreamFacts) SessionSharers(l *UpstreamLinkFacts) []*UpstreamLinkFacts {
	key := sessionPeerKey(l)
	if key == "" {
		return nil
	}
	var out []*UpstreamLinkFacts
	for _, o := range uf.Links {
		if o != l && sessionPeerKey(o) == key {
			out = append(out, o)
		}
	}
	return out
}

// sessionPeerKey names the upstream peers a link's sessions are saved in; "" when it
// saves none.
func sessionPeerKey(l *UpstreamLinkFacts) string {
	if !l.TLS || !l.Judgeable() || l.SSL.SessionReuse.Value != "on" {
		return ""
	}
	if l.Upstream != nil {
		return "upstream " + l.Upstream.Pos()
	}
	return strings.ToLower(l.Target())
}
