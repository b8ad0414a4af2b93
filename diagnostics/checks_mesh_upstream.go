package diagnostics

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// uaField is one key of an upstream authority's config as nginx-meshctl's JSON schema
// declares it (api/upstream-ca-validation.json).
type uaField struct {
	name    string
	typ     string // "string", "boolean" or "object"
	pattern func() *regexp.Regexp
	minLen  int
	// secret values are never quoted in findings.
	secret bool
	sub    *uaShape
	// dropped keys pass the schema but nginx-meshctl's struct never reads them.
	dropped string
}

// uaShape is one schema definition: its keys, the required ones, whether other keys are
// refused (additionalProperties: false), and a set of which exactly one must be present.
type uaShape struct {
	fields   []uaField
	required []string
	closed   bool
	oneOf    []string
}

func (s *uaShape) field(name string) (uaField, bool) {
	for _, f := range s.fields {
		if f.name == name {
			return f, true
		}
	}
	return uaField{}, false
}

// arnPattern is the schema's ARN pattern. gojsonschema matches patterns unanchored, as
// Go's regexp.MatchString does.
var arnPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`arn:(.*:){4}.*`) })

func str(name string) uaField    { return uaField{name: name, typ: "string"} }
func secret(name string) uaField { return uaField{name: name, typ: "string", secret: true} }
func arn(name string) uaField    { return uaField{name: name, typ: "string", pattern: arnPattern} }

// upstreamAuthorities are the definitions of api/upstream-ca-validation.json, in its order.
var upstreamAuthorities = []struct {
	name  string
	shape *uaShape
}{
	{"disk", &uaShape{
		fields:   []uaField{str("cert_file_path"), str("key_file_path"), str("bundle_file_path")},
		required: []string{"cert_file_path", "key_file_path"}, closed: true,
	}},
	{"aws_pca", &uaShape{
		fields: []uaField{str("region"), arn("certificate_authority_arn"), arn("ca_signing_template_arn"),
			str("signing_algorithm"), arn("assume_role_arn"), str("endpoint"), str("supplemental_bundle_path"),
			secret("aws_access_key_id"), secret("aws_secret_access_key")},
		required: []string{"region", "certificate_authority_arn"}, closed: true,
	}},
	{"awssecret", &uaShape{
		fields: []uaField{str("region"), arn("cert_file_arn"), arn("key_file_arn"), secret("aws_access_key_id"),
			secret("aws_secret_access_key"), secret("aws_secret_token"), arn("assume_role_arn")},
		required: []string{"region", "cert_file_arn", "key_file_arn"}, closed: true,
	}},
	{"vault", &uaShape{
		fields: []uaField{str("vault_addr"), str("namespace"),
			// vault.go reads pki_mount_path, which the schema refuses, so the mount point
			// the schema allows never reaches SPIRE.
			{name: "pki_mount_point", typ: "string", dropped: "nginx-meshctl reads pki_mount_path (which its own schema refuses), " +
				"so SPIRE uses its default PKI mount \"pki\""},
			str("ca_cert_path"), {name: "insecure_skip_verify", typ: "boolean"},
			{name: "cert_auth", typ: "object", sub: &uaShape{
				fields: []uaField{str("cert_auth_mount_point"), str("cert_auth_role_name"), str("client_cert_path"),
					str("client_key_path")},
				required: []string{"client_cert_path", "client_key_path"}, closed: true}},
			{name: "token_auth", typ: "object", sub: &uaShape{
				fields: []uaField{secret("token")}, required: []string{"token"}, closed: true}},
			{name: "approle_auth", typ: "object", sub: &uaShape{
				fields:   []uaField{str("approle_auth_mount_point"), str("approle_id"), secret("approle_secret_id")},
				required: []string{"approle_id", "approle_secret_id"}, closed: true}},
		},
		required: []string{"vault_addr", "namespace", "ca_cert_path"}, closed: true,
		oneOf: []string{"cert_auth", "token_auth", "approle_auth"},
	}},
	{"cert-manager", &uaShape{
		fields: []uaField{{name: "namespace", typ: "string", minLen: 1}, {name: "issuer_name", typ: "string", minLen: 1},
			str("issuer_kind"), str("issuer_group"), str("kube_config_file")},
		// The definition does not refuse other keys, and cert_manager.go reads only these.
		required: []string{"namespace", "issuer_name"},
	}},
}

func authorityShape(name string) *uaShape {
	for _, a := range upstreamAuthorities {
		if a.name == name {
			return a.shape
		}
	}
	return nil
}

func authorityNames() []string {
	var out []string
	for _, a := range upstreamAuthorities {
		out = append(out, a.name)
	}
	return out
}

// meshProblem is one thing wrong in a mesh input, at a position.
type meshProblem struct {
	file         string
	line, column int
	key          string // YAML path, "" for the whole document
	text         string
}

func (p meshProblem) evidence() Evidence {
	text := p.text
	if p.key != "" {
		text = p.key + ": " + text
	}
	return Note(meshWhere(p.file, p.line, p.column), "%s", text)
}

func problemsEvidence(ps []meshProblem) []Evidence {
	var out []Evidence
	for _, p := range ps {
		out = append(out, p.evidence())
	}
	return out
}

// upstreamConf is the upstream authority configuration as nginx-meshctl reads it.
type upstreamConf struct {
	path string
	// authority is upstreamAuthority when it is one of the five names.
	authority string
	// written are apiVersion and upstreamAuthority as written ("" when absent or not text).
	writtenVersion, writtenAuthority string
	config                           *probes.Node
	// invalid are what makes nginx-meshctl refuse the file, or SPIRE get nothing usable;
	// ignored are keys nginx-meshctl accepts and then drops.
	invalid, ignored []meshProblem
}

// judgeUpstream reads the upstream authority configuration the way
// GetUpstreamAuthorityValues does: YAML to JSON (first document), the JSON schema, then
// apiVersion must be exactly v1, then config is decoded into the named authority's struct.
func judgeUpstream(in *mesh.Input) *upstreamConf {
	u := &upstreamConf{path: in.Path}
	add := func(n *probes.Node, key, format string, a ...any) {
		p := meshProblem{file: in.Path, key: key, text: fmt.Sprintf(format, a...)}
		if n != nil {
			p.line, p.column = n.Line, n.Column
		}
		u.invalid = append(u.invalid, p)
	}
	if in.Error != nil {
		u.invalid = append(u.invalid, meshProblem{file: in.Error.Path, line: in.Error.Line, column: in.Error.Column,
			text: in.Error.Message})
		return u
	}
	root := firstDoc(in)
	if root == nil || root.Kind != probes.NodeMap {
		add(root, "", "the file must hold a mapping with apiVersion, upstreamAuthority and config (it holds %s)", root.TypeName())
		return u
	}
	for _, e := range root.Entries {
		if !slices.Contains([]string{"apiVersion", "upstreamAuthority", "config"}, e.Key) {
			add(e.Value, e.Key, "unknown key (the schema allows only apiVersion, upstreamAuthority and config)")
		}
	}
	for _, k := range []string{"apiVersion", "upstreamAuthority", "config"} {
		if root.Get(k) == nil {
			add(root, k, "missing (required)")
		}
	}
	u.writtenVersion = scalarText(valueAt(root, "apiVersion"))
	u.writtenAuthority = scalarText(valueAt(root, "upstreamAuthority"))
	if e := root.Get("apiVersion"); e != nil {
		v, ok := e.Value.Text()
		switch {
		case e.Value.TypeName() != "string":
			add(e.Value, "apiVersion", "must be a string, not %s", e.Value.TypeName())
		case !ok || !regexp.MustCompile(`v[0-9]+`).MatchString(v):
			add(e.Value, "apiVersion", "%q does not match the schema's pattern v[0-9]+", v)
		case v != "v1":
			// upstream_authority.go: supportedVersions holds only v1.
			add(e.Value, "apiVersion", "unsupported upstream authority version %q (only v1 is)", v)
		}
	}
	if e := root.Get("upstreamAuthority"); e != nil {
		v, _ := e.Value.Text()
		switch {
		case e.Value.TypeName() != "string":
			add(e.Value, "upstreamAuthority", "must be a string, not %s", e.Value.TypeName())
		case authorityShape(v) == nil:
			add(e.Value, "upstreamAuthority", "%q is not one of %s", v, strings.Join(authorityNames(), ", "))
		default:
			u.authority = v
		}
	}
	e := root.Get("config")
	if e == nil {
		return u
	}
	u.config = e.Value
	if e.Value.Kind != probes.NodeMap {
		add(e.Value, "config", "must be a mapping, not %s", e.Value.TypeName())
		return u
	}
	if u.authority == "" {
		return u
	}
	named := validateShape(in.Path, e.Value, authorityShape(u.authority), "config")
	if len(named) == 0 {
		u.ignored = droppedKeys(in.Path, e.Value, authorityShape(u.authority), "config")
		return u
	}
	// The schema's config is a oneOf over every definition, unrelated to the name: a
	// config that fits another authority passes, then decodes into the named one's struct
	// with none of its keys set.
	for _, a := range upstreamAuthorities {
		if a.name != u.authority && len(validateShape(in.Path, e.Value, a.shape, "config")) == 0 {
			add(e.Value, "config", "has the keys of %s, but upstreamAuthority is %s: nginx-meshctl accepts the file "+
				"and reads config as %s, so SPIRE is configured with none of them", a.name, u.authority, u.authority)
			return u
		}
	}
	u.invalid = append(u.invalid, named...)
	return u
}

// validateShape lists what in n does not satisfy shape, keyed below prefix.
func validateShape(file string, n *probes.Node, shape *uaShape, prefix string) []meshProblem {
	var out []meshProblem
	add := func(at *probes.Node, key, format string, a ...any) {
		out = append(out, meshProblem{file: file, line: at.Line, column: at.Column, key: key, text: fmt.Sprintf(format, a...)})
	}
	for _, e := range n.Entries {
		key := prefix + "." + e.Key
		f, known := shape.field(e.Key)
		if !known {
			if shape.closed {
				add(e.Value, key, "unknown key (the schema refuses it)")
			}
			continue
		}
		switch {
		case e.Value.TypeName() != f.typ:
			add(e.Value, key, "must be %s %s, not %s%s", article(f.typ), f.typ, e.Value.TypeName(), yaml11Hint(e.Value))
		case f.sub != nil:
			out = append(out, validateShape(file, e.Value, f.sub, key)...)
		case f.pattern != nil && !f.pattern().MatchString(e.Value.Value):
			add(e.Value, key, "%q is not an ARN (the schema's pattern is %s)", e.Value.Value, f.pattern())
		case f.minLen > 0 && len(e.Value.Value) < f.minLen:
			add(e.Value, key, "must not be empty")
		}
	}
	for _, k := range shape.required {
		if n.Get(k) == nil {
			add(n, prefix+"."+k, "missing (required)")
		}
	}
	if len(shape.oneOf) > 0 {
		var have []string
		for _, k := range shape.oneOf {
			if n.Get(k) != nil {
				have = append(have, k)
			}
		}
		if len(have) != 1 {
			add(n, prefix, "needs exactly one of %s (has %d)", strings.Join(shape.oneOf, ", "), len(have))
		}
	}
	return out
}

// droppedKeys lists the keys of a valid config that nginx-meshctl never passes on.
func droppedKeys(file string, n *probes.Node, shape *uaShape, prefix string) []meshProblem {
	var out []meshProblem
	for _, e := range n.Entries {
		f, known := shape.field(e.Key)
		p := meshProblem{file: file, line: e.Line, column: e.Column, key: prefix + "." + e.Key}
		switch {
		case !known:
			p.text = "not read by nginx-meshctl (the schema lets it through, the authority's settings have no such key)"
			out = append(out, p)
		case f.dropped != "":
			p.text = f.dropped
			out = append(out, p)
		case f.sub != nil && e.Value.Kind == probes.NodeMap:
			out = append(out, droppedKeys(file, e.Value, f.sub, prefix+"."+e.Key)...)
		}
	}
	return out
}

func article(typ string) string {
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		return "an"
	}
	return "a"
}

// yaml11Hint explains a plain yes/no/on/off read as a boolean.
func yaml11Hint(n *probes.Node) string {
	if n.Kind == probes.NodeScalar && n.Plain && n.Type == probes.ScalarBoolean && n.Value != "true" && n.Value != "false" {
		return fmt.Sprintf(" (YAML 1.1, which nginx-meshctl, Helm and kubectl read, takes an unquoted %s as a boolean: quote it)", n.Value)
	}
	return ""
}

func meshUpstreamChecks() []Check {
	need := []FactKind{FactMesh}
	return []Check{
		{
			ID: "mesh-upstream-conf-invalid", Category: CategoryMesh,
			Title: "upstream authority configuration is one nginx-meshctl accepts and SPIRE can use",
			Why: "nginx-meshctl deploy validates --mtls-upstream-ca-conf against its JSON schema (" + srcUpstreamSchema +
				") and accepts only apiVersion v1; a file that fails stops the deploy. The schema does not tie config to " +
				"the authority's name, so a config written for another authority deploys and leaves SPIRE without a CA.",
			Needs: need, Subject: meshCASubject, Evaluate: evalUpstreamInvalid, Fix: fixUpstreamConf,
		},
		{
			ID: "mesh-upstream-conf-ignored-key", Category: CategoryMesh,
			Title: "every key of the upstream authority configuration reaches SPIRE",
			Why: "Some keys pass nginx-meshctl's schema but are never read (" + srcUpstreamGo + "): Vault's " +
				"pki_mount_point is read as pki_mount_path, and cert-manager's definition lets any key through. " +
				"SPIRE then runs with its default for that setting.",
			Needs: need, Subject: meshCASubject, Evaluate: evalUpstreamIgnored, Fix: fixUpstreamConf,
		},
	}
}

func noUpstreamConf(f *Facts) (Result, bool) {
	if f.Mesh.Upstream == nil {
		return Skip("skipped: no --upstream-ca-conf given (SPIRE signs with its own self-signed CA)"), true
	}
	return Result{}, false
}

func evalUpstreamInvalid(f *Facts) Result {
	if r, skip := noUpstreamConf(f); skip {
		return r
	}
	u := judgeUpstream(f.Mesh.Upstream)
	if len(u.invalid) > 0 {
		return Fail("%s: %s", u.path, u.invalid[0].text).Because(CauseConfigInvalid).With(problemsEvidence(u.invalid)...)
	}
	return OK("%s: upstream authority %s, accepted by nginx-meshctl's schema", u.path, u.authority)
}

func evalUpstreamIgnored(f *Facts) Result {
	if r, skip := noUpstreamConf(f); skip {
		return r
	}
	u := judgeUpstream(f.Mesh.Upstream)
	switch {
	case len(u.ignored) > 0:
		return Warn("%s: %s never reaches SPIRE", u.path, joinNames(problemKeys(u.ignored), 3)).Because(CauseIgnoredKeys).
			With(problemsEvidence(u.ignored)...)
	case len(u.invalid) > 0:
		return Skip("skipped: the configuration is invalid (mesh-upstream-conf-invalid)")
	}
	return OK("%s: every key is read by nginx-meshctl", u.path)
}

func problemKeys(ps []meshProblem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.key)
	}
	return out
}

// fixUpstreamConf corrects the upstream authority configuration in place — apiVersion v1,
// keys the authority does not take removed, a disk authority's missing files named by
// placeholders — and redeploys with it. What only the user can say (another authority,
// Vault's address, a token) makes the step Manual, with the corrected file as a diff.
func fixUpstreamConf(f *Facts, _ Result) []Step {
	f = withMesh(f)
	verify := []string{"mesh-upstream-conf-invalid", "mesh-upstream-conf-ignored-key"}
	if f.Mesh.Upstream == nil {
		conf := upstreamConfName(f)
		lines := []string{"apiVersion: v1", "upstreamAuthority: disk", "config:", "  cert_file_path: <mesh-ca-cert-path>",
			"  key_file_path: <mesh-ca-key-path>", "  bundle_file_path: <root-cert-path>"}
		return on(HostCluster, redeploy(f, Step{
			Title: "Write the upstream authority configuration for the disk upstream authority",
			Why:   "apiVersion v1 and only the keys nginx-meshctl's schema lists for the authority (" + srcUpstreamSchema + ").",
			Commands: []string{"[ ! -e " + shellQuote(conf) + " ] || cp -p " + shellQuote(conf) + " " + shellQuote(conf+".bak"),
				"printf '%s\\n' " + quoteAll(lines) + " > " + shellQuote(conf)},
			Changes: []string{conf + ".bak", conf},
			Verify:  verify,
		}))
	}
	path := f.Mesh.Upstream.Path
	u := judgeUpstream(f.Mesh.Upstream)
	authority := u.authority
	if authority == "" {
		authority = "disk"
	}
	y, why, ok := upstreamEdits(f.Mesh.Upstream, u)
	step := Step{
		Title: "Correct " + path + " for the " + authority + " upstream authority",
		Why: "Keep apiVersion v1 and only the keys nginx-meshctl's schema lists for " + authority + ". Vault's PKI mount " +
			"cannot be set through nginx-meshctl: mount the PKI engine at \"pki\".",
		File:   path,
		Verify: verify,
	}
	if ok {
		step.Diff, step.Commands, step.Changes = y.diff.String(), editFileCommands(path, y), []string{path, path + ".bak"}
		step = redeploy(f, step)
	} else {
		step.Diff, step.Manual = upstreamDiff(u, authority), why
	}
	return on(HostCluster, step)
}

// upstreamEdits are the line edits that correct the configuration, or why it needs the
// user: values only they know, or a shape a line edit cannot change.
func upstreamEdits(in *mesh.Input, u *upstreamConf) (*yamlEdit, string, bool) {
	y := &yamlEdit{}
	const shape = "the file is not block-style YAML a line edit can correct"
	root := firstDoc(in)
	if in.Error != nil || root == nil || root.Kind != probes.NodeMap {
		return nil, "the file does not parse as a mapping; the evidence names the position", false
	}
	for _, e := range root.Entries {
		if !slices.Contains([]string{"apiVersion", "upstreamAuthority", "config"}, e.Key) && !y.remove(&e, 0) {
			return nil, shape, false
		}
	}
	if u.writtenVersion != "v1" && !y.set(root, []string{"apiVersion"}, "v1") {
		return nil, shape, false
	}
	if u.authority == "" {
		return nil, "which upstream authority the mesh uses (disk, aws_pca, awssecret, vault, cert-manager) is yours to say", false
	}
	ce := root.Get("config")
	if ce == nil || ce.Value.Kind != probes.NodeMap {
		return nil, "config needs the " + u.authority + " authority's settings, which are yours to fill in", false
	}
	sh := authorityShape(u.authority)
	for _, e := range ce.Value.Entries {
		fd, known := sh.field(e.Key)
		switch {
		case !known || fd.dropped != "":
			if !y.remove(&e, ce.Line) {
				return nil, shape, false
			}
		case e.Value.TypeName() != fd.typ || fd.sub != nil && len(validateShape(in.Path, e.Value, fd.sub, "config."+e.Key)) > 0:
			return nil, "config." + e.Key + " needs a value only you know", false
		}
	}
	for _, k := range sh.required {
		if ce.Value.Get(k) != nil {
			continue
		}
		ph := map[string]string{"cert_file_path": "<mesh-ca-cert-path>", "key_file_path": "<mesh-ca-key-path>"}[k]
		if u.authority != "disk" || ph == "" {
			return nil, "config." + k + " is required and only you know its value", false
		}
		if !y.set(root, []string{"config", k}, ph) {
			return nil, shape, false
		}
	}
	if len(sh.oneOf) > 0 && len(validateShape(in.Path, ce.Value, &uaShape{oneOf: sh.oneOf}, "config")) > 0 {
		return nil, "which of " + strings.Join(sh.oneOf, ", ") + " Vault authenticates with is yours to say", false
	}
	if len(y.exprs) == 0 {
		return nil, "the configuration fits another authority's settings; which authority the mesh uses is yours to say", false
	}
	return y, "", true
}

// upstreamTemplates are minimal valid configurations per authority, after the document's
// own examples (values in <> are placeholders).
var upstreamTemplates = map[string][]string{
	"disk": {"cert_file_path: /path/to/intermediateCA.crt", "key_file_path: /path/to/intermediateCA.key",
		"bundle_file_path: /path/to/rootCA.crt"},
	"aws_pca":   {"region: <region>", "certificate_authority_arn: arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>"},
	"awssecret": {"region: <region>", "cert_file_arn: arn:aws:secretsmanager:<region>:<account>:secret:<cert>", "key_file_arn: arn:aws:secretsmanager:<region>:<account>:secret:<key>"},
	"vault": {"vault_addr: https://<vault-host>:8200", "namespace: <namespace>", "ca_cert_path: /path/to/vault-ca.crt",
		"token_auth:", "  token: <token>"},
	"cert-manager": {"namespace: <namespace>", "issuer_name: <issuer>"},
}

// upstreamDiff replaces the file's config with the authority's keys: the values already
// there for keys the authority takes, placeholders for the required ones missing.
func upstreamDiff(u *upstreamConf, authority string) string {
	var b strings.Builder
	if u != nil && u.config != nil && u.config.Kind == probes.NodeMap {
		b.WriteString(replaced("apiVersion", u.writtenVersion, "v1") + replaced("upstreamAuthority", u.writtenAuthority, authority) + " config:\n")
		shape := authorityShape(authority)
		kept := map[string]bool{}
		for _, e := range u.config.Entries {
			fd, known := shape.field(e.Key)
			v, scalar := e.Value.Text()
			switch {
			case known && fd.dropped == "" && fd.sub == nil && scalar && e.Value.TypeName() == fd.typ && !fd.secret:
				b.WriteString("   " + e.Key + ": " + v + "\n")
				kept[e.Key] = true
			case known && fd.secret && e.Value.TypeName() == fd.typ:
				b.WriteString("   " + e.Key + ": <unchanged>\n")
				kept[e.Key] = true
			case known && fd.sub != nil && fd.dropped == "":
				b.WriteString("   " + e.Key + ": <unchanged>\n")
				kept[e.Key] = true
			default:
				if scalar && !fd.secret {
					b.WriteString("-  " + e.Key + ": " + v + "\n")
				} else {
					b.WriteString("-  " + e.Key + ": ...\n")
				}
			}
		}
		for _, line := range upstreamTemplates[authority] {
			k, _, _ := strings.Cut(strings.TrimSpace(line), ":")
			if !kept[k] && !strings.HasPrefix(line, "  ") && slices.Contains(shape.required, k) {
				b.WriteString("+  " + line + "\n")
			}
		}
		return b.String()
	}
	b.WriteString("+apiVersion: v1\n+upstreamAuthority: " + authority + "\n+config:\n")
	for _, line := range upstreamTemplates[authority] {
		b.WriteString("+  " + line + "\n")
	}
	return b.String()
}

// replaced is a diff line for a top-level key: context when it already has want.
func replaced(key, had, want string) string {
	switch had {
	case want:
		return " " + key + ": " + want + "\n"
	case "":
		return "+" + key + ": " + want + "\n"
	}
	return "-" + key + ": " + had + "\n+" + key + ": " + want + "\n"
}
