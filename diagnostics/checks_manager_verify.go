package diagnostics

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
)

// This file predicts NGINX's verdict on an agent certificate offline: which chain Go sends,
// what OpenSSL makes of it (internal/opensslverdict, X509_verify_cert as NGINX calls it for
// ssl_verify_client), and the line NGINX logs. The scenario tests compare it with what a
// real NGINX logs.

// optionalNoCAErrors are the results ssl_verify_client optional_no_ca lets through
// (ngx_ssl_verify_error_optional).
var optionalNoCAErrors = map[int]bool{18: true, 19: true, 20: true, 21: true, 27: true}

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
	Verify opensslverdict.Result
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
	v.Verify = opensslverdict.Verify{Sent: chain, Trusted: store, CRLCheck: crlCheck, CRLs: crls, Depth: depth, Now: now}.Run()
	if e, failed := v.Verify.Last(); failed && !(mode == "optional_no_ca" && optionalNoCAErrors[e.Code]) {
		v.Outcome = outcomeVerifyError
	}
	return v
}
