package lab

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// What the lab says where NGINX would say it. The texts are NGINX's own
// (src/http/ngx_http_special_response.c, ngx_http_request.c; nginx-facts.md §3), with
// server_tokens off so no version is claimed.
const (
	serverHeader = "nginx"
	crlf         = "\r\n"
	pageTail     = "<hr><center>nginx</center>" + crlf + "</body>" + crlf + "</html>" + crlf
	// docRoot is where NGINX looks for a file when no location matches (Debian's default).
	docRoot = "/usr/share/nginx/html"
)

// errorPage is NGINX's built-in HTML page for status code (495, 496 and 497 are sent as
// 400 with their own text).
func errorPage(code int) string {
	title, text := pageTitle(code)
	h1 := title
	if text != "" {
		h1 = "400 Bad Request"
	}
	var b strings.Builder
	b.WriteString("<html>" + crlf)
	b.WriteString("<head><title>" + title + "</title></head>" + crlf)
	b.WriteString("<body>" + crlf)
	b.WriteString("<center><h1>" + h1 + "</h1></center>" + crlf)
	if text != "" {
		b.WriteString("<center>" + text + "</center>" + crlf)
	}
	b.WriteString(pageTail)
	return b.String()
}

// pageTitle returns the <title> of NGINX's page for code and, for the 400 variants, the
// extra line of text.
func pageTitle(code int) (title, text string) {
	switch code {
	case 495:
		return "400 The SSL certificate error", "The SSL certificate error"
	case 496:
		return "400 No required SSL certificate was sent", "No required SSL certificate was sent"
	case 497:
		return "400 The plain HTTP request was sent to HTTPS port", "The plain HTTP request was sent to HTTPS port"
	case 400:
		return "400 Bad Request", ""
	case 404:
		return "404 Not Found", ""
	case 502:
		return "502 Bad Gateway", ""
	}
	return fmt.Sprintf("%d", code), ""
}

// wireStatus is the status NGINX sends for an internal code: 494–497 go out as 400.
func wireStatus(code int) int {
	if code >= 494 && code <= 497 {
		return 400
	}
	return code
}

// X509_V_ERR codes and texts NGINX logs for a client certificate (OpenSSL 3.0,
// x509_txt.c; nginx-facts.md §3.8).
const (
	errUnableToGetIssuerLocally = 20
	errUnableToVerifyLeaf       = 21
	errNotYetValid              = 9
	errExpired                  = 10
	errSelfSigned               = 18
	errSelfSignedInChain        = 19
	errRevoked                  = 23
	errPurpose                  = 26
)

var x509ErrText = map[int]string{
	errNotYetValid:              "certificate is not yet valid",
	errExpired:                  "certificate has expired",
	errSelfSigned:               "self-signed certificate",
	errSelfSignedInChain:        "self-signed certificate in certificate chain",
	errUnableToGetIssuerLocally: "unable to get local issuer certificate",
	errUnableToVerifyLeaf:       "unable to verify the first certificate",
	errRevoked:                  "certificate revoked",
	errPurpose:                  "unsuitable certificate purpose",
}

// verifyClientChain judges the chain an agent sent the way NGINX's OpenSSL does with
// ssl_client_certificate cas, ssl_verify_depth depth and ssl_crl revoked: it returns 0
// when the chain is accepted, else the X509_V_ERR code NGINX logs.
//
// NGINX's verify callback always returns 1, so OpenSSL goes on after an error and the
// result is the last error met, in OpenSSL's order: building the chain, its depth, the
// purpose, revocation, then signatures and validity from the root down to the leaf.
func verifyClientChain(sent, cas []*x509.Certificate, depth int, revoked map[string]bool, now time.Time) int {
	if len(sent) == 0 {
		return 0
	}
	var last int
	fail := func(code int) { last = code }

	path := []*x509.Certificate{sent[0]}
	anchored := false
	for len(path) < 32 {
		cur := path[len(path)-1]
		if isSelfSigned(cur) {
			if containsCert(cas, cur) {
				anchored = true
			} else if len(path) == 1 {
				fail(errSelfSigned)
			} else {
				fail(errSelfSignedInChain)
			}
			break
		}
		// Trusted certificates first (OpenSSL's X509_V_FLAG_TRUSTED_FIRST default), then
		// what the client sent.
		issuer := findIssuer(cur, cas)
		if issuer == nil {
			issuer = findIssuer(cur, sent[1:])
		}
		if issuer == nil {
			if len(path) == 1 {
				// 20 at depth 0, then internal_verify cannot check the leaf's signature: 21.
				fail(errUnableToVerifyLeaf)
			} else {
				fail(errUnableToGetIssuerLocally)
			}
			break
		}
		if containsCert(path, issuer) {
			fail(errUnableToGetIssuerLocally) // a loop: no way up
			break
		}
		path = append(path, issuer)
	}
	if anchored && len(path)-2 > depth {
		// Measured with NGINX 1.22.1 / OpenSSL 3.0: two intermediates at the default depth 1
		// give 20, not 22 "certificate chain too long".
		fail(errUnableToGetIssuerLocally)
	}
	if !clientPurposeOK(path[0]) {
		fail(errPurpose)
	}
	for _, c := range path {
		if revoked[c.SerialNumber.String()] {
			fail(errRevoked)
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		c := path[i]
		switch {
		case now.Before(c.NotBefore):
			fail(errNotYetValid)
		case now.After(c.NotAfter):
			fail(errExpired)
		}
	}
	return last
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// findIssuer returns the certificate among pool whose subject is c's issuer and whose key
// signed c.
func findIssuer(c *x509.Certificate, pool []*x509.Certificate) *x509.Certificate {
	for _, p := range pool {
		if string(p.RawSubject) == string(c.RawIssuer) &&
			p.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			return p
		}
	}
	return nil
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// clientPurposeOK is OpenSSL's "sslclient" purpose check of the leaf: an EKU, when
// present, must allow clientAuth; a keyUsage, when present, digitalSignature or
// keyAgreement (crypto/x509/v3_purp.c check_purpose_ssl_client).
func clientPurposeOK(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) == 0 {
		return false
	}
	return true
}
