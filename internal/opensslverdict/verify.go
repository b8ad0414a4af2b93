// Package opensslverdict predicts OpenSSL 3.0's verdict on a TLS client's certificate chain
// offline, as NGINX gets it for ssl_verify_client: X509_verify_cert with a verify callback
// that always returns 1, so OpenSSL carries on after every error and the result NGINX reads
// (SSL_get_verify_result, logged as "client SSL certificate verify error: (N:text)") is the
// last error reported.
//
// The model follows crypto/x509/x509_vfy.c of OpenSSL 3.0: build_chain (trusted-first,
// depth limit), check_extensions (CA flags, sslclient purpose, path length),
// check_auth_level, check_revocation (CRL_CHECK_ALL, as ssl_crl sets it) and
// internal_verify (signatures and dates, from the top down). The diagnostics' prediction
// and the demo lab's NGINX stand-in both use it; their tests compare it with what a real
// NGINX logs.
package opensslverdict

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"time"
)

// OpenSSL 3.0's X509_V_ERR codes (include/openssl/x509_vfy.h) and their
// X509_verify_cert_error_string texts. Numbers move between OpenSSL versions (24 was
// "invalid CA certificate" in 1.1.1; 3.0 uses 79).
const (
	UnableToGetIssuer        = 2
	UnableToGetCRL           = 3
	CertSignatureFailure     = 7
	CRLSignatureFailure      = 8
	CertNotYetValid          = 9
	CertHasExpired           = 10
	CRLNotYetValid           = 11
	CRLHasExpired            = 12
	DepthZeroSelfSigned      = 18
	SelfSignedInChain        = 19
	UnableToGetIssuerLocally = 20
	UnableToVerifyLeafSig    = 21
	ChainTooLong             = 22
	CertRevoked              = 23
	PathLengthExceeded       = 25
	InvalidPurpose           = 26
	KeyUsageNoCertSign       = 32
	KeyUsageNoCRLSign        = 35
	EEKeyTooSmall            = 66
	CAKeyTooSmall            = 67
	CAMDTooWeak              = 68
	InvalidCA                = 79
)

var errText = map[int]string{
	UnableToGetIssuer:        "unable to get issuer certificate",
	UnableToGetCRL:           "unable to get certificate CRL",
	CertSignatureFailure:     "certificate signature failure",
	CRLSignatureFailure:      "CRL signature failure",
	CertNotYetValid:          "certificate is not yet valid",
	CertHasExpired:           "certificate has expired",
	CRLNotYetValid:           "CRL is not yet valid",
	CRLHasExpired:            "CRL has expired",
	DepthZeroSelfSigned:      "self-signed certificate",
	SelfSignedInChain:        "self-signed certificate in certificate chain",
	UnableToGetIssuerLocally: "unable to get local issuer certificate",
	UnableToVerifyLeafSig:    "unable to verify the first certificate",
	ChainTooLong:             "certificate chain too long",
	CertRevoked:              "certificate revoked",
	PathLengthExceeded:       "path length constraint exceeded",
	InvalidPurpose:           "unsuitable certificate purpose",
	KeyUsageNoCertSign:       "key usage does not include certificate signing",
	KeyUsageNoCRLSign:        "key usage does not include CRL signing",
	EEKeyTooSmall:            "EE certificate key too weak",
	CAKeyTooSmall:            "CA certificate key too weak",
	CAMDTooWeak:              "CA signature digest algorithm too weak",
	InvalidCA:                "invalid CA certificate",
}

// SecurityBits is the auth level's minimum: level 2, the default of Debian, Ubuntu
// and RHEL's DEFAULT crypto policy (112 bits: RSA 2048, no SHA-1 signatures).
const SecurityBits = 112

// Error is one error OpenSSL reports to the verify callback.
type Error struct {
	Code  int
	Depth int
	Cert  *x509.Certificate
}

// Text is OpenSSL's string for the code.
func (e Error) Text() string {
	if t, ok := errText[e.Code]; ok {
		return t
	}
	return "unknown certificate verification error"
}

// Verify is one X509_verify_cert call on a client chain.
type Verify struct {
	// Sent is the chain the client sends, leaf first.
	Sent []*x509.Certificate
	// Trusted is NGINX's verify store: ssl_client_certificate and ssl_trusted_certificate.
	Trusted []*x509.Certificate
	// CRLCheck is set when ssl_crl is; CRLs are its lists.
	CRLCheck bool
	CRLs     []*x509.RevocationList
	// Depth is ssl_verify_depth.
	Depth int
	Now   time.Time
	// ServerChain verifies a server's chain as a TLS client does (NGINX towards its
	// upstream with proxy_ssl_verify): OpenSSL's client sets the "ssl_server" purpose
	// (ssl_verify_cert_chain in ssl/ssl_cert.c), so the sslserver purpose is checked
	// instead of sslclient.
	ServerChain bool
}

// Result is what X509_verify_cert did.
type Result struct {
	// Chain is the chain built, leaf first; Untrusted counts its certificates from the
	// client (the rest came from the verify store).
	Chain     []*x509.Certificate
	Untrusted int
	// Errors are reported in order; the last one is what NGINX logs.
	Errors []Error
}

// Last returns the error NGINX reads (SSL_get_verify_result), ok false when verification succeeded.
func (r Result) Last() (Error, bool) {
	if len(r.Errors) == 0 {
		return Error{}, false
	}
	return r.Errors[len(r.Errors)-1], true
}

// Has reports whether code was reported at all.
func (r Result) Has(code int) bool {
	for _, e := range r.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// Run verifies v.Sent[0] as OpenSSL 3.0 does for an SSL server with a verify callback
// that always returns 1.
func (v Verify) Run() Result {
	var r Result
	if len(v.Sent) == 0 {
		return r
	}
	leaf := v.Sent[0]
	report := func(code, depth int) {
		var c *x509.Certificate
		if depth >= 0 && depth < len(r.Chain) {
			c = r.Chain[depth]
		}
		r.Errors = append(r.Errors, Error{Code: code, Depth: depth, Cert: c})
	}
	r.Chain, r.Untrusted = []*x509.Certificate{leaf}, 1
	if keyBits(leaf.PublicKey) < SecurityBits {
		report(EEKeyTooSmall, 0)
	}
	v.buildChain(&r, report)
	v.checkExtensions(&r, report)
	v.checkAuthLevel(&r, report)
	if v.CRLCheck {
		v.checkRevocation(&r, report)
	}
	v.internalVerify(&r, report)
	return r
}

// buildChain is build_chain with X509_V_FLAG_TRUSTED_FIRST (the default): at each step the
// verify store is asked first, then the certificates the client sent; once a store
// certificate is in the chain only the store is asked. The chain is built to at most
// Depth+2 certificates.
func (v Verify) buildChain(r *Result, report func(code, depth int)) {
	untrusted := append([]*x509.Certificate(nil), v.Sent[1:]...)
	maxDepth := v.Depth + 1
	doTrusted, doUntrusted := true, true
	trusted := false
	for range 64 { // loop guard; each pass adds a certificate or clears a search
		num := len(r.Chain)
		cur := r.Chain[num-1]
		if doTrusted {
			var issuer *x509.Certificate
			if num <= maxDepth {
				issuer = v.bestIssuer(v.Trusted, cur, nil)
			}
			if issuer != nil {
				ok := true
				if osslSelfSigned(cur) {
					// A self-signed certificate is replaced by its exact trusted copy.
					if num == r.Untrusted && cur.Equal(issuer) {
						r.Untrusted--
						r.Chain[num-1] = issuer
					} else {
						ok = false
					}
				} else {
					r.Chain = append(r.Chain, issuer)
				}
				if ok {
					doUntrusted = false
					if osslSelfSigned(r.Chain[len(r.Chain)-1]) {
						trusted = true // check_trust: a self-signed store certificate
						break
					}
					continue
				}
			}
			if !doUntrusted {
				break
			}
		}
		if doUntrusted {
			var issuer *x509.Certificate
			if !osslSelfSigned(cur) && num <= maxDepth {
				issuer = v.bestIssuer(untrusted, cur, r.Chain)
			}
			if issuer == nil {
				doUntrusted, doTrusted = false, true
				continue
			}
			for i, c := range untrusted {
				if c == issuer {
					untrusted = append(untrusted[:i], untrusted[i+1:]...)
					break
				}
			}
			r.Chain = append(r.Chain, issuer)
			r.Untrusted++
		}
	}
	if trusted {
		return
	}
	num := len(r.Chain)
	top := r.Chain[num-1]
	if num > maxDepth {
		report(ChainTooLong, num-1)
	}
	switch {
	case osslSelfSigned(top) && num == 1:
		report(DepthZeroSelfSigned, num-1)
	case osslSelfSigned(top):
		report(SelfSignedInChain, num-1)
	case r.Untrusted < num:
		report(UnableToGetIssuer, num-1)
	default:
		report(UnableToGetIssuerLocally, num-1)
	}
}

// bestIssuer is find_issuer / X509_STORE_CTX_get1_issuer: among pool's certificates that
// likely issued c (and are not already in chain), the first valid now, else the one that
// expires last.
func (v Verify) bestIssuer(pool []*x509.Certificate, c *x509.Certificate, chain []*x509.Certificate) *x509.Certificate {
	var best *x509.Certificate
	for _, p := range pool {
		if !osslLikelyIssued(p, c) || containsCertPtr(chain, p) {
			continue
		}
		if !v.Now.Before(p.NotBefore) && !v.Now.After(p.NotAfter) {
			return p
		}
		if best == nil || p.NotAfter.After(best.NotAfter) {
			best = p
		}
	}
	return best
}

func containsCertPtr(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// checkExtensions is check_extensions for the sslclient purpose (sslserver with
// ServerChain): intermediates must be CAs, every certificate must allow the purpose, and
// pathLenConstraint holds.
func (v Verify) checkExtensions(r *Result, report func(code, depth int)) {
	plen := 0
	for i, c := range r.Chain {
		if i > 0 && osslCheckCA(c) == 0 {
			report(InvalidCA, i)
		}
		purposeOK := osslPurposeSSLClient(c, i > 0)
		if v.ServerChain {
			purposeOK = osslPurposeSSLServer(c, i > 0)
		}
		if !purposeOK {
			report(InvalidPurpose, i)
		}
		if i > 1 && pathLen(c) >= 0 && plen > pathLen(c) {
			report(PathLengthExceeded, i)
		}
		if i > 0 && !bytes.Equal(c.RawIssuer, c.RawSubject) {
			plen++
		}
	}
}

// checkAuthLevel is check_auth_level: CA keys and every signature below the top must meet
// the security level.
func (v Verify) checkAuthLevel(r *Result, report func(code, depth int)) {
	n := len(r.Chain)
	for i, c := range r.Chain {
		if i > 0 && keyBits(c.PublicKey) < SecurityBits {
			report(CAKeyTooSmall, i)
		}
		if i < n-1 && sigBits(c.SignatureAlgorithm) < SecurityBits {
			report(CAMDTooWeak, i)
		}
	}
}

// checkRevocation is check_revocation with X509_V_FLAG_CRL_CHECK_ALL: every certificate
// of the chain needs a CRL from its issuer that is current, correctly signed, and does not
// list it.
func (v Verify) checkRevocation(r *Result, report func(code, depth int)) {
	for i, c := range r.Chain {
		crl, issuer := v.findCRL(r.Chain, i)
		if crl == nil {
			report(UnableToGetCRL, i)
			continue
		}
		if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
			report(KeyUsageNoCRLSign, i)
		}
		switch {
		case v.Now.Before(crl.ThisUpdate):
			report(CRLNotYetValid, i)
		case !crl.NextUpdate.IsZero() && v.Now.After(crl.NextUpdate):
			report(CRLHasExpired, i)
		}
		if !osslSignatureOK(issuer, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) {
			report(CRLSignatureFailure, i)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				report(CertRevoked, i)
				break
			}
		}
	}
}

// findCRL is get_crl_sk for chain[i]: a CRL named for its issuer whose signer is in the
// chain above it (crl_akid_check: the next certificate, or the top itself when chain[i] is
// the top; then any further one with the CRL's issuer name), preferring a current CRL. A
// CRL whose signer is not in the chain scores 0 and is not used. It returns the signer too.
func (v Verify) findCRL(chain []*x509.Certificate, i int) (*x509.RevocationList, *x509.Certificate) {
	c := chain[i]
	var best *x509.RevocationList
	var bestSigner *x509.Certificate
	for _, crl := range v.CRLs {
		if !bytes.Equal(crl.RawIssuer, c.RawIssuer) {
			continue
		}
		signer := crlSigner(chain, i, crl)
		if signer == nil {
			continue
		}
		if !v.Now.Before(crl.ThisUpdate) && (crl.NextUpdate.IsZero() || !v.Now.After(crl.NextUpdate)) {
			return crl, signer
		}
		if best == nil {
			best, bestSigner = crl, signer
		}
	}
	return best, bestSigner
}

func crlSigner(chain []*x509.Certificate, i int, crl *x509.RevocationList) *x509.Certificate {
	akidOK := func(c *x509.Certificate) bool {
		return len(crl.AuthorityKeyId) == 0 || len(c.SubjectKeyId) == 0 || bytes.Equal(crl.AuthorityKeyId, c.SubjectKeyId)
	}
	j := i
	if i < len(chain)-1 {
		j++
	}
	if akidOK(chain[j]) {
		return chain[j]
	}
	for j++; j < len(chain); j++ {
		if bytes.Equal(chain[j].RawSubject, crl.RawIssuer) && akidOK(chain[j]) {
			return chain[j]
		}
	}
	return nil
}

// internalVerify is internal_verify: from the top of the chain down, each certificate's
// signature by the one above it (not the self-signed top's own) and its validity period.
func (v Verify) internalVerify(r *Result, report func(code, depth int)) {
	n := len(r.Chain) - 1
	xi := r.Chain[n]
	xs := xi
	if !osslLikelyIssued(xi, xi) {
		if n > 0 {
			n--
			xs = r.Chain[n]
		} else {
			report(UnableToVerifyLeafSig, 0)
		}
	}
	for n >= 0 {
		if xs != xi {
			if xi.KeyUsage != 0 && xi.KeyUsage&x509.KeyUsageCertSign == 0 {
				report(KeyUsageNoCertSign, n+1)
			}
			if !osslSignatureOK(xi, xs.SignatureAlgorithm, xs.RawTBSCertificate, xs.Signature) {
				report(CertSignatureFailure, n)
			}
		}
		if v.Now.Before(xs.NotBefore) {
			report(CertNotYetValid, n)
		}
		if v.Now.After(xs.NotAfter) {
			report(CertHasExpired, n)
		}
		n--
		if n >= 0 {
			xi, xs = xs, r.Chain[n]
		}
	}
}

// osslSignatureOK checks a signature with signer's key only, as X509_verify does: no CA or
// key-usage constraint (those are their own errors), and SHA-1 or MD5 signatures, which Go
// refuses to check, count as made (check_auth_level reports their weakness instead).
func osslSignatureOK(signer *x509.Certificate, alg x509.SignatureAlgorithm, signed, sig []byte) bool {
	err := signer.CheckSignature(alg, signed, sig)
	var insecure x509.InsecureAlgorithmError
	return err == nil || errors.As(err, &insecure)
}

// osslLikelyIssued is ossl_x509_likely_issued: issuer's subject is c's issuer name, the
// authority key identifier (if both sides have one) matches, and the signature algorithm
// fits issuer's key type. Signatures are not checked while building the chain.
func osslLikelyIssued(issuer, c *x509.Certificate) bool {
	if !bytes.Equal(issuer.RawSubject, c.RawIssuer) {
		return false
	}
	if len(c.AuthorityKeyId) > 0 && len(issuer.SubjectKeyId) > 0 && !bytes.Equal(c.AuthorityKeyId, issuer.SubjectKeyId) {
		return false
	}
	return sigFitsKey(c.SignatureAlgorithm, issuer.PublicKeyAlgorithm)
}

// osslSelfSigned is OpenSSL's EXFLAG_SS: self-issued with a consistent key identifier.
func osslSelfSigned(c *x509.Certificate) bool { return osslLikelyIssued(c, c) }

func sigFitsKey(sig x509.SignatureAlgorithm, key x509.PublicKeyAlgorithm) bool {
	switch sig {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA,
		x509.SHA512WithRSA, x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS:
		return key == x509.RSA
	case x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512:
		return key == x509.ECDSA
	case x509.PureEd25519:
		return key == x509.Ed25519
	}
	return true
}

// osslCheckCA is X509_check_ca: 1 for CA:TRUE with keyCertSign (when key usage is present),
// 3 for a v1 self-signed root, 0 otherwise.
func osslCheckCA(c *x509.Certificate) int {
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return 0
	}
	if c.BasicConstraintsValid {
		if c.IsCA {
			return 1
		}
		return 0
	}
	if c.Version == 1 && osslSelfSigned(c) {
		return 3
	}
	return 0
}

// osslPurposeSSLClient is X509_check_purpose(X509_PURPOSE_SSL_CLIENT): an extended key
// usage must list clientAuth (anyExtendedKeyUsage does not count); a leaf's key usage must
// allow digitalSignature or keyAgreement; a CA must be a CA.
func osslPurposeSSLClient(c *x509.Certificate, ca bool) bool {
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 0 {
		found := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageClientAuth {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if ca {
		return osslCheckCA(c) != 0
	}
	return c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) != 0
}

// osslPurposeSSLServer is X509_check_purpose(X509_PURPOSE_SSL_SERVER)
// (check_purpose_ssl_server in crypto/x509/v3_purp.c): an extended key usage must list
// serverAuth or one of the server-gated-crypto usages; a leaf's key usage must allow
// digitalSignature, keyEncipherment or keyAgreement; a CA must be a CA.
func osslPurposeSSLServer(c *x509.Certificate, ca bool) bool {
	if len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 0 {
		found := false
		for _, u := range c.ExtKeyUsage {
			switch u {
			case x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageNetscapeServerGatedCrypto, x509.ExtKeyUsageMicrosoftServerGatedCrypto:
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if ca {
		return osslCheckCA(c) != 0
	}
	return c.KeyUsage == 0 || c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement) != 0
}

// pathLen is the basicConstraints pathLenConstraint, -1 when absent.
func pathLen(c *x509.Certificate) int {
	if !c.BasicConstraintsValid || !c.IsCA {
		return -1
	}
	if c.MaxPathLen > 0 || (c.MaxPathLen == 0 && c.MaxPathLenZero) {
		return c.MaxPathLen
	}
	return -1
}

// keyBits is EVP_PKEY_security_bits for the key types TLS uses.
func keyBits(pub any) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch n := k.N.BitLen(); {
		case n >= 15360:
			return 256
		case n >= 7680:
			return 192
		case n >= 3072:
			return 128
		case n >= 2048:
			return 112
		case n >= 1024:
			return 80
		default:
			return 0
		}
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize / 2
	case ed25519.PublicKey:
		return 128
	}
	return 128 // unknown to us: do not predict a weakness
}

// sigBits is the security OpenSSL 3.0 grants a signature's digest.
func sigBits(alg x509.SignatureAlgorithm) int {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA:
		return 39
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return 63
	}
	return 128
}
