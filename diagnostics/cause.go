package diagnostics

// Cause codes name why a check warned or failed (Cause.Code). They are part of the JSON
// output ("cause": {"code": …}): add codes, never rename them. A code is stable within the
// checks that use it; the OpenSSL verify error and the TLS alert, when one names the
// reason, travel beside it in Cause.
const (
	// CauseNoCertSent: the client sends no certificate because none of its chain is issued
	// by a CA whose name the server advertised (Go's tls.Config.Certificates selection).
	CauseNoCertSent = "no-cert-sent"
	// CauseUntrusted: the chain reaches no CA the verifier trusts (X509_V_ERR 2, 18, 19,
	// 20 or 21).
	CauseUntrusted = "untrusted"
	// CauseVerifyDepth: the chain verifies only with a larger ssl_verify_depth.
	CauseVerifyDepth = "verify-depth"
	// CauseRevoked: a certificate of the chain is on a CRL the verifier checks.
	CauseRevoked = "revoked"
	// CauseVerifyError: verification fails for the OpenSSL reason in Cause.OpenSSL.
	CauseVerifyError = "verify-error"
	// CauseNotRequired: the server asks for no client certificate (ssl_verify_client off or
	// unset; NIM 1.x without a client CA).
	CauseNotRequired = "not-required"
	// CauseNotEnforced: ssl_verify_client optional or optional_no_ca lets a request without
	// a verified certificate reach the agent services (no auth_request checks it).
	CauseNotEnforced = "not-enforced"
)

// Cause codes of the certificates' own properties.
const (
	// CauseExpired: the certificate (or CRL) is past its notAfter (nextUpdate).
	CauseExpired = "expired"
	// CauseNotYetValid: the certificate (or CRL) is before its notBefore (thisUpdate).
	CauseNotYetValid = "not-yet-valid"
	// CauseExpiring: less than the warning threshold of its lifetime is left.
	CauseExpiring = "expiring"
	// CauseWrongPurpose: extended or plain key usage does not allow the role.
	CauseWrongPurpose = "wrong-purpose"
	// CauseWeakKey: a key or signature OpenSSL's security level refuses.
	CauseWeakKey = "weak-key"
	// CauseIntermediateMissing: a chain lacks an intermediate its verifier needs.
	CauseIntermediateMissing = "intermediate-missing"
	// CauseNameMismatch: the certificate's SANs do not cover the name verified.
	CauseNameMismatch = "name-mismatch"
	// CauseNoSANs: the certificate has no subject alternative names (Go ignores the CN).
	CauseNoSANs = "no-sans"
	// CausePlaceholderName: a SAN is a documentation placeholder such as <NMS_FQDN>.
	CausePlaceholderName = "placeholder-name"
	// CauseKeyMismatch: the private key does not belong to the certificate.
	CauseKeyMismatch = "key-mismatch"
	// CauseKeyEncrypted: the private key needs a passphrase the agent cannot give.
	CauseKeyEncrypted = "key-encrypted"
)

// Cause codes of configurations (the agent's, NGINX's).
const (
	// CauseConfigMissing: no configuration file was found.
	CauseConfigMissing = "config-missing"
	// CauseConfigInvalid: the configuration does not load.
	CauseConfigInvalid = "config-invalid"
	// CauseNotConfigured: a setting the link needs is empty.
	CauseNotConfigured = "not-configured"
	// CauseRelativePath: a relative path resolves somewhere the agent does not look.
	CauseRelativePath = "relative-path"
	// CauseDeprecatedEnv: deprecated environment variables override the file.
	CauseDeprecatedEnv = "deprecated-env"
	// CauseTLSOff: TLS is disabled.
	CauseTLSOff = "tls-off"
	// CauseSkipVerify: the agent accepts any server certificate.
	CauseSkipVerify = "skip-verify"
	// CauseNoAgentServer: no server block passes the agent gRPC paths on.
	CauseNoAgentServer = "no-agent-server"
	// CauseNoCAFile: client verification has no CA file to verify against.
	CauseNoCAFile = "no-ca-file"
	// CauseNoCACert: the CA file holds no (CA) certificate.
	CauseNoCACert = "no-ca-cert"
	// CauseFileMissing: a file the configuration names does not exist. The agent's TLS
	// files have one code per problem, "file-" and its kind: file-missing,
	// file-unreadable, file-not-a-path, file-swapped, file-empty, file-der, file-pkcs12,
	// file-parse, file-no-ca, file-world-readable (fileProblemCause).
	CauseFileMissing = "file-missing"
	// CauseCRLMissing: no CRL from an issuer on the chain (X509_V_ERR 3).
	CauseCRLMissing = "crl-missing"
	// CauseNoHTTP2: the server agents reach does not negotiate HTTP/2.
	CauseNoHTTP2 = "no-http2"
	// CauseTLSVersion: no TLS version both ends accept.
	CauseTLSVersion = "tls-version"
	// CauseDeprecatedProtocol: TLS 1.0 or 1.1 is enabled (RFC 8996).
	CauseDeprecatedProtocol = "deprecated-protocol"
	// CauseNeverFires: a directive sits where NGINX never applies it.
	CauseNeverFires = "never-fires"
	// CauseLogLevel: the error_log level hides the lines that name a rejection.
	CauseLogLevel = "log-level"
	// CauseUndefinedTarget: error_page points at a location the server lacks.
	CauseUndefinedTarget = "undefined-target"
	// CauseUnmapped: 495/496 reach agents as an HTML 400 (no error_page).
	CauseUnmapped = "unmapped"
	// CauseOtherServerSelected: the agents' server name selects another server block.
	CauseOtherServerSelected = "other-server-selected"
)

// Cause codes of what the probe and the logs observed.
const (
	// CauseNginxVerdict: NGINX's verdict on the agent certificate (logged for the probe, or
	// predicted from its configuration) names the reason in Cause.OpenSSL.
	CauseNginxVerdict = "nginx-verdict"
	// CauseRejected: the server rejected the request after the handshake.
	CauseRejected = "rejected"
	// CauseBackendUnavailable: the gRPC service behind NGINX does not answer.
	CauseBackendUnavailable = "backend-unavailable"
	// CauseNotGRPC: the reply is not a gRPC reply (content type, grpc-status).
	CauseNotGRPC = "not-grpc"
	// CauseNoLocation: NGINX has no location for the gRPC path (404).
	CauseNoLocation = "no-location"
	// CauseUnimplemented: the service does not implement the method (grpc-status 12).
	CauseUnimplemented = "unimplemented"
	// CauseMisdirected: NGINX answered 421 (SNI and :authority select different servers).
	CauseMisdirected = "misdirected"
	// CauseDNS: the name does not resolve.
	CauseDNS = "dns"
	// CauseRefused: nothing listens on the address.
	CauseRefused = "refused"
	// CauseUnreachable: the network reports the address unreachable.
	CauseUnreachable = "unreachable"
	// CauseTimeout: a step of the connection timed out (for endpoint-timeout: the TCP
	// connection itself, which a firewall or route drops).
	CauseTimeout = "timeout"
	// CauseHandshakeTimeout: the TCP connection was accepted but the TLS handshake did not
	// finish in time (something that does not speak TLS answers the port).
	CauseHandshakeTimeout = "handshake-timeout"
	// CauseReplyTimeout: TLS worked but the request's answer did not come in time.
	CauseReplyTimeout = "reply-timeout"
	// CauseTimeoutTooShort: --timeout is too short for the step to judge the network.
	CauseTimeoutTooShort = "timeout-too-short"
	// CauseNotTLS: the port answers without TLS.
	CauseNotTLS = "not-tls"
	// CauseUnrecognizedName: the server refused the TLS server name (alert 112).
	CauseUnrecognizedName = "unrecognized-name"
	// CauseHandshakeFailed: the TLS handshake failed for the reason in the summary and
	// Cause.Alert.
	CauseHandshakeFailed = "handshake-failed"
	// CauseSNIRequired: the server refused a ClientHello without a server name (SNI) with
	// alert 40, and completed the handshake when one was sent.
	CauseSNIRequired = "sni-required"
	// CauseNoSharedCipher: the server refused the TLS 1.2 cipher suites offered (alert 40)
	// and accepted one the configured cipher list leaves out.
	CauseNoSharedCipher = "no-shared-cipher"
	// CauseNoALPNH2: the connection does not negotiate ALPN h2.
	CauseNoALPNH2 = "no-alpn-h2"
	// CauseClockSkew: this host's clock and the server's differ too much.
	CauseClockSkew = "clock-skew"
	// CauseLogEvents: the logs record the failure (the check could not judge it itself);
	// Cause.OpenSSL is the verify error they name, if any.
	CauseLogEvents = "log-events"
	// CauseRecentLogEvents: the check passes now, but the logs recorded the failure
	// minutes ago.
	CauseRecentLogEvents = "recent-log-events"
)

// Cause codes of NGINX Service Mesh's settings and upstream CA (SPIRE).
const (
	// CauseMTLSOff: mTLS is off (globally or by annotation).
	CauseMTLSOff = "mtls-off"
	// CauseMTLSPermissive: mTLS is permissive: plaintext is still accepted.
	CauseMTLSPermissive = "mtls-permissive"
	// CauseInvalidAnnotation: a workload's mTLS annotation has a value the mesh ignores.
	CauseInvalidAnnotation = "invalid-annotation"
	// CauseEphemeralRoot: the memory key manager without an upstream CA.
	CauseEphemeralRoot = "ephemeral-root"
	// CausePlaintextUDP: UDP travels in plaintext although mTLS is on.
	CausePlaintextUDP = "plaintext-udp"
	// CauseIgnoredKeys: settings that never reach SPIRE.
	CauseIgnoredKeys = "ignored-keys"
	// CauseFileFormat: a CA file is not in the form SPIRE reads.
	CauseFileFormat = "file-format"
	// CauseNotCA: a certificate used as a CA is not one (basicConstraints, keyUsage).
	CauseNotCA = "not-ca"
	// CausePathLength: a pathLenConstraint forbids the chain SPIRE builds.
	CausePathLength = "path-length"
	// CauseNoBundle: an intermediate CA is used without bundle_file_path.
	CauseNoBundle = "no-bundle"
	// CauseNoRoot: the bundle does not end at a self-signed root.
	CauseNoRoot = "no-root"
)

// Cause codes of the upstream checks (NGINX as the TLS client of its upstreams) that no
// other reason above covers.
const (
	// CauseForeignDirective: the upstream TLS directive of another pass module is in
	// effect (proxy_ssl_certificate under grpc_pass) and does nothing.
	CauseForeignDirective = "foreign-directive"
	// CauseDirectiveMissing: a directive that another one needs is not set (a
	// *_ssl_certificate without its *_ssl_certificate_key, or the reverse).
	CauseDirectiveMissing = "directive-missing"
	// CauseVerifyOff: *_ssl_verify is off, so NGINX accepts any upstream certificate.
	CauseVerifyOff = "verify-off"
	// CauseUnreadable: a file exists but cannot be read.
	CauseUnreadable = "unreadable"
	// CauseSwapped: the certificate and key directives name each other's files.
	CauseSwapped = "swapped"
	// CauseChainOrder: a certificate file does not start with its leaf.
	CauseChainOrder = "chain-order"
)
