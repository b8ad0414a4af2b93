package diagnostics

import (
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// upstreamRules are the upstream checks in display order: the client certificate NGINX
// presents, then the upstream's certificate as NGINX verifies it, then the connection.
func upstreamRules() []upstreamRule {
	return []upstreamRule{
		{id: "upstream-client-cert-not-configured",
			title: "upstreams that require a client certificate get one from NGINX",
			why: "An upstream with ssl_verify_client on answers 400 \"No required SSL certificate was sent\" (a Go or " +
				"Envoy upstream aborts the handshake) when the location sends none. Only the module's own directives " +
				"count: proxy_ssl_certificate does nothing under grpc_pass.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertNotConfigured},
			judge: judgeClientCertNotConfigured, fix: fixUpClientCertNotConfigured},
		{id: "upstream-client-cert-file-invalid", nginxT: true,
			title: "the client certificate and key files of upstream links load",
			why: "nginx -t refuses a *_ssl_certificate it cannot read or parse, a key directive that is missing, or a " +
				"certificate file whose first block is not the leaf; NGINX then keeps its old configuration.",
			judge: judgeClientFiles, fix: fixUpClientFiles},
		{id: "upstream-client-key-mismatch", nginxT: true,
			title: "the upstream client key matches its certificate",
			why:   "NGINX refuses a key that does not belong to the certificate (SSL_CTX_use_PrivateKey: key values mismatch).",
			judge: judgeClientKeyMismatch, fix: fixUpClientReissue("upstream-client-key-mismatch")},
		{id: "upstream-client-key-encrypted", nginxT: true,
			title: "an encrypted upstream client key has a working password file",
			why: "NGINX decrypts *_ssl_certificate_key with the passphrases of *_ssl_password_file, one a line; without " +
				"the file, or without the right line, nginx -t fails.",
			judge: judgeClientKeyEncrypted, fix: fixUpClientKeyEncrypted},
		{id: "upstream-client-cert-weak-key", nginxT: true,
			title: "the upstream client certificate meets OpenSSL's security level",
			why: "OpenSSL refuses a client certificate with an RSA key under 2048 bits (ee key too small) or a SHA-1 " +
				"signature (ca md too weak) when NGINX loads it.",
			judge: judgeClientWeak, fix: fixUpClientReissue("upstream-client-cert-weak-key")},
		{id: "upstream-client-cert-expired",
			title: "the upstream client certificate has not expired",
			why:   "An upstream NGINX answers 400 with \"client SSL certificate verify error: (10:certificate has expired)\"; Go upstreams send alert 45.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertExpired},
			judge: judgeClientLife(lifeExpired), fix: fixUpClientReissue("upstream-client-cert-expired")},
		{id: "upstream-client-cert-not-yet-valid",
			title: "the upstream client certificate is already valid",
			why:   "A certificate whose notBefore is in the future is refused with (9:certificate is not yet valid); usually a clock is wrong.",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertNotYetValid},
			judge: judgeClientLife(lifeNotYet), fix: fixUpClientReissue("upstream-client-cert-not-yet-valid")},
		{id: "upstream-client-cert-expiring",
			title: "the upstream client certificate is not about to expire",
			why:   "When it expires every request of the link fails; renew it before then.",
			judge: withClientLeaf(judgeClientExpiring), fix: fixUpClientReissue("upstream-client-cert-expiring")},
		{id: "upstream-client-cert-wrong-purpose",
			title: "the upstream client certificate allows client authentication",
			why:   "OpenSSL refuses a client certificate whose extendedKeyUsage lacks clientAuth with (26:unsuitable certificate purpose).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertWrongPurpose},
			judge: withClientLeaf(judgeClientPurpose), fix: fixUpClientReissue("upstream-client-cert-wrong-purpose")},
		{id: "upstream-client-cert-unknown-ca",
			title: "the upstream trusts the CA that issued NGINX's client certificate",
			why: "The upstream verifies the certificate against its own CA file and names those CAs in its " +
				"CertificateRequest; a certificate from another CA is refused ((20:unable to get local issuer certificate), alert 48).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertUnknownCA},
			backs: func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
				return s.Kind == logparse.KindUpstreamClientCertUnknownCA && !clientChainExplains(f, links, s)
			},
			judge: withClientLeaf(judgeClientUnknownCA), fix: fixUpClientUnknownCA},
		{id: "upstream-client-chain-incomplete",
			title: "the upstream client certificate file holds the intermediates it needs",
			why: "NGINX sends the whole *_ssl_certificate file; when the certificate was issued by an intermediate the " +
				"upstream does not have, the file must hold that intermediate after the leaf.",
			backs: clientChainExplains,
			judge: judgeClientChain, fix: fixUpClientChain},
		{id: "upstream-client-cert-revoked",
			title: "the upstream has not revoked NGINX's client certificate",
			why:   "An upstream with ssl_crl refuses a revoked certificate with (23:certificate revoked).",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertRevoked},
			judge: judgeNoProbeEvidence, fix: fixUpClientReissue("upstream-client-cert-revoked")},
		{id: "upstream-client-cert-rejected",
			title: "the upstream accepts NGINX's client certificate",
			why: "The upstream refused the certificate for a reason of its own (its verify depth, its CRL, its CA file, " +
				"a DN allow-list): an upstream NGINX answers 400 \"The SSL certificate error\" and logs the reason at [info].",
			kinds: []logparse.Kind{logparse.KindUpstreamClientCertRejected},
			judge: judgeClientRejected, fix: fixUpClientRejected},
		{id: "upstream-verify-off",
			title: "upstream links verify the upstream's certificate",
			why: "With *_ssl_verify off (the default) NGINX accepts any certificate from the upstream, so anyone on " +
				"the path can impersonate it and read the traffic and the client certificate's requests.",
			judge: judgeVerifyOff, fix: fixUpVerifyOff},
		{id: "upstream-trusted-ca-missing", nginxT: true,
			title: "a verifying upstream link names a trusted CA file that loads",
			why:   "nginx -t fails with \"no proxy_ssl_trusted_certificate for proxy_ssl_verify\" when verify is on without one.",
			judge: judgeTrustedCA, fix: fixUpVerifyOff},
		{id: "upstream-cert-untrusted",
			title: "the upstream's certificate chains to *_ssl_trusted_certificate",
			why:   "With verify on NGINX refuses the upstream (\"upstream SSL certificate verify error\") and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamCertUntrusted},
			backs: func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
				return s.Kind == logparse.KindUpstreamCertUntrusted && !depthExplains(f, links, s) && !chainGapExplains(f, links, s)
			},
			judge: judgeUpstreamUntrusted, fix: fixUpstreamTrust},
		{id: "upstream-chain-incomplete",
			title: "the upstream sends the intermediates of its certificate",
			why:   "OpenSSL builds the chain only from what the upstream sends and the trusted CA file; a missing intermediate fails verification.",
			backs: chainGapExplains,
			judge: judgeUpstreamChain, fix: fixUpstreamChain},
		{id: "upstream-name-mismatch",
			title: "the upstream's certificate matches the name NGINX verifies",
			why: "NGINX checks *_ssl_name (default: the proxy_pass host) against the certificate's DNS names only — " +
				"never its IP addresses — and answers 502 with \"upstream SSL certificate does not match\".",
			kinds: []logparse.Kind{logparse.KindUpstreamNameMismatch},
			judge: judgeUpstreamName, fix: fixUpstreamName},
		{id: "upstream-sni-missing",
			title: "upstreams that choose their server by name get SNI from NGINX",
			why: "*_ssl_server_name is off by default: NGINX sends no server name, and an upstream that picks its " +
				"server block, certificate or client CA by SNI answers with its default one (or alert 112).",
			kinds: []logparse.Kind{logparse.KindUpstreamSNIMissing},
			judge: judgeUpstreamSNI, fix: fixUpstreamSNI},
		{id: "upstream-cert-expired",
			title: "the upstream's certificate is within its validity period",
			why:   "With verify on NGINX refuses an expired upstream certificate with (10:certificate has expired) and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamCertExpired},
			judge: judgeUpstreamExpired, fix: fixUpstreamServerSide("upstream-cert-expired")},
		{id: "upstream-cert-revoked",
			title: "the upstream's certificate is not revoked by *_ssl_crl",
			why:   "With verify on and *_ssl_crl NGINX refuses a revoked upstream certificate with (23:certificate revoked).",
			kinds: []logparse.Kind{logparse.KindUpstreamCertRevoked},
			judge: judgeUpstreamVerifyCode(23, 12), fix: fixUpstreamServerSide("upstream-cert-revoked")},
		{id: "upstream-verify-depth",
			title: "the verify depth of upstream links admits the upstream's chain",
			why:   "*_ssl_verify_depth defaults to 1: a chain with two intermediates fails verification.",
			kinds: []logparse.Kind{logparse.KindUpstreamVerifyDepth},
			backs: func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool {
				return s.Kind == logparse.KindUpstreamVerifyDepth || depthExplains(f, links, s)
			},
			judge: judgeUpstreamDepth, fix: fixUpVerifyDepth},
		{id: "upstream-tls-version-mismatch",
			title: "upstream links share a TLS version with their upstream",
			why: "*_ssl_protocols limits what NGINX offers; before 1.23.4 TLSv1.3 is not in its default, so a TLS 1.3-only " +
				"upstream refuses NGINX with alert 70.",
			kinds: []logparse.Kind{logparse.KindUpstreamTLSVersionMismatch},
			judge: judgeTLSVersion, fix: fixUpTLSVersion},
		{id: "upstream-tls-handshake-failed",
			title: "the TLS handshake with the upstream completes",
			why: "Any other handshake failure (no shared cipher, an alert from the upstream) makes NGINX answer 502. " +
				"After alert 40 the probe asks the upstream what it accepts, one change at a time (SNI, TLS 1.3, each " +
				"TLS 1.2 suite *_ssl_ciphers leaves out), and names the cause it finds.",
			kinds: []logparse.Kind{logparse.KindUpstreamTLSHandshakeFailed},
			judge: judgeHandshake, fix: fixUpHandshake},
		{id: "upstream-not-tls",
			title: "the upstream speaks TLS on the port NGINX uses",
			why:   "A plaintext upstream answers the ClientHello with HTTP, and NGINX logs \"wrong version number\" and answers 502.",
			kinds: []logparse.Kind{logparse.KindUpstreamNotTLS},
			judge: judgeNotTLS, fix: fixUpNotTLS},
		{id: "upstream-unreachable",
			title: "the upstream servers accept connections",
			why:   "connect() failed or timed out: NGINX answers 502 or 504 without a TLS handshake.",
			kinds: []logparse.Kind{logparse.KindUpstreamUnreachable},
			judge: judgeUnreachable, fix: fixUpUnreachable},
	}
}

// --- the client certificate

// --- the upstream's certificate, as NGINX verifies it

// --- the connection
