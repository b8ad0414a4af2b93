package diagnostics

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// The mesh's playbooks run where the cluster is administered (HostCluster). A step that
// changes the mesh changes the file it was judged from first — the upstream authority
// configuration and its CA files, the Helm values, the MeshConfig resource, the manifest —
// after a backup, then hands it to the cluster (kubectl apply after a server-side dry
// run, helm upgrade after --dry-run, nginx-meshctl deploy), so the file and the cluster
// agree and a re-check of the same files shows the fix.

// Where the mesh's Helm chart is published (NGINX Service Mesh docs, "Deploy with Helm").
const meshChart = "nginx-stable/nginx-service-mesh"

// withMesh returns f with empty mesh facts when it has none (`mtls-doctor explain`), so
// playbooks can be written with placeholders.
func withMesh(f *Facts) *Facts {
	if f != nil && f.Mesh != nil {
		return f
	}
	c := &Facts{Mesh: &mesh.Facts{}}
	if f != nil {
		c.Now, c.Thresholds = f.Now, f.Thresholds
	}
	return c
}

// caFilePath is the path a CA file was read from, or the placeholder.
func caFilePath(cf *mesh.CAFile, placeholder string) string {
	if cf != nil && cf.File != nil && cf.Written != "" {
		return cf.File.Path
	}
	return placeholder
}

// upstreamConfName is the upstream authority configuration's path, or the placeholder.
func upstreamConfName(f *Facts) string {
	if f.Mesh != nil && f.Mesh.Upstream != nil {
		return f.Mesh.Upstream.Path
	}
	return "<upstream-ca-conf>"
}

// redeploy appends to st the commands that hand the changed files to SPIRE: nginx-meshctl
// reads the upstream CA files only when it deploys, so the mesh is removed and deployed
// again with the same mode
// (https://docs.nginx.com/nginx-service-mesh/get-started/uninstall/uninstall: remove -y
// skips the prompt).
func redeploy(f *Facts, st Step) Step {
	mode := "<mtls-mode>"
	if s := meshSettingsOf(f); s.have && !s.get("mtls.mode").invalid {
		mode = s.get("mtls.mode").value
	}
	st.Why += " nginx-meshctl reads the upstream CA files only when it deploys, so the step redeploys the mesh: mTLS " +
		"stops until the deploy is done and the workloads are restarted; plan a maintenance window."
	st.Commands = append(st.Commands, "nginx-meshctl remove -y",
		"nginx-meshctl deploy --mtls-mode "+shellQuote(mode)+" --mtls-upstream-ca-conf "+shellQuote(upstreamConfName(f)))
	return st
}

// confEdit is a step that edits the upstream authority configuration with y.
func confEdit(f *Facts, title, why string, y *yamlEdit, verify ...string) Step {
	conf := upstreamConfName(f)
	return redeploy(f, Step{Title: title, Why: why, File: conf, Diff: y.diff.String(),
		Commands: editFileCommands(conf, y), Changes: []string{conf, conf + ".bak"}, Verify: verify, Host: HostCluster})
}

// manualConf says why the upstream authority configuration cannot be edited as shown.
func manualConf(f *Facts) string {
	if f.Mesh.Upstream == nil {
		return "the upstream authority configuration was not given (--upstream-ca-conf), so there is no file to edit"
	}
	return "the configuration is not block-style YAML a line edit can extend"
}

// confSetting is the entry of the upstream authority configuration that names cf.
func confSetting(f *Facts, cf *mesh.CAFile) (*probes.Entry, int) {
	if cf == nil || f.Mesh.Upstream == nil || cf.Source != f.Mesh.Upstream.Path {
		return nil, 0
	}
	doc := firstDoc(f.Mesh.Upstream)
	path := strings.Split(cf.Key, ".")
	parent := doc.Lookup(path[:len(path)-1]...)
	if parent == nil {
		return nil, 0
	}
	return doc.Lookup(path...), parent.Line
}

// repointStep points the setting that names cf at placeholder, the file the user has.
func repointStep(f *Facts, cf *mesh.CAFile, placeholder, title, why string, verify ...string) (Step, bool) {
	e, parentLine := confSetting(f, cf)
	var y yamlEdit
	if e == nil || !y.set(firstDoc(f.Mesh.Upstream), strings.Split(cf.Key, "."), placeholder) {
		_ = parentLine
		return Step{}, false
	}
	return confEdit(f, title, why, &y, verify...), true
}

func fixMeshFileFormat(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "<mesh-ca-cert-path>")
	key := caFilePath(ca.key, "<mesh-ca-key-path>")
	// Without files (explain) every step is shown; otherwise only those for what is wrong.
	all := len(f.Mesh.CAFiles) == 0
	wrong := func(cf *mesh.CAFile, test func(*mesh.CAFile) bool) bool {
		return all || cf != nil && cf.File != nil && cf.File.Exists && len(caFileProblems(cf, f.Mesh.Dir)) > 0 && test(cf)
	}
	var steps []Step
	if wrong(ca.cert, func(cf *mesh.CAFile) bool { return len(cf.File.Blocks) > 1 && cf.File.Encoding != "der" }) {
		st := Step{
			Title: "Keep the upstream CA alone in the certificate file",
			Why: "nginx-meshctl refuses a chain in cert_file_path. The first certificate is the upstream CA; the ones " +
				"after it belong in bundle_file_path, up to the root.",
			Commands: []string{
				localBackupCommand(cert),
				"openssl x509 -in " + shellQuote(cert+".bak") + " -out " + shellQuote(cert),
			},
			Changes: []string{cert + ".bak", cert},
			Verify:  []string{"mesh-ca-file-format", "mesh-ca-bundle-incomplete"},
		}
		// The rest of the chain goes to the bundle the configuration names (or, without
		// files, the user's); with no bundle configured mesh-ca-bundle-incomplete names one.
		if bundle := caFilePath(ca.bundle, "<mesh-bundle-path>"); all || ca.bundle != nil && ca.bundle.Written != "" {
			st.Title += " and move the rest to the bundle"
			st.Commands = append(st.Commands, ifExists(bundle, localBackupCommand(bundle)),
				"awk 'n {print} /-----END CERTIFICATE-----/ {n=1}' "+shellQuote(cert+".bak")+" >> "+shellQuote(bundle))
			st.Changes = append(st.Changes, bundle+".bak", bundle)
		}
		steps = append(steps, redeploy(f, st))
	}
	if wrong(ca.key, func(cf *mesh.CAFile) bool { return cf.File.Encoding == "pem" }) {
		st := Step{
			Title: "Write the key as one unencrypted PEM block",
			Why: "openssl pkey writes the key alone (without the EC PARAMETERS block `openssl ecparam -genkey` adds); " +
				"SPIRE has no passphrase setting. The file stays readable only by you.",
			Commands: []string{
				localBackupCommand(key),
				"(umask 077 && openssl pkey -in " + shellQuote(key+".bak") + " -out " + shellQuote(key) + ")",
			},
			Changes: []string{key + ".bak", key},
			Verify:  []string{"mesh-ca-file-format", "mesh-ca-key-mismatch"},
		}
		if ca.key != nil && ca.key.File != nil && encryptedKey(ca.key.File) {
			st.Commands[1] = "(umask 077 && openssl pkey -in " + shellQuote(key+".bak") + " -passin 'file:<key-passphrase-file>' -out " + shellQuote(key) + ")"
		}
		steps = append(steps, redeploy(f, st))
	}
	if wrong(ca.cert, func(cf *mesh.CAFile) bool { return cf.File.Encoding == "der" }) {
		steps = append(steps, redeploy(f, Step{
			Title: "Convert the DER certificate to PEM",
			Why:   "nginx-meshctl reads PEM only (\"not pem encoded\"). The DER file is kept beside it.",
			Commands: []string{
				"cp -p " + shellQuote(cert) + " " + shellQuote(cert+".der"),
				"openssl x509 -inform DER -in " + shellQuote(cert+".der") + " -out " + shellQuote(cert),
			},
			Changes: []string{cert + ".der", cert},
			Verify:  []string{"mesh-ca-file-format"},
		}))
	}
	// A setting naming a file that is not there: point it at the file the user has.
	for _, m := range []struct {
		cf          *mesh.CAFile
		placeholder string
	}{{ca.cert, "<mesh-ca-cert-path>"}, {ca.key, "<mesh-ca-key-path>"}, {ca.bundle, "<root-cert-path>"}} {
		if m.cf == nil || m.cf.File == nil || m.cf.File.Exists {
			continue
		}
		if st, ok := repointStep(f, m.cf, m.placeholder, "Point "+m.cf.Key+" at the file that holds it",
			"The file named is not there (a relative path resolves against the directory nginx-meshctl runs in); "+
				"an absolute path does not depend on it.", "mesh-ca-file-format"); ok {
			steps = append(steps, st)
		}
	}
	if len(steps) == 0 {
		steps = append(steps, Step{
			Title: "Point each setting at a readable PEM file",
			Why: "A relative path resolves against the directory nginx-meshctl runs in; the evidence names the " +
				"path that was tried. Bundles hold CERTIFICATE blocks only.",
			Commands: []string{"ls -l " + shellQuote(cert) + " " + shellQuote(key)},
			Manual:   "which file holds the certificate or key is yours to say; the evidence names what is wrong",
			Verify:   []string{"mesh-ca-file-format"},
		})
	}
	return on(HostCluster, steps...)
}

// encryptedKey reports whether a key file holds an encrypted PEM block.
func encryptedKey(ff *probes.FileFacts) bool {
	for _, b := range ff.Blocks {
		if b.Encrypted {
			return true
		}
	}
	return false
}

func fixMeshKeyMismatch(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "<mesh-ca-cert-path>")
	key := caFilePath(ca.key, "<mesh-ca-key-path>")
	steps := []Step{{
		Title: "Compare the public keys of the upstream CA certificate and the key file",
		Why: "The two digests must be equal. The key that belongs to the certificate was written when the CA was " +
			"created; find the file whose digest matches the certificate's.",
		Commands: []string{
			"openssl x509 -in " + shellQuote(cert) + " -noout -pubkey | openssl sha256",
			"openssl pkey -in " + shellQuote(key) + " -pubout | openssl sha256",
		},
		Verify: []string{"mesh-ca-key-mismatch"},
	}}
	if st, ok := repointStep(f, ca.key, "<mesh-ca-key-path>", "Point key_file_path at the key of the upstream CA certificate",
		"SPIRE refuses to start with a key that is not the certificate's.", "mesh-ca-key-mismatch"); ok {
		steps = append(steps, st)
	}
	return on(HostCluster, steps...)
}

// fixMeshReissue issues the upstream CA again from the same issuer, keeping its subject,
// names, key (or key type) and lifetime, with the extensions SPIRE's chain needs. When the
// root itself is at fault it says a new root is needed.
func fixMeshReissue(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	if root := rootFault(ca, f); root != nil {
		if st, ok := renewRootStep(f, ca, root); ok {
			return []Step{st}
		}
		return []Step{{
			Title: "Replace the root " + certName(root),
			Why: "The root itself is expired, weak, not a CA, or has a pathlen below 2; no upstream CA it signs can fix " +
				"that. A new root (pathlen unset or at least 2) signs a new upstream CA and goes in the bundle.",
			Manual: "a new root changes the mesh's trust: every workload needs new SVIDs, so the mesh is redeployed and " +
				"every workload restarted; the root's key and its policy are yours",
			Verify: []string{"mesh-ca-pathlen", "mesh-ca-bundle-incomplete", "mesh-ca-expired", "mesh-ca-weak"},
			Host:   HostCluster,
		}}
	}
	if ca.cert != nil && ca.cert.Written == "" {
		return []Step{{
			Title: "Issue the upstream CA again and paste it into the Helm values",
			Why: "The upstream CA is PEM text in " + ca.cert.Source + " (" + ca.cert.Key + "): issue it again from the same " +
				"root with CA:TRUE, keyCertSign and pathlen:1, replace the text, and upgrade the release.",
			Manual: "the certificate is PEM text inside the Helm values, which a line edit cannot replace",
			Verify: []string{"mesh-ca-pathlen", "mesh-ca-not-a-ca", "mesh-ca-weak", "mesh-ca-expired", "mesh-ca-expiring"},
			Host:   HostCluster,
		}}
	}
	leaf := ca.upstreamCert()
	cert := caFilePath(ca.cert, "<mesh-ca-cert-path>")
	key := caFilePath(ca.key, "<mesh-ca-key-path>")
	stem := strings.TrimSuffix(cert, ".crt")
	if stem == cert {
		stem = strings.TrimSuffix(cert, ".pem")
	}
	csr, ext, srl, next := stem+".csr", stem+".ext", stem+".srl", cert+".new"
	// The key stays when it is the certificate's and strong enough; else a new key of
	// the same type replaces it.
	keepKey := leaf != nil && ca.key != nil && ca.key.File != nil && ca.key.File.Key != nil &&
		publicKeysEqual(leaf.PublicKey, ca.key.File.Key.Public) && len(CertWeaknesses(keyOnly(leaf))) == 0 && !encryptedKey(ca.key.File)
	signKey := key
	var cmds, changes []string
	if !keepKey {
		signKey = key + ".new"
		cmds = append(cmds, "(umask 077 && openssl genpkey "+genpkeyArgs(leaf)+" -out "+shellQuote(signKey)+")")
		changes = append(changes, signKey)
	}
	subject := "/CN=<mesh-ca-name>"
	days := 365
	if leaf != nil {
		r := reissuance{leaf: leaf}
		subject = r.subject()
		days = max(int(leaf.NotAfter.Sub(leaf.NotBefore).Hours()/24+0.5), 1)
	}
	extLines := meshCAExtensions(leaf)
	selfIssued := leaf != nil && selfSigned(leaf) && ca.bundle == nil
	if selfIssued {
		// The upstream CA is its own root: sign it again with its own key.
		c := "openssl req -x509 -new -key " + shellQuote(signKey) + " -subj " + shellQuote(subject) + " -days " + fmt.Sprint(days) + " -sha256"
		for _, l := range extLines {
			c += " -addext " + shellQuote(l)
		}
		cmds = append(cmds, c+" -out "+shellQuote(next))
		changes = append(changes, next)
	} else {
		issuer := "<root-cert-path>"
		if ca.bundle != nil && ca.bundle.Written != "" && len(ca.path) > 1 && len(ca.bundleCerts()) == 1 && ca.bundleCerts()[0] == ca.path[1] {
			issuer = ca.bundle.File.Path
		}
		cmds = append(cmds,
			"openssl req -new -key "+shellQuote(signKey)+" -subj "+shellQuote(subject)+" -out "+shellQuote(csr),
			"printf '%s\\n' "+quoteAll(extLines)+" > "+shellQuote(ext),
			"openssl x509 -req -in "+shellQuote(csr)+" -CA "+shellQuote(issuer)+" -CAkey '<root-key-path>' -CAserial "+
				shellQuote(srl)+" -CAcreateserial -days "+fmt.Sprint(days)+" -sha256 -extfile "+shellQuote(ext)+" -out "+shellQuote(next),
			"openssl verify -CAfile "+shellQuote(issuer)+" "+shellQuote(next),
		)
		changes = append(changes, csr, ext, srl, next)
	}
	cmds = append(cmds, localBackupCommand(cert), "cp "+shellQuote(next)+" "+shellQuote(cert))
	changes = append(changes, cert+".bak", cert)
	if !keepKey {
		cmds = append(cmds, ifExists(key, localBackupCommand(key)),
			"(umask 077 && cp "+shellQuote(signKey)+" "+shellQuote(key)+")")
		changes = append(changes, key+".bak", key)
	}
	cmds = append(cmds, "openssl x509 -in "+shellQuote(cert)+" -noout -subject -dates -ext basicConstraints,keyUsage")
	keeps := "It keeps the subject, the names and the lifetime of the current certificate"
	switch {
	case leaf == nil:
		keeps = "The current certificate could not be read, so its name is yours to fill in"
	case keepKey:
		keeps += ", and its key"
	default:
		keeps += "; a new key of the same type replaces one that is weak or not the certificate's"
	}
	why := "pathlen:1 leaves room for SPIRE's own CA below it; keyCertSign lets it sign; no extendedKeyUsage keeps " +
		"serverAuth and clientAuth open. Signing with the same issuer keeps the mesh's trust bundle, so running " +
		"workloads keep trusting each other. " + keeps + "."
	if !selfIssued {
		why += " The issuer's key is needed where the request is signed."
	}
	steps := []Step{{
		Title:    "Issue the upstream CA again with CA:TRUE, keyCertSign and pathlen:1",
		Why:      why,
		File:     cert,
		Commands: cmds,
		Changes:  changes,
		Verify:   []string{"mesh-ca-pathlen", "mesh-ca-not-a-ca", "mesh-ca-weak", "mesh-ca-expired", "mesh-ca-expiring", "mesh-ca-not-yet-valid"},
		Host:     HostCluster,
	}}
	steps[0] = redeploy(f, steps[0])
	return steps
}

// renewRootStep signs the bundle's root again with its own key when only its validity is
// wrong (expired, expiring, not yet valid): `openssl x509 -signkey` keeps the subject,
// the public key and the extensions (so the subject key identifier) and sets new dates and,
// here, a new serial (RFC 5280 4.1.2.2: unique per issuer). Every certificate the root's
// key signed — the upstream CA, SPIRE's CA, the SVIDs — verifies against the renewed root
// unchanged, so the mesh's trust stays. The disk upstream authority names the root's
// certificate (bundle_file_path) but never its key
// (https://github.com/spiffe/spire/blob/main/doc/plugin_server_upstreamauthority_disk.md),
// so the key is the user's to name unless it is key_file_path's. Where the root is not alone
// in a PEM bundle file a command can rewrite, the step is the same renewal, by hand. ok is
// false when more than the root's dates is wrong: a new root is needed.
func renewRootStep(f *Facts, ca *meshCA, root *x509.Certificate) (Step, bool) {
	if len(CertWeaknesses(root)) > 0 || len(caProblems(root, false, true)) > 0 ||
		(pathlenText(root) != "pathlen unset" && root.MaxPathLen < 2) {
		return Step{}, false
	}
	key := "<root-key-path>"
	if ca.key != nil && ca.key.File != nil && ca.key.File.Key != nil && publicKeysEqual(root.PublicKey, ca.key.File.Key.Public) {
		key = ca.key.File.Path
	}
	days := max(int(root.NotAfter.Sub(root.NotBefore).Hours()/24+0.5), 1)
	sign := " -signkey " + shellQuote(key) + " -days " + fmt.Sprint(days) + " -sha256 -set_serial \"0x$(openssl rand -hex 16)\""
	b := ca.bundle
	n, blocks := 0, 0
	if b != nil && b.File != nil {
		n = slices.Index(b.File.Certs, root) + 1
		for _, bl := range b.File.Blocks {
			if bl.Type == "CERTIFICATE" {
				blocks++
			}
		}
	}
	if ca.cert == nil || ca.cert.Written == "" || b == nil || b.Written == "" || b.File == nil || b.File.Encoding != "pem" ||
		b.File.ParseError != "" || n == 0 || blocks != len(b.File.Certs) {
		// The same renewal, by hand: the root is PEM text in the Helm values, or not in a
		// bundle file of certificates only that a command can rewrite.
		return Step{
			Title: "Renew the root " + certName(root) + " with its own key",
			Why: "Only the root's dates are wrong. Signed again with the same key, it keeps its subject, its key and its " +
				"extensions: the upstream CA and every SVID below it verify against the renewed root as they are.",
			Commands: []string{"openssl x509 -in '<root-cert-path>'" + sign + " -out '<root-cert-path>.new'",
				"openssl verify -no_check_time -CAfile '<root-cert-path>.new' " + shellQuote(caFilePath(ca.cert, "<mesh-ca-cert-path>"))},
			Manual: "the root is not alone in a PEM bundle file a command can rewrite (PEM text in the Helm values, or a " +
				"file with other blocks): put the renewed root where the old one is, then redeploy",
			Verify: []string{"mesh-ca-expired", "mesh-ca-expiring", "mesh-ca-not-yet-valid"},
			Host:   HostCluster,
		}, true
	}
	bundle, next := b.File.Path, b.File.Path+".new"
	// The n-th certificate block of the bundle, and the bundle without it.
	nth := fmt.Sprintf("'/-----BEGIN CERTIFICATE-----/ {n++} n == %d {print} /-----END CERTIFICATE-----/ && n == %d {exit}'", n, n)
	others := fmt.Sprintf("'/-----BEGIN CERTIFICATE-----/ {n++; skip = n == %d} !skip {print} /-----END CERTIFICATE-----/ {skip = 0}'", n)
	st := Step{
		Title: "Renew the root " + certName(root) + " with its own key",
		Why: "Only the root's dates are wrong. Signed again with the same key, it keeps its subject, its key, its " +
			"extensions and so its key identifier: the upstream CA and every SVID below it verify against the renewed " +
			"root as they are, so no workload needs a new certificate. The step checks that before it replaces the bundle " +
			"(openssl -signkey would put a wrong key's public half in the root). A new serial keeps serials unique.",
		File: bundle,
		Commands: []string{
			localBackupCommand(bundle),
			"awk " + others + " " + shellQuote(bundle+".bak") + " > " + shellQuote(next),
			"awk " + nth + " " + shellQuote(bundle+".bak") + " | openssl x509" + sign + " >> " + shellQuote(next),
			"openssl verify -no_check_time -CAfile " + shellQuote(next) + " " + shellQuote(ca.cert.File.Path),
			"cp " + shellQuote(next) + " " + shellQuote(bundle),
		},
		Changes: []string{bundle + ".bak", next, bundle},
		Verify:  []string{"mesh-ca-expired", "mesh-ca-expiring", "mesh-ca-not-yet-valid", "mesh-ca-bundle-incomplete"},
		Host:    HostCluster,
	}
	return redeploy(f, st), true
}

// keyOnly is c with only its public key, so CertWeaknesses judges the key and not the
// signature (a reissue fixes the signature anyway).
func keyOnly(c *x509.Certificate) *x509.Certificate {
	return &x509.Certificate{PublicKey: c.PublicKey, PublicKeyAlgorithm: c.PublicKeyAlgorithm, SignatureAlgorithm: x509.SHA256WithRSA}
}

// genpkeyArgs makes a key of c's type: the same curve, or RSA of its size and at least
// 2048 bits; P-256 when c is unknown.
func genpkeyArgs(c *x509.Certificate) string {
	if c != nil {
		switch k := c.PublicKey.(type) {
		case *rsa.PublicKey:
			return fmt.Sprintf("-algorithm RSA -pkeyopt rsa_keygen_bits:%d", max(k.N.BitLen(), 2048))
		case *ecdsa.PublicKey:
			if n := k.Curve.Params().Name; n == "P-384" || n == "P-521" {
				return "-algorithm EC -pkeyopt ec_paramgen_curve:" + n
			}
		case ed25519.PublicKey:
			return "-algorithm ED25519"
		}
	}
	return "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"
}

// meshCAExtensions are the upstream CA's extensions: CA with a pathlen that leaves room
// for SPIRE's CA (an unset one stays unset), keyCertSign, the names it has, and no EKU.
func meshCAExtensions(c *x509.Certificate) []string {
	bc := "basicConstraints=critical,CA:TRUE,pathlen:1"
	if c != nil && c.BasicConstraintsValid && pathlenText(c) == "pathlen unset" {
		bc = "basicConstraints=critical,CA:TRUE"
	} else if c != nil && c.BasicConstraintsValid && c.MaxPathLen > 1 {
		bc = fmt.Sprintf("basicConstraints=critical,CA:TRUE,pathlen:%d", c.MaxPathLen)
	}
	usage := "keyUsage=critical,keyCertSign,cRLSign"
	if c != nil && c.KeyUsage&x509.KeyUsageDigitalSignature != 0 {
		usage += ",digitalSignature"
	}
	lines := []string{bc, usage, "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always"}
	if c != nil {
		if san := (reissuance{leaf: c}).sans(); len(san) > 0 {
			lines = append(lines, "subjectAltName="+strings.Join(san, ","))
		}
	}
	return lines
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

// rootFault returns the self-signed root of the chain when a reissued intermediate
// cannot help: the root is expired, weak, not a CA, or its pathlen is below 2.
func rootFault(ca *meshCA, f *Facts) *x509.Certificate {
	if !ca.root || len(ca.path) < 2 {
		return nil
	}
	root := ca.path[len(ca.path)-1]
	th := f.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	sev, _ := CertExpiry(root, f.Now, th)
	if sev >= SeverityWarn || len(CertWeaknesses(root)) > 0 || len(caProblems(root, false, true)) > 0 ||
		(pathlenText(root) != "pathlen unset" && root.MaxPathLen < 2) {
		return root
	}
	return nil
}

func fixMeshBundle(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "<mesh-ca-cert-path>")
	var steps []Step
	if ca.bundle == nil {
		var y yamlEdit
		if doc := firstDoc(f.Mesh.Upstream); doc != nil && y.set(doc, []string{"config", "bundle_file_path"}, "<root-cert-path>") {
			steps = append(steps, confEdit(f, "Name the root in bundle_file_path",
				"Without bundle_file_path SPIRE accepts only a self-signed upstream CA; the bundle holds the upstream CA's "+
					"issuer, and so on up to a self-signed root.", &y, "mesh-ca-bundle-incomplete"))
		} else {
			steps = append(steps, Step{
				Title:  "Name the root in bundle_file_path",
				Why:    "Without bundle_file_path SPIRE accepts only a self-signed upstream CA.",
				File:   upstreamConfName(f),
				Diff:   " config:\n+  bundle_file_path: <root-cert-path>\n",
				Manual: manualConf(f),
				Verify: []string{"mesh-ca-bundle-incomplete"},
			})
		}
	} else {
		bundle := caFilePath(ca.bundle, "<mesh-bundle-path>")
		steps = append(steps, Step{
			Title: "Add the root (and any CA between it and the upstream CA) to the bundle",
			Why: "The bundle must hold the upstream CA's issuer, and so on up to a self-signed root; order does not " +
				"matter.",
			Commands: []string{
				localBackupCommand(bundle),
				"cat '<root-cert-path>' >> " + shellQuote(bundle),
				"openssl verify -CAfile " + shellQuote(bundle) + " " + shellQuote(cert),
			},
			Changes: []string{bundle + ".bak", bundle},
			Verify:  []string{"mesh-ca-bundle-incomplete", "mesh-ca-pathlen"},
		})
		if ca.bundle.Written == "" {
			steps[0].Manual = "the bundle is PEM text inside the Helm values, which a line edit cannot extend"
		} else {
			steps[0] = redeploy(f, steps[0])
		}
	}
	return on(HostCluster, steps...)
}

// meshConfigRef names the MeshConfig resource to edit.
func meshConfigRef(s *meshSettings) (name, ns string) {
	name, ns = meshConfigResource, meshNamespace
	if s.resourceName != "" {
		name = s.resourceName
	}
	if s.resourceNamespace != "" {
		ns = s.resourceNamespace
	}
	return name, ns
}

// settingSteps set a setting where it was judged: in the MeshConfig resource file (the
// live setting, for the settings it holds) and in the Helm values, each edited and then
// applied. Without such files the live MeshConfig is patched, or the release upgraded.
func settingSteps(f *Facts, name, value, why string, verify ...string) []Step {
	s := meshSettingsOf(withMesh(f))
	var sp meshSettingSpec
	for _, x := range meshSettingSpecs {
		if x.name == name {
			sp = x
		}
	}
	written := value
	if !sp.boolean {
		written = yamlQuote(value)
	}
	var steps []Step
	edit := func(file string, root *probes.Node, path []string, title, why string, apply ...string) {
		var y yamlEdit
		if !y.set(root, path, written) {
			steps = append(steps, Step{Title: title, Why: why, File: file, Diff: yamlDiffLines(path, s.get(name), written),
				Manual: "the file is not block-style YAML a line edit can change", Verify: verify})
			return
		}
		steps = append(steps, Step{Title: title, Why: why, File: file, Diff: y.diff.String(),
			Commands: editFileCommands(file, &y, apply...), Changes: []string{file, file + ".bak"}, Verify: verify})
	}
	if sp.resource != nil && s.resourceFile != "" {
		f := s.resourceFile
		edit(f, s.resourceRoot, sp.resource, "Set "+name+" to "+value+" in "+f+" and apply it",
			why+" The MeshConfig resource holds the live setting; the mesh controller applies a change.",
			"kubectl apply --dry-run=server -f "+shellQuote(f), "kubectl apply -f "+shellQuote(f))
	}
	if s.valuesFile != "" {
		v := s.valuesFile
		upgrade := "helm upgrade '<helm-release>' " + meshChart + " --namespace " + shellQuote(meshNamespace) + " -f " + shellQuote(v)
		edit(v, s.valuesRoot, sp.values, "Set "+name+" to "+value+" in "+v+" and upgrade the release",
			why+" The Helm values are what the mesh is deployed from, so a redeploy keeps it.",
			upgrade+" --dry-run", upgrade)
	}
	if len(steps) > 0 {
		return on(HostCluster, steps...)
	}
	if sp.resource != nil {
		rn, rns := meshConfigRef(s)
		patch := "{}"
		switch len(sp.resource) {
		case 3:
			patch = fmt.Sprintf(`{"spec":{"%s":{"%s":%s}}}`, sp.resource[1], sp.resource[2], jsonScalar(value, sp.boolean))
		case 2:
			patch = fmt.Sprintf(`{"spec":{"%s":%s}}`, sp.resource[1], jsonScalar(value, sp.boolean))
		}
		steps = append(steps, Step{
			Title: "Set " + name + " to " + value + " in the running mesh",
			Why: why + " The MeshConfig resource holds the live setting; the mesh controller applies a change. The " +
				"settings were not read from a file this step could change, so they are patched in the cluster; " +
				"`nginx-meshctl config | mtls-doctor mesh --check --mesh-config -` checks the live settings again.",
			Commands: []string{
				"kubectl patch meshconfig " + shellQuote(rn) + " -n " + shellQuote(rns) + " --type merge -p " + shellQuote(patch) + " --dry-run=server",
				"kubectl patch meshconfig " + shellQuote(rn) + " -n " + shellQuote(rns) + " --type merge -p " + shellQuote(patch),
				"nginx-meshctl config",
			},
			Verify: verify,
		})
	} else {
		up := "helm upgrade '<helm-release>' " + meshChart + " --namespace " + shellQuote(meshNamespace) + " --reuse-values --set " +
			shellQuote(strings.Join(sp.values, ".")+"="+value)
		steps = append(steps, Step{
			Title:    "Set " + name + " to " + value + " in the mesh's Helm release",
			Why:      why + " The setting is read when the mesh is deployed.",
			Commands: []string{up + " --dry-run", up},
			Verify:   verify,
		})
	}
	return on(HostCluster, steps...)
}

// jsonScalar writes a setting's value for a JSON merge patch.
func jsonScalar(v string, boolean bool) string {
	if boolean {
		return v
	}
	return `"` + v + `"`
}

// yamlDiffLines sets path to value in nested YAML, for a step that shows the change.
func yamlDiffLines(path []string, cur meshSetting, value string) string {
	var b strings.Builder
	for i, p := range path[:len(path)-1] {
		b.WriteString(" " + strings.Repeat("  ", i) + p + ":\n")
	}
	ind := strings.Repeat("  ", len(path)-1)
	leaf := path[len(path)-1]
	if cur.file != "" {
		b.WriteString("-" + ind + leaf + ": " + cur.value + "\n")
	}
	b.WriteString("+" + ind + leaf + ": " + value + "\n")
	return b.String()
}

func fixMeshMode(f *Facts, _ Result) []Step {
	return settingSteps(f, "mtls.mode", "strict", "strict accepts only mTLS between injected pods. Reach services outside "+
		"the mesh through the NGINX Ingress Controller's egress, and check first that every workload is injected.",
		"mesh-mtls-off", "mesh-mtls-permissive")
}

func fixMeshSettingInvalid(f *Facts, _ Result) []Step {
	f = withMesh(f)
	s := meshSettingsOf(f)
	var steps []Step
	for _, p := range s.problems {
		for _, sp := range meshSettingSpecs {
			if strings.HasSuffix(p.key, strings.Join(sp.values, ".")) || (sp.resource != nil && strings.HasSuffix(p.key, strings.Join(sp.resource, "."))) {
				steps = append(steps, settingSteps(f, sp.name, sp.def, "Use a value the chart's schema and the MeshConfig CRD "+
					"accept; the chart's default is shown, quoted where YAML 1.1 would read a boolean.", "mesh-setting-invalid")...)
			}
		}
	}
	if len(steps) == 0 {
		st := Step{
			Title: "Fix the file at the position the finding names",
			Why: "A syntax error or a document of the wrong kind stops nginx-meshctl, Helm or kubectl before any " +
				"setting is read. Quote off and on.",
			Manual: "what the file should say there is yours to write; the evidence names the position",
			Verify: []string{"mesh-setting-invalid"},
			Host:   HostCluster,
		}
		steps = append(steps, st)
	}
	return steps
}

func fixMeshKeyManager(f *Facts, _ Result) []Step {
	steps := settingSteps(f, "mtls.spireServerKeyManager", "disk",
		"SPIRE keeps its keys on disk (with persistent storage), so a restart keeps the root.", "mesh-key-manager-memory")
	return append(steps, Step{
		Title: "Or give SPIRE an upstream CA, so new signing keys chain to the same root",
		Why: "The document recommends the memory key manager only with an upstream CA: write the upstream authority " +
			"configuration (disk: an intermediate, its key and the root as bundle) and redeploy with it.",
		Manual: "the upstream CA, its key and the root are yours to create or choose",
		Verify: []string{"mesh-key-manager-memory", "mesh-upstream-conf-invalid"},
		Host:   HostCluster,
	})
}

func fixMeshUDP(f *Facts, _ Result) []Step {
	return settingSteps(f, "enableUDP", "false", "Turn UDP proxying off, or accept that UDP between workloads is plaintext.",
		"mesh-udp-plaintext")
}

func fixMeshLogLevel(f *Facts, _ Result) []Step {
	return settingSteps(f, "nginxErrorLogLevel", "info", "At info the sidecars log why they refuse a certificate.",
		"mesh-log-level-hides-mtls")
}

// fixMeshAnnotations sets each workload the annotations check flags to strict in its
// manifest (moving an annotation from the workload's own metadata to its pod template),
// then applies the manifest: pods get the annotation when they are created, so a bare Pod
// or a Job is replaced.
func fixMeshAnnotations(f *Facts, _ Result) []Step {
	f = withMesh(f)
	global, _ := globalMode(f)
	type fileEdit struct {
		y       yamlEdit
		names   []string
		replace bool
		manual  bool
	}
	edits := map[string]*fileEdit{}
	var order []string
	for _, w := range meshWorkloads(f) {
		bad, off := annotationVerdict(w, global)
		if bad == "" && off == "" {
			continue
		}
		fe := edits[w.file]
		if fe == nil {
			fe = &fileEdit{}
			edits[w.file], order = fe, append(order, w.file)
		}
		fe.names = append(fe.names, w.ref())
		fe.replace = fe.replace || w.kind == "Pod" || w.kind == "Job"
		path := append(append([]string{}, podTemplateMeta[w.kind]...), "annotations", mtlsModeAnnotation)
		ok := true
		if w.misplaced != nil {
			ok = fe.y.remove(w.misplaced, w.obj.Lookup("metadata", "annotations").Line)
		}
		fe.manual = fe.manual || !ok || !fe.y.set(w.obj, path, `"strict"`)
	}
	var steps []Step
	for _, file := range order {
		fe := edits[file]
		apply := []string{"kubectl apply --dry-run=server -f " + shellQuote(file), "kubectl apply -f " + shellQuote(file)}
		if fe.replace {
			apply[1] = "kubectl replace --force -f " + shellQuote(file)
		}
		st := Step{
			Title: "Set " + joinNames(fe.names, 3) + " to strict in " + file + " and apply it",
			Why: "The injector reads " + mtlsModeAnnotation + " from the pod template when it injects a pod, so the pods " +
				"are recreated with it (a bare Pod or a Job is replaced). Remove the annotation instead to follow the " +
				"global mode.",
			File:   file,
			Diff:   fe.y.diff.String(),
			Verify: []string{"mesh-annotation-invalid", "mesh-annotation-disables-mtls"},
		}
		if fe.manual {
			st.Manual = "the manifest is not block-style YAML a line edit can change"
		} else {
			st.Commands, st.Changes = editFileCommands(file, &fe.y, apply...), []string{file, file + ".bak"}
		}
		steps = append(steps, st)
	}
	if len(steps) == 0 {
		steps = append(steps, Step{
			Title: "Annotate the pod template, not the workload",
			Why:   "The injector reads " + mtlsModeAnnotation + " from spec.template.metadata.annotations.",
			Commands: []string{`kubectl patch deployment '<name>' -n '<namespace>' --type merge -p '{"spec":{"template":{"metadata":{"annotations":{"` +
				mtlsModeAnnotation + `":"strict"}}}}}'`},
			Verify: []string{"mesh-annotation-invalid", "mesh-annotation-disables-mtls"},
		})
	}
	return on(HostCluster, steps...)
}
