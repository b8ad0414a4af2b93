package diagnostics

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

func meshCAChecks() []Check {
	need := []FactKind{FactMesh}
	return []Check{
		{
			ID: "mesh-ca-file-format", Category: CategoryMesh,
			Title: "upstream CA files are PEM files nginx-meshctl and SPIRE accept",
			Why: "nginx-meshctl takes exactly one PEM block in the certificate and key files (a chain or the EC " +
				"PARAMETERS block `openssl ecparam -genkey` writes is refused) and any number in a bundle. SPIRE's " +
				"pemutil then wants CERTIFICATE blocks and an unencrypted PKCS#1, SEC1 or PKCS#8 key (" + srcSpireDisk + ").",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshFileFormat, Fix: fixMeshFileFormat,
		},
		{
			ID: "mesh-ca-key-mismatch", Category: CategoryMesh,
			Title: "upstream CA key belongs to the upstream CA certificate",
			Why: "SPIRE's disk upstream authority checks that the key matches the certificate and refuses to start " +
				"(\"certificate and private key do not match\") when it does not, so the mesh has no CA.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshKeyMismatch, Fix: fixMeshKeyMismatch,
		},
		{
			ID: "mesh-ca-not-a-ca", Category: CategoryMesh,
			Title: "upstream CA and the certificates above it are CAs fit to sign SPIRE's CA",
			Why: "Every certificate between a workload's SVID and the root must say CA:TRUE and allow keyCertSign " +
				"(RFC 5280 4.2.1.9 and 4.2.1.3; go-spiffe refuses signing certificates without keyCertSign). An " +
				"extended key usage must allow serverAuth and clientAuth: SPIRE verifies its upstream CA for serverAuth, " +
				"and NGINX sidecars verify client SVIDs for clientAuth.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshNotCA, Fix: fixMeshReissue,
		},
		{
			ID: "mesh-ca-pathlen", Category: CategoryMesh,
			Title: "the chain SPIRE builds satisfies every path constraint",
			Why: "SPIRE signs its own CA with the upstream CA, and that CA signs the workloads' SVIDs, so the upstream " +
				"CA has one CA below it and its issuer two: pathlen must be unset or at least 1 on the upstream CA and " +
				"at least 2 on the root (" + srcMeshDoc + "). The chain is built and verified with Go's verifier, " +
				"so name constraints and critical extensions count too.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshPathlen, Fix: fixMeshReissue,
		},
		{
			ID: "mesh-ca-bundle-incomplete", Category: CategoryMesh,
			Title: "the bundle chains the upstream CA to its root",
			Why: "With no bundle_file_path SPIRE's disk plugin accepts only a self-signed CA; with one, the upstream CA " +
				"must verify against the bundle (" + srcSpireDisk + "). The bundle becomes the mesh's trust bundle, and " +
				"NGINX sidecars (OpenSSL) need it to reach a self-signed root.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshBundle, Fix: fixMeshBundle,
		},
		{
			ID: "mesh-ca-expired", Category: CategoryMesh,
			Title: "upstream CA chain has not expired",
			Why: "SPIRE verifies the upstream CA at startup and refuses an expired one; SPIRE's CA and every SVID " +
				"end no later than the upstream CA (SPIRE clamps their lifetime to it), so the mesh stops.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshExpired, Fix: fixMeshReissue,
		},
		{
			ID: "mesh-ca-not-yet-valid", Category: CategoryMesh,
			Title: "upstream CA chain is already valid",
			Why: "A CA whose validity starts in the future fails verification like an expired one. It usually means " +
				"a clock is wrong where the CA was issued or here.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshNotYetValid, Fix: fixMeshReissue,
		},
		{
			ID: "mesh-ca-expiring", Category: CategoryMesh,
			Title: "upstream CA chain is not about to expire",
			Why: "SPIRE's CA and the SVIDs it issues cannot outlive the upstream CA, so the whole mesh loses mTLS " +
				"when it expires. Renew it ahead, from the same root, so the trust bundle stays the same.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshExpiring, Fix: fixMeshReissue,
		},
		{
			ID: "mesh-ca-weak", Category: CategoryMesh,
			Title: "upstream CA chain uses strong keys and signatures",
			Why: "NGINX sidecars run OpenSSL, which rejects RSA keys shorter than 2048 bits and SHA-1 or MD5 " +
				"signatures anywhere in the chain, and Go's verifier refuses SHA-1 signatures too.",
			Needs: need, Subject: meshCASubject, Evaluate: evalMeshWeak, Fix: fixMeshReissue,
		},
	}
}

// meshCA is the upstream CA material SPIRE will use, from the upstream authority
// configuration (or the Helm values' PEM texts when no configuration file is given).
type meshCA struct {
	cert, key, bundle *mesh.CAFile
	// path is the upstream CA certificate and the certificates above it that were found,
	// in order up to the root.
	path []*x509.Certificate
	// root is set when path ends at a self-signed certificate.
	root bool
}

// meshCAOf picks the CA files SPIRE would get and walks the chain above the upstream CA.
func meshCAOf(f *Facts) *meshCA {
	ca := &meshCA{}
	fromConf := func(cf *mesh.CAFile) bool { return f.Mesh.Upstream != nil && cf.Source == f.Mesh.Upstream.Path }
	for _, confFirst := range []bool{true, false} {
		for i := range f.Mesh.CAFiles {
			cf := &f.Mesh.CAFiles[i]
			if fromConf(cf) != confFirst {
				continue
			}
			switch {
			case cf.Role == mesh.RoleUpstreamCert && ca.cert == nil:
				ca.cert = cf
			case cf.Role == mesh.RoleUpstreamKey && ca.key == nil:
				ca.key = cf
			case cf.Role == mesh.RoleBundle && ca.bundle == nil:
				ca.bundle = cf
			}
		}
	}
	leaf := ca.upstreamCert()
	if leaf == nil {
		return ca
	}
	inter, root, _ := chainWalk(leaf, ca.bundleCerts(), ca.cert.File.Certs[1:])
	ca.path = append([]*x509.Certificate{leaf}, inter...)
	switch {
	case root != nil:
		ca.path, ca.root = append(ca.path, root), true
	case selfSigned(leaf):
		ca.root = true
	}
	return ca
}

func (ca *meshCA) upstreamCert() *x509.Certificate {
	if ca.cert == nil || ca.cert.File == nil || len(ca.cert.File.Certs) == 0 {
		return nil
	}
	return ca.cert.File.Certs[0]
}

func (ca *meshCA) bundleCerts() []*x509.Certificate {
	if ca.bundle == nil || ca.bundle.File == nil {
		return nil
	}
	return ca.bundle.File.Certs
}

// certsToJudge are the certificates the validity and strength checks judge: the path from the
// upstream CA to its root, or without an upstream certificate (aws_pca) the bundle.
func (ca *meshCA) certsToJudge() []*x509.Certificate {
	if len(ca.path) > 0 {
		return ca.path
	}
	return ca.bundleCerts()
}

// label names a certificate of the chain with the setting it came from.
func (ca *meshCA) label(c *x509.Certificate) string {
	switch {
	case c == ca.upstreamCert():
		return "upstream CA " + certName(c) + " (" + caFileWhere(ca.cert) + ")"
	case ca.bundle != nil && slices.Contains(ca.bundle.File.Certs, c):
		return certName(c) + " (" + caFileWhere(ca.bundle) + ")"
	}
	return certName(c) + " (" + caFileWhere(ca.cert) + ")"
}

// caFileWhere says which setting names a CA file and where it resolved to.
func caFileWhere(cf *mesh.CAFile) string {
	if cf == nil {
		return "not configured"
	}
	s := meshWhere(cf.Source, cf.Line, cf.Column) + " " + cf.Key
	if cf.Written != "" && cf.File != nil && cf.File.Path != cf.Written {
		s += " → " + cf.File.Path
	}
	return s
}

func noMeshCA(f *Facts, ca *meshCA) (Result, bool) {
	if len(ca.certsToJudge()) > 0 {
		return Result{}, false
	}
	switch {
	case len(f.Mesh.CAFiles) == 0 && f.Mesh.Upstream == nil:
		return Skip("skipped: no upstream CA given (--upstream-ca-conf, or PEM text in --values)"), true
	case ca.cert == nil && ca.bundle == nil:
		return Skip("skipped: the upstream authority keeps its CA elsewhere (no certificate or bundle file named)"), true
	}
	return Skip("skipped: no certificate could be read from the upstream CA files (see mesh-ca-file-format)"), true
}

// pemKeyTypes are the key blocks SPIRE's pemutil.LoadPrivateKey takes.
var pemKeyTypes = []string{"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}

// caFileProblems says what nginx-meshctl (readCertFiles/isPem) or SPIRE (pemutil) refuse
// in one CA file.
func caFileProblems(cf *mesh.CAFile, dir string) []string {
	ff := cf.File
	switch {
	case ff == nil:
		return nil
	case !ff.Exists:
		return []string{fmt.Sprintf("no such file (a relative path resolves against %s, where nginx-meshctl runs)", dir)}
	case ff.ReadError != "":
		return []string{"cannot be read: " + ff.ReadError}
	case ff.Encoding == "der":
		return []string{"DER, not PEM: nginx-meshctl refuses it (\"not pem encoded\")"}
	case len(ff.Blocks) == 0:
		return []string{"holds no PEM block: nginx-meshctl refuses it (\"not pem encoded\")"}
	}
	var out []string
	isKey := cf.Role == mesh.RoleUpstreamKey || cf.Role == mesh.RoleClientKey
	var types []string
	for _, b := range ff.Blocks {
		types = append(types, fmt.Sprintf("%s (line %d)", b.Type, b.Line))
	}
	if cf.Role != mesh.RoleBundle && len(ff.Blocks) > 1 {
		msg := fmt.Sprintf("holds %d PEM blocks, %s; nginx-meshctl takes one (\"chain not allowed\")", len(ff.Blocks), strings.Join(types, ", "))
		if slices.ContainsFunc(ff.Blocks, func(b probes.PEMBlock) bool { return b.Type == "EC PARAMETERS" }) {
			msg += "; `openssl ecparam -genkey` writes EC PARAMETERS before the key: keep only the key"
		} else if cf.Role == mesh.RoleUpstreamCert {
			msg += "; put the certificates above the upstream CA in bundle_file_path"
		}
		out = append(out, msg)
	}
	for _, b := range ff.Blocks {
		switch {
		case isKey && b.Encrypted:
			out = append(out, fmt.Sprintf("line %d: the key is encrypted; SPIRE has no passphrase setting", b.Line))
		case isKey && b.Type != "EC PARAMETERS" && !slices.Contains(pemKeyTypes, b.Type):
			out = append(out, fmt.Sprintf("line %d: a %s block where SPIRE expects %s", b.Line, b.Type, strings.Join(pemKeyTypes, ", ")))
		case !isKey && b.Type != "CERTIFICATE":
			out = append(out, fmt.Sprintf("line %d: a %s block where SPIRE expects CERTIFICATE", b.Line, b.Type))
		}
	}
	if ff.ParseError != "" && !slices.ContainsFunc(ff.Blocks, func(b probes.PEMBlock) bool { return b.Encrypted }) {
		for _, line := range strings.Split(ff.ParseError, "\n") {
			out = append(out, line)
		}
	}
	if isKey && ff.Key == nil && len(out) == 0 {
		out = append(out, "holds no private key")
	}
	if !isKey && len(ff.Certs) == 0 && len(out) == 0 {
		out = append(out, "holds no certificate")
	}
	return out
}

func evalMeshFileFormat(f *Facts) Result {
	if len(f.Mesh.CAFiles) == 0 {
		if r, skip := noUpstreamConf(f); skip {
			return r
		}
		return Skip("skipped: the upstream authority configuration names no certificate or key file")
	}
	var ev []Evidence
	var first string
	for _, cf := range f.Mesh.CAFiles {
		for _, p := range caFileProblems(&cf, f.Mesh.Dir) {
			if first == "" {
				first = cf.Key + ": " + p
			}
			ev = append(ev, Note(caFileWhere(&cf), "%s", p))
		}
	}
	if len(ev) > 0 {
		return Fail("%s", first).Because(CauseFileFormat).With(ev...)
	}
	var names []string
	for _, cf := range f.Mesh.CAFiles {
		names = append(names, cf.Key)
	}
	return OK("%s read as nginx-meshctl and SPIRE read them", joinNames(names, 4))
}

func evalMeshKeyMismatch(f *Facts) Result {
	ca := meshCAOf(f)
	leaf := ca.upstreamCert()
	switch {
	case leaf == nil:
		if r, skip := noMeshCA(f, ca); skip {
			return r
		}
		return Skip("skipped: no upstream CA certificate")
	case ca.key == nil:
		return Skip("skipped: no upstream CA key file is named")
	case ca.key.File == nil || ca.key.File.Key == nil:
		return Skip("skipped: the key could not be read (see mesh-ca-file-format)")
	}
	if !publicKeysEqual(leaf.PublicKey, ca.key.File.Key.Public) {
		return Fail("the key in %s does not belong to %s: SPIRE refuses to start (\"certificate and private key do not match\")",
			ca.key.Key, certName(leaf)).Because(CauseKeyMismatch).With(
			Note(caFileWhere(ca.cert), "certificate %s, %s key", certName(leaf), KeyDescription(leaf.PublicKey)),
			Note(caFileWhere(ca.key), "%s %s key", ca.key.File.Key.Encoding, KeyDescription(ca.key.File.Key.Public)))
	}
	return OK("the key matches %s", certName(leaf))
}

func evalMeshNotCA(f *Facts) Result {
	ca := meshCAOf(f)
	if r, skip := noMeshCA(f, ca); skip {
		return r
	}
	var ev []Evidence
	for i, c := range ca.certsToJudge() {
		for _, p := range caProblems(c, i == 0 && len(ca.path) > 0, ca.bundle != nil) {
			ev = append(ev, Note("", "%s: %s", ca.label(c), p))
		}
	}
	if len(ev) > 0 {
		return Fail("%s", ev[0].Text).Because(CauseNotCA).With(ev...)
	}
	return OK("%s fit to sign SPIRE's CA", Plural(len(ca.certsToJudge()), "CA certificate")+" are")
}

// caProblems lists what keeps c from being a CA in the mesh's chain. upstream marks the
// certificate SPIRE signs with, which is in every SVID chain when a bundle is used.
func caProblems(c *x509.Certificate, upstream, bundled bool) []string {
	var out []string
	if !c.BasicConstraintsValid || !c.IsCA {
		out = append(out, "not a CA (basicConstraints CA:TRUE is missing)")
	}
	inChain := upstream && (bundled || !selfSigned(c))
	switch {
	case c.KeyUsage == 0 && inChain:
		out = append(out, "no keyUsage extension: go-spiffe refuses a signing certificate without keyCertSign")
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		out = append(out, "keyUsage without keyCertSign: it may not sign certificates")
	}
	var missing []string
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !EKUAllows(c, u) {
			missing = append(missing, ekuNames[u])
		}
	}
	if len(missing) > 0 {
		out = append(out, fmt.Sprintf("extendedKeyUsage %s does not allow %s, which SVIDs are issued for", ekuList(c), strings.Join(missing, " or ")))
	}
	return out
}

// chainEvidence shows the chain SPIRE builds, top-down from the SVID, as the
// Certificates screen lists a chain.
func (ca *meshCA) chainEvidence(now time.Time, th Thresholds) Evidence {
	lines := []string{"SVID spiffe://<trust domain>/ns/<namespace>/sa/<service account>", "  SPIRE CA (signed by the upstream CA)"}
	for i, c := range ca.path {
		_, life := CertExpiry(c, now, th)
		if life == "" {
			life = leftText(c, now)
		}
		role := "above it"
		switch {
		case i == 0:
			role = "upstream CA"
		case selfSigned(c):
			role = "root"
		}
		lines = append(lines, fmt.Sprintf("%s%s %s: %s, %s, %s", strings.Repeat("  ", i+2), role, certName(c),
			pathlenText(c), KeyDescription(c.PublicKey), life))
	}
	if !ca.root {
		lines = append(lines, strings.Repeat("  ", len(ca.path)+2)+"(no self-signed root found)")
	}
	return Quoted("", "the chain SPIRE builds", lines...)
}

func evalMeshPathlen(f *Facts) Result {
	ca := meshCAOf(f)
	if len(ca.path) == 0 {
		if r, skip := noMeshCA(f, ca); skip {
			return r
		}
		return Skip("skipped: no upstream CA certificate (the authority signs SPIRE's CA itself)")
	}
	chain := ca.chainEvidence(f.Now, f.Thresholds)
	short := pathlenShort(ca.path)
	var ev []Evidence
	for _, i := range short {
		c := ca.path[i]
		ev = append(ev, Note("", "%s has %s, but the chain puts %s below it (SPIRE's CA%s): it needs pathlen:%d or none",
			ca.label(c), pathlenText(c), Plural(i+1, "CA"), strings.Repeat(" and one more", min(i, 1)), i+1))
	}
	if !ca.root {
		// Without a root there is no chain to verify; the numbers alone are judged.
		if len(ev) > 0 {
			return Fail("%s", ev[0].Text).Because(CausePathLength).With(append(ev, chain)...)
		}
		return Skip("skipped: the chain does not reach a root (see mesh-ca-bundle-incomplete); the pathlen values known are fine").With(chain)
	}
	v, err := verifySPIREChain(ca.path, meshTrustDomain(f), f.Now)
	switch {
	case err != nil:
		return Skip("skipped: could not rebuild the chain: %v", err).With(chain)
	case v.err == nil && len(ev) == 0:
		return OK("SVID → SPIRE CA → %s verifies; every pathlen leaves room for SPIRE's CA", joinNames(chainNames(ca.path), 4)).With(chain)
	case v.err == nil:
		// Cannot happen: Go's verifier enforces pathlen. Trust the numbers and say so.
		return Fail("%s", ev[0].Text).Because(CausePathLength).With(append(ev, chain)...)
	}
	text := v.err.Error()
	if v.culprit != nil {
		text = ca.label(v.culprit) + ": " + text
	}
	if len(ev) == 0 {
		ev = append(ev, Note("", "Go's verifier: %s", text))
	}
	return Fail("the chain SPIRE builds does not verify: %s", text).Because(CauseUntrusted).With(append(ev, chain)...)
}

func chainNames(path []*x509.Certificate) []string {
	var out []string
	for _, c := range path {
		out = append(out, certName(c))
	}
	return out
}

// meshTrustDomain is the mesh's trust domain from the settings, else the chart default.
func meshTrustDomain(f *Facts) string {
	if s := meshSettingsOf(f).get("trustDomain"); s.value != "" && !s.invalid {
		return s.value
	}
	return meshDefaultTrustDomain
}

func evalMeshBundle(f *Facts) Result {
	ca := meshCAOf(f)
	leaf := ca.upstreamCert()
	if leaf == nil {
		if r, skip := noMeshCA(f, ca); skip {
			return r
		}
		return Skip("skipped: no upstream CA certificate to chain")
	}
	chain := ca.chainEvidence(f.Now, f.Thresholds)
	if ca.bundle == nil {
		if selfSigned(leaf) && len(ca.cert.File.Certs) == 1 {
			return OK("%s is self-signed and is its own trust bundle", certName(leaf))
		}
		return Fail("%s is not self-signed and no bundle_file_path is set: SPIRE's disk plugin accepts only a self-signed CA then "+
			"(\"certificate cannot be validated with the provided bundle or is not self-signed\")", certName(leaf)).Because(CauseNoBundle).
			With(Note(caFileWhere(ca.cert), "issued by %s", dn(leaf.RawIssuer)), chain)
	}
	bundle := ca.bundleCerts()
	if len(bundle) == 0 {
		return Skip("skipped: the bundle holds no certificate (see mesh-ca-file-format)")
	}
	// Go (SPIRE) does not check SHA-1 or MD5 signatures at all, so such a chain never
	// verifies; that is mesh-ca-weak's finding, not a missing certificate.
	if c := slices.IndexFunc(append(slices.Clone(ca.cert.File.Certs), bundle...), weakSignature); c >= 0 {
		return Skip("skipped: a certificate is signed with SHA-1 or MD5, which SPIRE's verifier refuses (see mesh-ca-weak)")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range bundle {
		roots.AddCert(c)
	}
	for _, c := range ca.cert.File.Certs {
		inter.AddCert(c)
	}
	// disk.go: caCert.Verify with the cert file as intermediates and the bundle as roots.
	// The time is one the chain is valid at and any usage is allowed: expiry and EKU are
	// other checks' findings.
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: trustTime(ca.path, f.Now),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var bundled []string
	for _, c := range bundle {
		bundled = append(bundled, certName(c))
	}
	bundleNote := Note(caFileWhere(ca.bundle), "the bundle holds %s", joinNames(bundled, 5))
	switch {
	case err != nil:
		return Fail("%s does not verify against the bundle: SPIRE's disk plugin refuses it (%s)", certName(leaf),
			verifyErrText(err)).Because(CauseUntrusted).With(Note(caFileWhere(ca.cert), "issued by %s", dn(leaf.RawIssuer)), bundleNote, chain)
	case !ca.root:
		top := ca.path[len(ca.path)-1]
		return Fail("the bundle ends at %s, which is not self-signed: NGINX sidecars (OpenSSL) cannot reach a root", certName(top)).Because(CauseNoRoot).
			With(Note("", "%s is issued by %s, which is not in the bundle", certName(top), dn(top.RawIssuer)), bundleNote, chain)
	}
	return OK("the bundle chains %s to the root %s", certName(leaf), certName(ca.path[len(ca.path)-1])).With(chain)
}

// meshLife judges each certificate of the chain with judge, collecting evidence; a
// problem carries cause.
func meshLife(f *Facts, cause string, judge func(c *x509.Certificate) (Severity, string)) Result {
	ca := meshCAOf(f)
	if r, skip := noMeshCA(f, ca); skip {
		return r
	}
	worst, first := SeverityOK, ""
	var ev []Evidence
	for _, c := range ca.certsToJudge() {
		sev, text := judge(c)
		if sev < SeverityWarn {
			continue
		}
		if sev > worst {
			worst = sev
		}
		if first == "" {
			first = ca.label(c) + " " + text
		}
		ev = append(ev, Note("", "%s: %s", ca.label(c), text))
	}
	if worst == SeverityOK {
		return Result{Severity: SeverityOK}
	}
	return Result{Severity: worst, Summary: first}.Because(cause).With(ev...)
}

func evalMeshExpired(f *Facts) Result {
	r := meshLife(f, CauseExpired, func(c *x509.Certificate) (Severity, string) {
		if lifeOf(c, f.Now) == lifeExpired {
			return SeverityFail, fmt.Sprintf("expired %s", stamp(c.NotAfter))
		}
		return SeverityOK, ""
	})
	if r.Severity == SeverityOK {
		return OK("no certificate of the upstream CA chain has expired")
	}
	return r
}

func evalMeshNotYetValid(f *Facts) Result {
	r := meshLife(f, CauseNotYetValid, func(c *x509.Certificate) (Severity, string) {
		if lifeOf(c, f.Now) == lifeNotYet {
			return SeverityFail, fmt.Sprintf("is not valid until %s", stamp(c.NotBefore))
		}
		return SeverityOK, ""
	})
	if r.Severity == SeverityOK {
		return OK("every certificate of the upstream CA chain is already valid")
	}
	return r
}

// evalMeshExpiring warns (never fails: the contract for this ID) on a CA inside
// --warn-days or --warn-percent of its lifetime.
func evalMeshExpiring(f *Facts) Result {
	r := meshLife(f, CauseExpiring, func(c *x509.Certificate) (Severity, string) {
		sev, text := expiry(c, f.Now, f.Thresholds)
		if sev >= SeverityWarn {
			return SeverityWarn, text
		}
		return SeverityOK, ""
	})
	if r.Severity == SeverityOK {
		if r.Summary == "" && len(r.Evidence) == 0 {
			ca := meshCAOf(f)
			if skip, ok := noMeshCA(f, ca); ok {
				return skip
			}
			soonest := ca.certsToJudge()[0]
			for _, c := range ca.certsToJudge() {
				if c.NotAfter.Before(soonest.NotAfter) {
					soonest = c
				}
			}
			return OK("the first to expire is %s: %s", certName(soonest), leftText(soonest, f.Now))
		}
	}
	return r
}

func evalMeshWeak(f *Facts) Result {
	ca := meshCAOf(f)
	if r, skip := noMeshCA(f, ca); skip {
		return r
	}
	var ev []Evidence
	for _, c := range ca.certsToJudge() {
		for _, w := range CertWeaknesses(c) {
			ev = append(ev, Note("", "%s", w))
		}
	}
	if len(ev) > 0 {
		return Fail("%s", ev[0].Text).Because(CauseWeakKey).With(ev...)
	}
	return OK("every key is 2048-bit RSA or stronger, no SHA-1 or MD5 signature")
}
