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
