package diagnostics

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// withMesh returns f with empty mesh facts when it has none (`mtls-doctor explain`), so
// playbooks can be written with example names.
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

// caFilePath is the path a CA file was read from, or an example.
func caFilePath(cf *mesh.CAFile, example string) string {
	if cf != nil && cf.File != nil && cf.Written != "" {
		return cf.File.Path
	}
	return example
}

// redeployMesh are the commands that hand a changed upstream CA to SPIRE: nginx-meshctl
// reads the files only when it deploys.
func redeployMesh(f *Facts) []string {
	conf := upstreamConfName(f)
	return []string{"nginx-meshctl remove", "nginx-meshctl deploy --mtls-mode strict --mtls-upstream-ca-conf " + shellQuote(conf)}
}

func fixMeshFileFormat(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "intermediateCA.crt")
	key := caFilePath(ca.key, "intermediateCA.key")
	// Without files (explain) every step is shown; otherwise only those for what is wrong.
	all := len(f.Mesh.CAFiles) == 0
	wrong := func(cf *mesh.CAFile, test func(*mesh.CAFile) bool) bool {
		return all || cf != nil && cf.File != nil && len(caFileProblems(cf, f.Mesh.Dir)) > 0 && test(cf)
	}
	chain := wrong(ca.cert, func(cf *mesh.CAFile) bool { return len(cf.File.Blocks) > 1 })
	badKey := wrong(ca.key, func(cf *mesh.CAFile) bool { return cf.File.Encoding == "pem" })
	der := wrong(ca.cert, func(cf *mesh.CAFile) bool { return cf.File.Encoding == "der" })
	var steps []Step
	for _, st := range []struct {
		want bool
		step Step
	}{{chain, Step{
		Title: "Keep one certificate in the certificate file and the rest in the bundle",
		Why: "nginx-meshctl refuses a chain in cert_file_path. The first certificate is the upstream CA; the ones " +
			"after it go to bundle_file_path, up to the root.",
		Commands: []string{
			"cp -p " + shellQuote(cert) + " " + shellQuote(cert+".bak"),
			"openssl x509 -in " + shellQuote(cert+".bak") + " -out " + shellQuote(cert),
			"openssl crl2pkcs7 -nocrl -certfile " + shellQuote(cert+".bak") + " | openssl pkcs7 -print_certs | sed -n '/^subject=/p'",
		},
		Verify: []string{"mesh-ca-file-format", "mesh-ca-bundle-incomplete"},
	}}, {badKey, Step{
		Title: "Write the key as one unencrypted PEM block",
		Why: "openssl pkey writes the key alone (without the EC PARAMETERS block `openssl ecparam -genkey` adds) " +
			"and asks for the passphrase of an encrypted key once; SPIRE has no passphrase setting. Keep the file " +
			"readable only by you.",
		Commands: []string{
			"cp -p " + shellQuote(key) + " " + shellQuote(key+".bak"),
			"(umask 077 && openssl pkey -in " + shellQuote(key+".bak") + " -out " + shellQuote(key) + ")",
		},
		Verify: []string{"mesh-ca-file-format", "mesh-ca-key-mismatch"},
	}}, {der, Step{
		Title: "Convert the DER certificate to PEM",
		Why:   "nginx-meshctl reads PEM only (\"not pem encoded\").",
		Commands: []string{
			"cp -p " + shellQuote(cert) + " " + shellQuote(cert+".der"),
			"openssl x509 -inform DER -in " + shellQuote(cert+".der") + " -out " + shellQuote(cert),
		},
		Verify: []string{"mesh-ca-file-format"},
	}}} {
		if st.want {
			steps = append(steps, st.step)
		}
	}
	if len(steps) == 0 {
		steps = append(steps, Step{
			Title: "Point each setting at a readable PEM file",
			Why: "A relative path resolves against the directory nginx-meshctl runs in; the evidence names the " +
				"path that was tried. Bundles hold CERTIFICATE blocks only.",
			Commands: []string{"ls -l " + shellQuote(cert) + " " + shellQuote(key)},
			Verify:   []string{"mesh-ca-file-format"},
		})
	}
	return steps
}

func fixMeshKeyMismatch(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "intermediateCA.crt")
	key := caFilePath(ca.key, "intermediateCA.key")
	return []Step{{
		Title: "Point key_file_path at the key of the upstream CA certificate",
		Why: "The two digests below must be equal. Find the key file whose digest matches the certificate's (it was " +
			"written when the CA was created), or reissue the CA for the key you have.",
		Commands: []string{
			"openssl x509 -in " + shellQuote(cert) + " -noout -pubkey | openssl sha256",
			"openssl pkey -in " + shellQuote(key) + " -pubout | openssl sha256",
		},
		Verify: []string{"mesh-ca-key-mismatch"},
	}}
}

// fixMeshReissue reissues the upstream CA from the same root with the extensions SPIRE's
// chain needs; when the root itself is at fault it says a new root is needed.
func fixMeshReissue(f *Facts, _ Result) []Step {
	f = withMesh(f)
	ca := meshCAOf(f)
	cert := caFilePath(ca.cert, "intermediateCA.crt")
	key := caFilePath(ca.key, "intermediateCA.key")
	bundle := caFilePath(ca.bundle, "rootCA.crt")
	subject := "/CN=NGINX Service Mesh upstream CA"
	leaf := ca.upstreamCert()
	if leaf != nil && leaf.Subject.CommonName != "" {
		subject = subjectArg(leaf.Subject.CommonName)
	}
	rootCert, rootKey := "<root-cert-path>", "<root-key-path>"
	promote := leaf != nil && selfSigned(leaf) && ca.bundle == nil
	if promote {
		// The upstream CA is the root: keep it as the root and sign an intermediate with it.
		rootCert, rootKey, bundle = cert, key, cert
		cert, key = "intermediateCA.crt", "intermediateCA.key"
	}
	newKey := "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out intermediateCA.key"
	steps := []Step{{
		Title: "Reissue the upstream CA from the same root with CA:TRUE, keyCertSign and pathlen:1",
		Why: "pathlen:1 leaves room for SPIRE's own CA below it; keyCertSign lets it sign; no extendedKeyUsage keeps " +
			"serverAuth and clientAuth open. A new P-256 key replaces a weak one. Signing with the same root keeps the " +
			"mesh's trust bundle, so running workloads keep trusting each other.",
		Commands: []string{
			"(umask 077 && " + newKey + ")",
			"openssl req -new -key intermediateCA.key -subj " + shellQuote(subject) + " -out intermediateCA.csr",
			"printf '%s\\n' 'basicConstraints=critical,CA:TRUE,pathlen:1' 'keyUsage=critical,keyCertSign,cRLSign' " +
				"'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid:always' > intermediateCA.ext",
			"openssl x509 -req -in intermediateCA.csr -CA " + shellQuote(rootCert) + " -CAkey " + shellQuote(rootKey) +
				" -CAcreateserial -days 365 -sha256 -extfile intermediateCA.ext -out intermediateCA.crt",
			"openssl verify -x509_strict -CAfile " + shellQuote(bundle) + " intermediateCA.crt",
			"openssl x509 -in intermediateCA.crt -noout -subject -dates -ext basicConstraints,keyUsage,extendedKeyUsage",
		},
		Verify: []string{"mesh-ca-pathlen", "mesh-ca-not-a-ca", "mesh-ca-weak", "mesh-ca-expired", "mesh-ca-expiring"},
	}}
	if !promote {
		steps = append(steps, Step{
			Title: "Install the new upstream CA and its key",
			Why:   "Back up the old pair first; the key file stays readable only by you.",
			Commands: []string{
				"cp -p " + shellQuote(cert) + " " + shellQuote(cert+".bak"),
				"cp -p " + shellQuote(key) + " " + shellQuote(key+".bak"),
				"cp intermediateCA.crt " + shellQuote(cert),
				"(umask 077 && cp intermediateCA.key " + shellQuote(key) + ")",
			},
			Verify: []string{"mesh-ca-key-mismatch", "mesh-ca-bundle-incomplete"},
		})
	} else {
		steps = append(steps, Step{
			Title: "Use the new intermediate as the upstream CA and the root as the bundle",
			Why:   "SPIRE then signs with the intermediate and hands the root out as the trust bundle.",
			File:  upstreamConfName(f),
			Diff: "-  cert_file_path: " + rootCert + "\n-  key_file_path: " + rootKey + "\n" +
				"+  cert_file_path: intermediateCA.crt\n+  key_file_path: intermediateCA.key\n+  bundle_file_path: " + rootCert + "\n",
			Verify: []string{"mesh-ca-bundle-incomplete", "mesh-ca-pathlen"},
		})
	}
	if root := rootFault(ca, f); root != nil {
		steps = append(steps, Step{
			Title: "Replace the root " + certName(root),
			Why: "The root itself is expired, weak, or has a pathlen below 2; no intermediate it signs can fix that. " +
				"Create a new root (pathlen unset or at least 2), sign the intermediate with it, and put it in the bundle: " +
				"the mesh's trust changes, so every workload needs new SVIDs (redeploy and restart the workloads).",
			Commands: []string{
				"(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out rootCA.key)",
				"openssl req -x509 -new -key rootCA.key -subj '/CN=NGINX Service Mesh root CA' -days 3650 -sha256 " +
					"-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out rootCA.crt",
			},
			Verify: []string{"mesh-ca-pathlen", "mesh-ca-bundle-incomplete"},
		})
	}
	return append(steps, Step{
		Title:    "Redeploy the mesh with the new upstream CA",
		Why:      "nginx-meshctl reads the upstream CA files only when it deploys; plan a maintenance window.",
		Commands: redeployMesh(f),
		Verify:   []string{"mesh-upstream-conf-invalid", "mesh-ca-file-format"},
	})
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
	cert := caFilePath(ca.cert, "intermediateCA.crt")
	bundle := caFilePath(ca.bundle, "rootCA.crt")
	return []Step{
		{
			Title: "Put the root (and any CA between it and the upstream CA) in the bundle",
			Why: "The bundle must hold the upstream CA's issuer, and so on up to a self-signed root; order does not " +
				"matter. <root-cert-path> is your root CA certificate.",
			Commands: []string{
				"cat '<root-cert-path>' >> " + shellQuote(bundle),
				"openssl verify -x509_strict -CAfile " + shellQuote(bundle) + " " + shellQuote(cert),
			},
			Verify: []string{"mesh-ca-bundle-incomplete", "mesh-ca-pathlen"},
		},
		{
			Title:  "Name the bundle in the upstream authority configuration",
			Why:    "Without bundle_file_path SPIRE accepts only a self-signed upstream CA.",
			File:   upstreamConfName(f),
			Diff:   " config:\n   cert_file_path: " + cert + "\n+  bundle_file_path: " + bundle + "\n",
			Verify: []string{"mesh-ca-bundle-incomplete"},
		},
	}
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

// settingSteps are the ways to set a setting: in the Helm values, in the live
// MeshConfig (for the settings it holds), or at deploy.
func settingSteps(f *Facts, name, value, why string, verify ...string) []Step {
	s := meshSettingsOf(withMesh(f))
	set := s.get(name)
	var sp meshSettingSpec
	for _, x := range meshSettingSpecs {
		if x.name == name {
			sp = x
		}
	}
	quoted := value
	if !sp.boolean && yaml11Bools(value) {
		quoted = `"` + value + `"` // YAML 1.1 would read it as a boolean
	}
	var steps []Step
	if sp.resource != nil {
		rn, rns := meshConfigRef(s)
		patch := "{}"
		switch len(sp.resource) {
		case 3:
			patch = fmt.Sprintf(`{"spec":{"%s":{"%s":"%s"}}}`, sp.resource[1], sp.resource[2], value)
		case 2:
			patch = fmt.Sprintf(`{"spec":{"%s":"%s"}}`, sp.resource[1], value)
		}
		steps = append(steps, Step{
			Title: "Set " + name + " to " + value + " in the running mesh",
			Why:   why + " The MeshConfig resource holds the live setting; the mesh controller applies a change.",
			Commands: []string{
				"kubectl patch meshconfig " + shellQuote(rn) + " -n " + shellQuote(rns) + " --type merge -p " + shellQuote(patch),
				"kubectl get meshconfig " + shellQuote(rn) + " -n " + shellQuote(rns) + " -o yaml",
			},
			Verify: verify,
		})
	}
	values := s.valuesFile
	if values == "" {
		values = "values.yaml"
	}
	diff := yamlDiffLines(sp.values, set, quoted)
	steps = append(steps, Step{
		Title:    "Set " + name + " to " + value + " where the mesh is deployed from",
		Why:      why + " Keep the Helm values (or the nginx-meshctl deploy flags) in step, so a redeploy does not undo it.",
		File:     values,
		Diff:     diff,
		Commands: []string{"nginx-meshctl deploy " + sp.flag + "=" + shellQuote(value)},
		Verify:   verify,
	})
	return steps
}

// yamlDiffLines sets path to value in nested Helm values.
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
			Verify: []string{"mesh-setting-invalid"},
		}
		if len(s.problems) > 0 && s.problems[0].file != "" {
			st.Commands = []string{"kubectl apply --dry-run=client -f " + shellQuote(s.problems[0].file)}
		}
		steps = append(steps, st)
	}
	return steps
}

func fixMeshKeyManager(f *Facts, _ Result) []Step {
	steps := []Step{{
		Title: "Give SPIRE an upstream CA, so new signing keys chain to the same root",
		Why: "The document recommends the memory key manager only with an upstream CA. Write the upstream authority " +
			"configuration (disk: an intermediate, its key and the root as bundle) and redeploy with it.",
		Commands: redeployMesh(withMesh(f)),
		Verify:   []string{"mesh-key-manager-memory", "mesh-upstream-conf-invalid"},
	}}
	return append(steps, settingSteps(f, "mtls.spireServerKeyManager", "disk",
		"Or keep the keys on disk (with persistent storage) so a restart keeps the root.", "mesh-key-manager-memory")...)
}

func fixMeshUDP(f *Facts, _ Result) []Step {
	return settingSteps(f, "enableUDP", "false", "Turn UDP proxying off, or accept that UDP between workloads is plaintext.",
		"mesh-udp-plaintext")
}

func fixMeshLogLevel(f *Facts, _ Result) []Step {
	return settingSteps(f, "nginxErrorLogLevel", "info", "At info the sidecars log why they refuse a certificate.",
		"mesh-log-level-hides-mtls")
}

func fixMeshAnnotations(f *Facts, _ Result) []Step {
	f = withMesh(f)
	global, _ := globalMode(f)
	var steps []Step
	for _, w := range meshWorkloads(f) {
		bad, off := annotationVerdict(w, global)
		if bad == "" && off == "" {
			continue
		}
		ns := w.namespace
		if ns == "" {
			ns = "default"
		}
		meta := podTemplateMeta[w.kind]
		patch := `{"metadata":{"annotations":{"` + mtlsModeAnnotation + `":"strict"}}}`
		for i := len(meta) - 2; i >= 0; i-- {
			patch = `{"` + meta[i] + `":` + patch + `}`
		}
		if w.kind == "Pod" {
			patch = `{"metadata":{"annotations":{"` + mtlsModeAnnotation + `":"strict"}}}`
		}
		step := Step{
			Title: "Set " + w.ref() + " to strict in its pod template",
			Why: "The injector reads the annotation when it injects a pod, so the pods are recreated with it (a bare Pod " +
				"must be deleted and created again). Remove the annotation instead to follow the global mode.",
			Commands: []string{
				"kubectl patch " + strings.ToLower(w.kind) + " " + shellQuote(w.name) + " -n " + shellQuote(ns) + " --type merge -p " + shellQuote(patch),
			},
			File:   w.file,
			Diff:   annotationDiff(w),
			Verify: []string{"mesh-annotation-invalid", "mesh-annotation-disables-mtls"},
		}
		if w.misplaced != nil {
			step.Commands = append(step.Commands, "kubectl annotate "+strings.ToLower(w.kind)+" "+shellQuote(w.name)+" -n "+shellQuote(ns)+" "+mtlsModeAnnotation+"-")
		}
		steps = append(steps, step)
		if len(steps) == 5 {
			break
		}
	}
	if len(steps) == 0 {
		steps = append(steps, Step{
			Title:    "Annotate the pod template, not the workload",
			Why:      "The injector reads " + mtlsModeAnnotation + " from spec.template.metadata.annotations.",
			Commands: []string{`kubectl patch deployment <name> -n <namespace> --type merge -p '{"spec":{"template":{"metadata":{"annotations":{"` + mtlsModeAnnotation + `":"strict"}}}}}'`},
			Verify:   []string{"mesh-annotation-invalid", "mesh-annotation-disables-mtls"},
		})
	}
	return steps
}

// annotationDiff moves or corrects the annotation in the manifest.
func annotationDiff(w meshWorkload) string {
	meta := podTemplateMeta[w.kind]
	var b strings.Builder
	if w.misplaced != nil {
		b.WriteString(" metadata:\n   annotations:\n-    " + mtlsModeAnnotation + ": " + scalarText(w.misplaced.Value) + "\n")
	}
	for i, p := range meta {
		b.WriteString(" " + strings.Repeat("  ", i) + p + ":\n")
	}
	ind := strings.Repeat("  ", len(meta))
	b.WriteString(" " + ind + "annotations:\n")
	if w.mode != nil {
		b.WriteString("-" + ind + "  " + mtlsModeAnnotation + ": " + scalarText(w.mode.Value) + "\n")
	}
	b.WriteString("+" + ind + "  " + mtlsModeAnnotation + ": \"strict\"\n")
	return b.String()
}

// upstreamConfName is the upstream authority configuration's path, or an example.
func upstreamConfName(f *Facts) string {
	if f.Mesh != nil && f.Mesh.Upstream != nil {
		return f.Mesh.Upstream.Path
	}
	return "upstream-ca.yaml"
}
