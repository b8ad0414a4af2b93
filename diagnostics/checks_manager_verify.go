package diagnostics

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// This file predicts NGINX's verdict on an agent certificate offline: which chain Go sends,
// what OpenSSL's X509_verify_cert (3.0, as NGINX calls it for ssl_verify_client) makes of it,
// and the line NGINX logs. NGINX's verify callback always returns 1, so OpenSSL carries on
// after every error and the result NGINX reads (SSL_get_verify_result) is the last error
// reported. The model follows crypto/x509/x509_vfy.c of OpenSSL 3.0: build_chain
// (trusted-first, depth limit), check_extensions (CA flags, sslclient purpose, path
// length), check_auth_level, check_revocation (CRL_CHECK_ALL, as ssl_crl sets it) and
// internal_verify (signatures and dates, from the top down). The scenario tests compare it
// with what a real NGINX logs.

// OpenSSL 3.0's X509_V_ERR codes (include/openssl/x509_vfy.h) and their
// X509_verify_cert_error_string texts. Numbers move between OpenSSL versions (24 was
// "invalid CA certificate" in 1.1.1; 3.0 uses 79).
const (
	x509UnableToGetIssuer        = 2
	x509UnableToGetCRL           = 3
	x509CertSignatureFailure     = 7
	x509CRLSignatureFailure      = 8
	x509CertNotYetValid          = 9
	x509CertHasExpired           = 10
	x509CRLNotYetValid           = 11
	x509CRLHasExpired            = 12
	x509DepthZeroSelfSigned      = 18
	x509SelfSignedInChain        = 19
	x509UnableToGetIssuerLocally = 20
	x509UnableToVerifyLeafSig    = 21
	x509ChainTooLong             = 22
	x509CertRevoked              = 23
	x509PathLengthExceeded       = 25
	x509InvalidPurpose           = 26
	x509KeyUsageNoCertSign       = 32
	x509KeyUsageNoCRLSign        = 35
	x509EEKeyTooSmall            = 66
	x509CAKeyTooSmall            = 67
	x509CAMDTooWeak              = 68
	x509InvalidCA                = 79
)

var x509ErrText = map[int]string{
	x509UnableToGetIssuer:        "unable to get issuer certificate",
	x509UnableToGetCRL:           "unable to get certificate CRL",
	x509CertSignatureFailure:     "certificate signature failure",
	x509CRLSignatureFailure:      "CRL signature failure",
	x509CertNotYetValid:          "certificate is not yet valid",
	x509CertHasExpired:           "certificate has expired",
	x509CRLNotYetValid:           "CRL is not yet valid",
	x509CRLHasExpired:            "CRL has expired",
	x509DepthZeroSelfSigned:      "self-signed certificate",
	x509SelfSignedInChain:        "self-signed certificate in certificate chain",
	x509UnableToGetIssuerLocally: "unable to get local issuer certificate",
	x509UnableToVerifyLeafSig:    "unable to verify the first certificate",
	x509ChainTooLong:             "certificate chain too long",
	x509CertRevoked:              "certificate revoked",
	x509PathLengthExceeded:       "path length constraint exceeded",
	x509InvalidPurpose:           "unsuitable certificate purpose",
	x509KeyUsageNoCertSign:       "key usage does not include certificate signing",
	x509KeyUsageNoCRLSign:        "key usage does not include CRL signing",
	x509EEKeyTooSmall:            "EE certificate key too weak",
	x509CAKeyTooSmall:            "CA certificate key too weak",
	x509CAMDTooWeak:              "CA signature digest algorithm too weak",
	x509InvalidCA:                "invalid CA certificate",
}

// optionalNoCAErrors are the results ssl_verify_client optional_no_ca lets through
// (ngx_ssl_verify_error_optional).
var optionalNoCAErrors = map[int]bool{18: true, 19: true, 20: true, 21: true, 27: true}

// opensslSecurityBits is the auth level's minimum: level 2, the default of Debian, Ubuntu
// and RHEL's DEFAULT crypto policy (112 bits: RSA 2048, no SHA-1 signatures).
const opensslSecurityBits = 112

// x509Error is one error OpenSSL reports to the verify callback.
type x509Error struct {
	Code  int
	Depth int
	Cert  *x509.Certificate
}

// Text is OpenSSL's string for the code.
func (e x509Error) Text() string {
	if t, ok := x509ErrText[e.Code]; ok {
		return t
	}
	return "unknown certificate verification error"
}

// clientVerify is one X509_verify_cert call on a client chain.
type clientVerify struct {
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
}

// verifyResult is what X509_verify_cert did.
type verifyResult struct {
	// Chain is the chain built, leaf first; Untrusted counts its certificates from the
	// client (the rest came from the verify store).
	Chain     []*x509.Certificate
	Untrusted int
	// Errors are reported in order; the last one is what NGINX logs.
	Errors []x509Error
}

// Last returns the error NGINX reads, ok false when verification succeeded.
func (r verifyResult) Last() (x509Error, bool) {
	if len(r.Errors) == 0 {
		return x509Error{}, false
	}
	return r.Errors[len(r.Errors)-1], true
}

// Has reports whether code was reported at all.
func (r verifyResult) Has(code int) bool {
	for _, e := range r.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// run verifies v.Sent[0] as OpenSSL 3.0 does for an SSL server with a verify callback
// that always returns 1.
func (v clientVerify) run() verifyResult {
	var r verifyResult
	if len(v.Sent) == 0 {
		return r
	}
	leaf := v.Sent[0]
	report := func(code, depth int) {
		var c *x509.Certificate
		if depth >= 0 && depth < len(r.Chain) {
			c = r.Chain[depth]
		}
		r.Errors = append(r.Errors, x509Error{Code: code, Depth: depth, Cert: c})
	}
	r.Chain, r.Untrusted = []*x509.Certificate{leaf}, 1
	if keyBits(leaf.PublicKey) < opensslSecurityBits {
		report(x509EEKeyTooSmall, 0)
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
func (v clientVerify) buildChain(r *verifyResult, report func(code, depth int)) {
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
		report(x509ChainTooLong, num-1)
	}
	switch {
	case osslSelfSigned(top) && num == 1:
		report(x509DepthZeroSelfSigned, num-1)
	case osslSelfSigned(top):
		report(x509SelfSignedInChain, num-1)
	case r.Untrusted < num:
		report(x509UnableToGetIssuer, num-1)
	default:
		report(x509UnableToGetIssuerLocally, num-1)
	}
}

// bestIssuer is find_issuer / X509_STORE_CTX_get1_issuer: among pool's certificates that
// likely issued c (and are not already in chain), the first valid now, else the one that
// expires last.
func (v clientVerify) bestIssuer(pool []*x509.Certificate, c *x509.Certificate, chain []*x509.Certificate) *x509.Certificate {
	var best *x509.Certificate
	for _, p := range pool {
		if !osslLikelyIssued(p, c) || containsCertPtr(chain, p) {
			continue
		}
		if lifeOf(p, v.Now) == lifeValid {
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

// checkExtensions is check_extensions for the sslclient purpose: intermediates must be
// CAs, every certificate must allow TLS client use, and pathLenConstraint holds.
func (v clientVerify) checkExtensions(r *verifyResult, report func(code, depth int)) {
	plen := 0
	for i, c := range r.Chain {
		if i > 0 && osslCheckCA(c) == 0 {
			report(x509InvalidCA, i)
		}
		if !osslPurposeSSLClient(c, i > 0) {
			report(x509InvalidPurpose, i)
		}
		if i > 1 && pathLen(c) >= 0 && plen > pathLen(c) {
			report(x509PathLengthExceeded, i)
		}
		if i > 0 && !bytes.Equal(c.RawIssuer, c.RawSubject) {
			plen++
		}
	}
}

// checkAuthLevel is check_auth_level: CA keys and every signature below the top must meet
// the security level.
func (v clientVerify) checkAuthLevel(r *verifyResult, report func(code, depth int)) {
	n := len(r.Chain)
	for i, c := range r.Chain {
		if i > 0 && keyBits(c.PublicKey) < opensslSecurityBits {
			report(x509CAKeyTooSmall, i)
		}
		if i < n-1 && sigBits(c.SignatureAlgorithm) < opensslSecurityBits {
			report(x509CAMDTooWeak, i)
		}
	}
}

// checkRevocation is check_revocation with X509_V_FLAG_CRL_CHECK_ALL: every certificate
// of the chain needs a CRL from its issuer that is current, correctly signed, and does not
// list it.
func (v clientVerify) checkRevocation(r *verifyResult, report func(code, depth int)) {
	for i, c := range r.Chain {
		crl, issuer := v.findCRL(r.Chain, i)
		if crl == nil {
			report(x509UnableToGetCRL, i)
			continue
		}
		if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
			report(x509KeyUsageNoCRLSign, i)
		}
		switch {
		case v.Now.Before(crl.ThisUpdate):
			report(x509CRLNotYetValid, i)
		case !crl.NextUpdate.IsZero() && v.Now.After(crl.NextUpdate):
			report(x509CRLHasExpired, i)
		}
		if !osslSignatureOK(issuer, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) {
			report(x509CRLSignatureFailure, i)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber != nil && e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				report(x509CertRevoked, i)
				break
			}
		}
	}
}

// findCRL is get_crl_sk for chain[i]: a CRL named for its issuer whose signer is in the
// chain above it (crl_akid_check: the next certificate, or the top itself when chain[i] is
// the top; then any further one with the CRL's issuer name), preferring a current CRL. A
// CRL whose signer is not in the chain scores 0 and is not used. It returns the signer too.
func (v clientVerify) findCRL(chain []*x509.Certificate, i int) (*x509.RevocationList, *x509.Certificate) {
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
func (v clientVerify) internalVerify(r *verifyResult, report func(code, depth int)) {
	n := len(r.Chain) - 1
	xi := r.Chain[n]
	xs := xi
	if !osslLikelyIssued(xi, xi) {
		if n > 0 {
			n--
			xs = r.Chain[n]
		} else {
			report(x509UnableToVerifyLeafSig, 0)
		}
	}
	for n >= 0 {
		if xs != xi {
			if xi.KeyUsage != 0 && xi.KeyUsage&x509.KeyUsageCertSign == 0 {
				report(x509KeyUsageNoCertSign, n+1)
			}
			if !osslSignatureOK(xi, xs.SignatureAlgorithm, xs.RawTBSCertificate, xs.Signature) {
				report(x509CertSignatureFailure, n)
			}
		}
		if v.Now.Before(xs.NotBefore) {
			report(x509CertNotYetValid, n)
		}
		if v.Now.After(xs.NotAfter) {
			report(x509CertHasExpired, n)
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

// nginxOutcome is how NGINX answers an agent's request after the handshake.
type nginxOutcome int

const (
	// outcomeAccepted: the request goes on to the location (verify passed, or not required).
	outcomeAccepted nginxOutcome = iota
	// outcomeNoCert: 496, "client sent no required SSL certificate".
	outcomeNoCert
	// outcomeVerifyError: 495, "client SSL certificate verify error: (N:text)".
	outcomeVerifyError
)

// nginxVerdict is the offline prediction for one agent-facing server.
type nginxVerdict struct {
	// Requested is false for ssl_verify_client off: no certificate is asked for.
	Requested bool
	// Advertised are the CA names NGINX sends (subjects of ssl_client_certificate).
	Advertised [][]byte
	// Sent is false when Go withholds the agent's chain because it reaches none of them.
	Sent bool
	// Verify is OpenSSL's result on the sent chain (zero when nothing was verified).
	Verify verifyResult
	// Outcome is NGINX's answer.
	Outcome nginxOutcome
}

// LogLine is the [info] message NGINX writes for the outcome, "" when it writes none.
func (v nginxVerdict) LogLine() string {
	switch v.Outcome {
	case outcomeNoCert:
		return "client sent no required SSL certificate"
	case outcomeVerifyError:
		e, _ := v.Verify.Last()
		return fmt.Sprintf("client SSL certificate verify error: (%d:%s)", e.Code, e.Text())
	}
	return ""
}

// Status is the status NGINX uses internally (495, 496) or 0 when it accepts; it sends
// both as 400 unless an error_page maps them.
func (v nginxVerdict) Status() int {
	switch v.Outcome {
	case outcomeNoCert:
		return 496
	case outcomeVerifyError:
		return 495
	}
	return 0
}

// predictNginx predicts NGINX's verdict on chain (the agent's cert file, leaf first) under
// the given ssl_verify_client mode, verify store, advertised CA names, CRLs and depth.
func predictNginx(chain []*x509.Certificate, mode string, store []*x509.Certificate, advertised [][]byte,
	crlCheck bool, crls []*x509.RevocationList, depth int, now time.Time) nginxVerdict {
	v := nginxVerdict{Requested: mode != "off" && mode != "", Advertised: advertised}
	if !v.Requested || len(chain) == 0 {
		return v
	}
	v.Sent = acceptableMatch(chain, advertised)
	if !v.Sent {
		if mode == "on" {
			v.Outcome = outcomeNoCert
		}
		return v
	}
	v.Verify = clientVerify{Sent: chain, Trusted: store, CRLCheck: crlCheck, CRLs: crls, Depth: depth, Now: now}.run()
	if e, failed := v.Verify.Last(); failed && !(mode == "optional_no_ca" && optionalNoCAErrors[e.Code]) {
		v.Outcome = outcomeVerifyError
	}
	return v
}
