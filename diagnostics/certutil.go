package diagnostics

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// This file holds the pure helpers the checks share: which certificates the facts hold,
// how they chain, how long they live, and what the server's chain verifies to.

// tlsOn reports whether the agent uses TLS at all (tls.enable, or v3's derived value).
func tlsOn(f *Facts) bool { return f.Agent != nil && f.Agent.TLSEnabled.Value == "true" }

// agentUsable reports whether an agent configuration was read and names the manager: only
// then do its settings describe what the agent does, and only then can they be judged or
// cross-checked against NGINX. agent-config-missing and agent-config-invalid say why not.
func agentUsable(f *Facts) bool {
	return f.Agent != nil && f.Agent.Error == nil && f.Agent.Address() != ""
}

// noTLSSkip is the skip of a check about the agent's TLS settings when the agent does not
// use TLS, or when there is no usable configuration to say whether it does.
func noTLSSkip(f *Facts) Result {
	if !agentUsable(f) {
		return Skip("skipped: no usable agent configuration")
	}
	return Skip("skipped: the agent does not use TLS")
}

// agentChain is the agent's cert file in file order: what the agent sends (leaf first).
func agentChain(f *Facts) []*x509.Certificate {
	if f.Files == nil || f.Files.Cert == nil {
		return nil
	}
	return f.Files.Cert.Certs
}

// agentLeaf is the agent's client certificate, or nil.
func agentLeaf(f *Facts) *x509.Certificate {
	if c := agentChain(f); len(c) > 0 {
		return c[0]
	}
	return nil
}

// caCerts are the certificates of the agent's CA file.
func caCerts(f *Facts) []*x509.Certificate {
	if f.Files == nil || f.Files.CA == nil {
		return nil
	}
	return f.Files.CA.Certs
}

// agentAttempt is the endpoint attempt made as the agent would (with its cert, if any).
func agentAttempt(f *Facts) *probes.Attempt {
	if f.Endpoint == nil {
		return nil
	}
	return f.Endpoint.Agent
}

// handshake returns the TLS observation of a completed handshake, or nil.
func handshake(a *probes.Attempt) *probes.TLSObservation {
	if a == nil || a.TLS == nil || a.TLS.Error != nil {
		return nil
	}
	return a.TLS
}

// httpReply returns the HTTP observation of an attempt that got an answer, or nil.
func httpReply(a *probes.Attempt) *probes.HTTPObservation {
	if a == nil || a.HTTP == nil || a.HTTP.Error != nil {
		return nil
	}
	return a.HTTP
}

// serverChain is the chain the server sent in the agent's attempt, leaf first.
func serverChain(f *Facts) []*x509.Certificate {
	if t := handshake(agentAttempt(f)); t != nil {
		return t.PeerChain
	}
	return nil
}

// noHandshake explains why there is no server certificate to judge.
func noHandshake(f *Facts) Result {
	switch {
	case f.Endpoint == nil:
		return Skip("skipped: the endpoint was not probed")
	case f.Endpoint.PlainText:
		return Skip("skipped: the agent does not use TLS (tls.enable is false)")
	}
	if a := agentAttempt(f); a != nil && a.TLS != nil && a.TLS.Error != nil {
		return Skip("skipped: no TLS handshake (%s)", a.TLS.Error.Kind)
	}
	return Skip("skipped: no TLS handshake with %s", f.Endpoint.Address)
}

// dnMemo remembers the text of names already formatted: a fleet's servers share one CA
// file, whose names every server's verdict quotes. Bounded, so hostile input cannot grow it.
var dnMemo = struct {
	sync.Mutex
	text map[string]string
}{text: map[string]string{}}

const dnMemoMax = 4096

// dn formats a DER-encoded distinguished name as OpenSSL-like text.
func dn(der []byte) string {
	dnMemo.Lock()
	s, ok := dnMemo.text[string(der)]
	dnMemo.Unlock()
	if ok {
		return s
	}
	s = formatDN(der)
	dnMemo.Lock()
	if len(dnMemo.text) < dnMemoMax {
		dnMemo.text[string(der)] = s
	}
	dnMemo.Unlock()
	return s
}

func formatDN(der []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
		return fmt.Sprintf("(undecodable name, %d bytes)", len(der))
	}
	if s := seq.String(); s != "" {
		return s
	}
	return "(empty name)"
}

// certName names a certificate for a summary: its CN, or its whole subject.
func certName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return dn(c.RawSubject)
}

// selfSigned reports whether c is a root: issued by itself, with a valid self-signature.
func selfSigned(c *x509.Certificate) bool { return IssuedBy(c, c) }

// IssuedBy reports whether parent issued c: c's issuer is parent's subject and parent's
// key verifies c's signature. A same-name CA whose key differs (a re-created CA) did not.
func IssuedBy(c, parent *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, parent.RawSubject) && signedBy(c, parent)
}

// signedBy reports whether parent's key verifies c's signature (CheckSignatureFrom).
// The answer is remembered per pair of certificates: a configuration with thousands of
// server blocks names the same few files, which the probes load once and share, and a
// signature check costs far more than the rest of a server's judgement.
func signedBy(c, parent *x509.Certificate) bool {
	key := [2]*x509.Certificate{c, parent}
	signatures.Lock()
	ok, seen := signatures.verdict[key]
	signatures.Unlock()
	if seen {
		return ok
	}
	ok = c.CheckSignatureFrom(parent) == nil
	signatures.Lock()
	if len(signatures.verdict) >= maxRememberedSignatures {
		clear(signatures.verdict) // bounded: the TUI re-reads the files on every re-check
	}
	signatures.verdict[key] = ok
	signatures.Unlock()
	return ok
}

// maxRememberedSignatures bounds signedBy's memory (two pointers and a bool each).
const maxRememberedSignatures = 4096

// signatures holds signedBy's verdicts; the engine runs checks concurrently.
var signatures = struct {
	sync.Mutex
	verdict map[[2]*x509.Certificate]bool
}{verdict: map[[2]*x509.Certificate]bool{}}

// findIssuer returns the first certificate among pools whose subject is c's issuer and
// whose key verifies c's signature; nil when none does.
func findIssuer(c *x509.Certificate, pools ...[]*x509.Certificate) *x509.Certificate {
	for _, pool := range pools {
		for _, p := range pool {
			if p != c && IssuedBy(c, p) {
				return p
			}
		}
	}
	return nil
}

// maxChainDepth bounds a chain walk: real chains are short, and a loop of cross-signed
// CAs must end.
const maxChainDepth = 10

// ChainLink is one certificate of a walked chain.
type ChainLink struct {
	Cert *x509.Certificate
	// Pool is the index of the pool the certificate was found in; -1 for the leaf.
	Pool int
}

// Chain is a chain followed from a leaf through pools of certificates by WalkChain.
type Chain struct {
	// Links are the leaf, then each issuer found, in order.
	Links []ChainLink
	// Rooted says the walk ended on a self-signed certificate (the last link, which is
	// the leaf itself for a self-signed leaf).
	Rooted bool
	// NameOnly, when the walk ended on an issuer not found, is a certificate of the pools
	// named as that issuer whose key did not sign the last link (a re-created CA).
	NameOnly *x509.Certificate
}

// Last is the certificate the walk ended on.
func (ch Chain) Last() *x509.Certificate { return ch.Links[len(ch.Links)-1].Cert }

// WalkChain follows issuers from leaf through pools, looking in the pools in order and
// never using a certificate twice. It is the one chain walker of the checks and the
// assistant's Certificates screen.
func WalkChain(leaf *x509.Certificate, pools ...[]*x509.Certificate) Chain {
	ch := Chain{Links: []ChainLink{{Cert: leaf, Pool: -1}}}
	seen := map[*x509.Certificate]bool{leaf: true}
	c := leaf
	for range maxChainDepth {
		if selfSigned(c) {
			ch.Rooted = true
			return ch
		}
		next, pool := ch.issuerOf(c, seen, pools)
		if next == nil {
			return ch
		}
		seen[next] = true
		ch.Links = append(ch.Links, ChainLink{Cert: next, Pool: pool})
		c = next
	}
	return ch
}

// issuerOf finds c's issuer among the pools' unseen certificates, noting a certificate
// that has the issuer's name only in ch.NameOnly.
func (ch *Chain) issuerOf(c *x509.Certificate, seen map[*x509.Certificate]bool, pools [][]*x509.Certificate) (*x509.Certificate, int) {
	for i, pool := range pools {
		for _, p := range pool {
			if seen[p] {
				continue
			}
			if IssuedBy(c, p) {
				return p, i
			}
			if ch.NameOnly == nil && bytes.Equal(c.RawIssuer, p.RawSubject) {
				ch.NameOnly = p
			}
		}
	}
	return nil, -1
}

// chainWalk is WalkChain for the checks: the intermediates found (leaf and root
// excluded), the root if one was reached, and whether the walk ended on an issuer that
// none of the pools holds.
func chainWalk(leaf *x509.Certificate, pools ...[]*x509.Certificate) (inter []*x509.Certificate, root *x509.Certificate, lost bool) {
	ch := WalkChain(leaf, pools...)
	for _, l := range ch.Links[1:] {
		inter = append(inter, l.Cert)
	}
	if ch.Rooted && len(inter) > 0 {
		root, inter = inter[len(inter)-1], inter[:len(inter)-1]
	}
	return inter, root, !ch.Rooted
}

// SANs lists c's subject alternative names as text: DNS names, then IPs, URIs and email
// addresses.
func SANs(c *x509.Certificate) []string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	return append(out, c.EmailAddresses...)
}

// hasHostSANs reports whether c has a SAN a host name or IP can match.
func hasHostSANs(c *x509.Certificate) bool { return len(c.DNSNames)+len(c.IPAddresses) > 0 }

// EKUAllows reports whether c's extended key usage permits want. A certificate without
// the extension permits every usage.
func EKUAllows(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == want || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

var ekuNames = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageServerAuth: "serverAuth",
	x509.ExtKeyUsageClientAuth: "clientAuth", x509.ExtKeyUsageCodeSigning: "codeSigning",
	x509.ExtKeyUsageEmailProtection: "emailProtection", x509.ExtKeyUsageTimeStamping: "timeStamping",
	x509.ExtKeyUsageOCSPSigning: "OCSPSigning",
}

// ekuList names c's extended key usages ("serverAuth, 1.2.3.4").
func ekuList(c *x509.Certificate) string { return strings.Join(EKUNames(c), ", ") }

// EKUNames names c's extended key usages, unknown ones by their OID.
func EKUNames(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := ekuNames[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("usage(%d)", int(u)))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return out
}

// publicKeysEqual compares two public keys with their Equal method.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && eq.Equal(b)
}

// KeyDescription describes a public key ("RSA 2048", "ECDSA P-256", "Ed25519").
func KeyDescription(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// CertWeaknesses lists what makes c unacceptable to a current OpenSSL (security level 1+),
// each naming c: a short RSA key, or a SHA-1/MD5 signature. A self-issued certificate's
// own signature is not judged: OpenSSL checks every signature below the top of the chain
// only (check_auth_level in crypto/x509/x509_vfy.c).
func CertWeaknesses(c *x509.Certificate) []string {
	var out []string
	if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
		out = append(out, fmt.Sprintf("%s has a %d-bit RSA key (2048 is the minimum)", certName(c), k.N.BitLen()))
	}
	if weakSignature(c) && !bytes.Equal(c.RawIssuer, c.RawSubject) {
		out = append(out, fmt.Sprintf("%s is signed with %s", certName(c), c.SignatureAlgorithm))
	}
	return out
}

// weakSignature reports a SHA-1 or MD5 signature, which OpenSSL rejects and Go's verifier
// does not check at all.
func weakSignature(c *x509.Certificate) bool {
	switch c.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

// timeLayout is how the checks print instants: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05 UTC"

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// lifeState is where now falls in a certificate's validity period.
type lifeState int

const (
	lifeValid lifeState = iota
	lifeNotYet
	lifeExpired
)

func lifeOf(c *x509.Certificate, now time.Time) lifeState {
	switch {
	case now.Before(c.NotBefore):
		return lifeNotYet
	case now.After(c.NotAfter):
		return lifeExpired
	}
	return lifeValid
}

// leftText says how long c has left in words a human reads at a glance.
func leftText(c *x509.Certificate, now time.Time) string {
	return HumanDuration(c.NotAfter.Sub(now)) + " left"
}

// expiry judges how close c is to expiring. A certificate whose whole lifetime is no longer
// than WarnDays is short-lived and judged by the share of its lifetime left: warn below
// WarnPercent, fail below WarnPercent*CritDays/WarnDays (the same ratio as the day
// thresholds). Others warn below WarnDays and fail below CritDays. It returns SeverityOK
// with the remaining time, or SeveritySkip when c is not within its validity period.
func expiry(c *x509.Certificate, now time.Time, th Thresholds) (Severity, string) {
	if lifeOf(c, now) != lifeValid {
		return SeveritySkip, ""
	}
	life := c.NotAfter.Sub(c.NotBefore)
	left := c.NotAfter.Sub(now)
	days := DaysLeft(c, now)
	until := fmt.Sprintf("expires %s (%s)", stamp(c.NotAfter), leftText(c, now))
	if th.WarnDays > 0 && life <= time.Duration(th.WarnDays)*24*time.Hour && life > 0 {
		pct := float64(left) / float64(life) * 100
		crit := float64(th.WarnPercent) * float64(th.CritDays) / float64(th.WarnDays)
		msg := fmt.Sprintf("%s, %.0f%% of its %s lifetime", until, pct, lifetimeText(life))
		switch {
		case pct < crit:
			return SeverityFail, msg
		case pct < float64(th.WarnPercent):
			return SeverityWarn, msg
		}
		return SeverityOK, msg
	}
	switch {
	case days < th.CritDays:
		return SeverityFail, until
	case days < th.WarnDays:
		return SeverityWarn, until
	}
	return SeverityOK, until
}

// CertExpiry is the expiry checks' verdict on c at now, for views that show certificates
// (the TUI): outside the validity period a failure saying when it ended or starts, else
// what agent-cert-expiring and server-cert-expiring would say (SeverityOK: nothing due).
func CertExpiry(c *x509.Certificate, now time.Time, th Thresholds) (Severity, string) {
	switch lifeOf(c, now) {
	case lifeExpired:
		return SeverityFail, fmt.Sprintf("expired %s (%s ago)", stamp(c.NotAfter), HumanDuration(now.Sub(c.NotAfter)))
	case lifeNotYet:
		return SeverityFail, fmt.Sprintf("not valid until %s (in %s)", stamp(c.NotBefore), HumanDuration(c.NotBefore.Sub(now)))
	}
	return expiry(c, now, th)
}

func lifetimeText(d time.Duration) string {
	if d < 72*time.Hour {
		return fmt.Sprintf("%.0fh", d.Hours())
	}
	return fmt.Sprintf("%.0f-day", d.Hours()/24)
}

// serverVerdict is the server chain verified as the agent verifies it.
type serverVerdict struct {
	Leaf *x509.Certificate
	// Roots says what the chain was verified against, for summaries.
	Roots string
	// Err is x509.Verify's result with the served chain, the agent's roots and no name or
	// usage constraint, at a time inside the leaf's validity (the time and name checks are
	// their own findings). Nil means trusted.
	Err error
	// NoRoots is set when there is nothing to verify against (unusable CA file, no system
	// store); Err is then nil and meaningless.
	NoRoots string
}

// verifyServer verifies the served chain against the agent's CA file (which replaces the
// system roots) or, with none configured, the system trust store.
func verifyServer(f *Facts) (serverVerdict, bool) {
	chain := serverChain(f)
	if len(chain) == 0 {
		return serverVerdict{}, false
	}
	v := serverVerdict{Leaf: chain[0]}
	opts := x509.VerifyOptions{
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   f.Now,
	}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if f.Agent != nil && f.Agent.CA.Value != "" {
		v.Roots = "the agent's CA file " + f.Agent.CA.Value
		cas := caCerts(f)
		if len(cas) == 0 {
			v.NoRoots = fmt.Sprintf("%s holds no usable certificate", f.Agent.CA.Value)
			return v, true
		}
		opts.Roots = x509.NewCertPool()
		for _, c := range cas {
			opts.Roots.AddCert(c)
		}
	} else {
		v.Roots = "the system trust store"
		if f.Files == nil || f.Files.SystemRoots == nil {
			reason := "was not loaded"
			if f.Files != nil && f.Files.SystemRootsError != "" {
				reason = "could not be loaded: " + f.Files.SystemRootsError
			}
			v.NoRoots = "the system trust store " + reason
			return v, true
		}
		opts.Roots = f.Files.SystemRoots
	}
	opts.CurrentTime = trustTime(chain, f.Now)
	_, v.Err = v.Leaf.Verify(opts)
	return v, true
}

// trustTime is the instant trust is judged at: now if the whole served chain is valid then,
// else the nearest instant at which it is, so that trust is judged apart from time (expiry
// has its own findings).
func trustTime(chain []*x509.Certificate, now time.Time) time.Time {
	from, until := chain[0].NotBefore, chain[0].NotAfter
	for _, c := range chain[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	switch {
	case from.After(until):
		return now // no common instant: let Verify report the dates
	case now.Before(from):
		return from
	case now.After(until):
		return until
	}
	return now
}

// verifyErrText words a verification error as Go (and so the agent) prints it.
func verifyErrText(err error) string {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return "x509: certificate signed by unknown authority"
	}
	return err.Error()
}

// servedIssuer returns the certificate in the served chain that issued the leaf, or nil.
func servedIssuer(chain []*x509.Certificate) *x509.Certificate {
	if len(chain) == 0 {
		return nil
	}
	return findIssuer(chain[0], chain[1:])
}

// acceptableMatch reports whether Go would send chain to a server that advertised cas:
// some certificate's issuer must equal one of the names (crypto/tls SupportsCertificate).
func acceptableMatch(chain []*x509.Certificate, cas [][]byte) bool {
	if len(cas) == 0 {
		return true
	}
	for _, c := range chain {
		for _, ca := range cas {
			if bytes.Equal(c.RawIssuer, ca) {
				return true
			}
		}
	}
	return false
}

// dnList formats the advertised CA names.
func dnList(cas [][]byte) []string {
	out := make([]string, 0, len(cas))
	for _, ca := range cas {
		out = append(out, dn(ca))
	}
	return out
}

var tlsVersionNames = map[uint16]string{
	tls.VersionTLS10: "TLS 1.0", tls.VersionTLS11: "TLS 1.1",
	tls.VersionTLS12: "TLS 1.2", tls.VersionTLS13: "TLS 1.3",
}

func tlsVersionName(v uint16) string {
	if n, ok := tlsVersionNames[v]; ok {
		return n
	}
	return fmt.Sprintf("TLS version 0x%04x", v)
}

// Titles NGINX puts on its 400 pages for client-certificate rejections
// (src/http/ngx_http_special_response.c, ngx_http_error_495_page and _496_page).
const (
	titleCertError = "The SSL certificate error"            // 495
	titleNoCert    = "No required SSL certificate was sent" // 496
	titlePlainHTTP = "The plain HTTP request was sent to HTTPS port"
)

// grpcStatus returns the reply's grpc-status, or -1 when there is none.
func grpcStatus(h *probes.HTTPObservation) int {
	if h == nil || h.GRPCStatus == nil {
		return -1
	}
	return *h.GRPCStatus
}

// isGRPC reports whether the reply came from a gRPC server (or NGINX speaking gRPC).
func isGRPC(h *probes.HTTPObservation) bool {
	return h != nil && strings.HasPrefix(h.ContentType, "application/grpc")
}

// replyText sums up an HTTP reply in one phrase for summaries and evidence.
func replyText(h *probes.HTTPObservation) string {
	parts := []string{fmt.Sprintf("HTTP %d", h.Status)}
	if h.BodyTitle != "" {
		parts = append(parts, fmt.Sprintf("%q", h.BodyTitle))
	} else if h.ContentType != "" {
		parts = append(parts, h.ContentType)
	}
	if s := grpcStatus(h); s >= 0 {
		g := fmt.Sprintf("grpc-status %d", s)
		if h.GRPCMessage != "" {
			g += fmt.Sprintf(" (%s)", h.GRPCMessage)
		}
		parts = append(parts, g)
	}
	return strings.Join(parts, ", ")
}

// rejection classifies an NGINX client-certificate rejection in an HTTP reply:
// 495, 496, 16 (grpc Unauthenticated) or 0 for none.
func rejection(h *probes.HTTPObservation) int {
	if h == nil {
		return 0
	}
	switch {
	case h.Status == 400 && strings.Contains(h.BodyTitle, titleCertError):
		return 495
	case h.Status == 400 && strings.Contains(h.BodyTitle, titleNoCert):
		return 496
	case isGRPC(h) && grpcStatus(h) == 16:
		return 16
	}
	return 0
}
