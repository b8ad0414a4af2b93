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

// meshSettingSpec is one mesh setting: where each input holds it, the chart's default, what
// values are valid (helm-chart/values.schema.json and crds/meshconfig.yaml), and the
// nginx-meshctl deploy flag that sets it.
type meshSettingSpec struct {
	name     string
	values   []string // path in Helm values
	config   []string // path in `nginx-meshctl config` output (pkg/apis/mesh FullMeshConfig)
	resource []string // path in a MeshConfig resource (pkg/apis/mesh/v1alpha2)
	def      string
	boolean  bool
	enum     []string
	pattern  func() *regexp.Regexp
	flag     string
}

// The CRD's and values schema's patterns, verbatim: Kubernetes and gojsonschema both match
// them unanchored, as Go's MatchString does, so quirks of the caTTL alternation are kept.
var (
	caTTLPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^1[0-9]{2,5}(h)|2[4-9](h)|2[0-9][0-9]{1,5}(h)|[3-9][0-9]{1,5}(h)$`)
	})
	svidTTLPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[1-9][0-9]{0,5}(h|m)$`) })
)

var nginxLogLevels = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

var meshSettingSpecs = []meshSettingSpec{
	{name: "mtls.mode", values: []string{"mtls", "mode"}, config: []string{"mtls", "mode"}, resource: []string{"spec", "mtls", "mode"},
		def: "permissive", enum: []string{"off", "permissive", "strict"}, flag: "--mtls-mode"},
	{name: "mtls.caTTL", values: []string{"mtls", "caTTL"}, config: []string{"mtls", "caTTL"}, resource: []string{"spec", "mtls", "caTTL"},
		def: "720h", pattern: caTTLPattern, flag: "--mtls-ca-ttl"},
	{name: "mtls.svidTTL", values: []string{"mtls", "svidTTL"}, config: []string{"mtls", "svidTTL"}, resource: []string{"spec", "mtls", "svidTTL"},
		def: "1h", pattern: svidTTLPattern, flag: "--mtls-svid-ttl"},
	{name: "mtls.caKeyType", values: []string{"mtls", "caKeyType"}, config: []string{"mtls", "caKeyType"}, resource: []string{"spec", "mtls", "caKeyType"},
		def: "ec-p256", enum: []string{"ec-p256", "ec-p384", "rsa-2048", "rsa-4096"}, flag: "--mtls-ca-key-type"},
	{name: "mtls.trustDomain", values: []string{"mtls", "trustDomain"}, config: []string{"mtls", "trustDomain"},
		def: meshDefaultTrustDomain, flag: "--mtls-trust-domain"},
	{name: "mtls.spireServerKeyManager", values: []string{"mtls", "spireServerKeyManager"},
		def: "disk", enum: []string{"disk", "memory"}, flag: "--spire-server-key-manager"},
	{name: "mtls.persistentStorage", values: []string{"mtls", "persistentStorage"},
		def: "on", enum: []string{"on", "off"}, flag: "--persistent-storage"},
	{name: "enableUDP", values: []string{"enableUDP"}, config: []string{"enableUDP"}, def: "false", boolean: true, flag: "--enable-udp"},
	{name: "nginxErrorLogLevel", values: []string{"nginxErrorLogLevel"}, config: []string{"nginxErrorLogLevel"},
		resource: []string{"spec", "nginxErrorLogLevel"}, def: "warn", enum: nginxLogLevels, flag: "--nginx-error-log-level"},
}

// meshSetting is a setting's effective value and where it came from.
type meshSetting struct {
	spec  meshSettingSpec
	value string
	// file and key say where it is written; file is "" for the chart's default.
	file         string
	key          string
	line, column int
	// invalid is set when the written value is refused (mesh-setting-invalid).
	invalid bool
}

func (s meshSetting) known() bool { return s.spec.name != "" }

// where says where the value comes from, for evidence.
func (s meshSetting) where() string {
	if s.file == "" {
		return "the chart's default"
	}
	return meshWhere(s.file, s.line, s.column)
}

// meshSettings are the mesh's settings from --mesh-config, --values and the defaults.
type meshSettings struct {
	// have is false when neither --mesh-config nor --values was given.
	have     bool
	byName   map[string]meshSetting
	problems []meshProblem
	// resource names the MeshConfig resource, when --mesh-config is one.
	resourceName, resourceNamespace string
	// resourceFile and resourceRoot are the file and the MeshConfig object in it, when
	// --mesh-config is a MeshConfig resource read from a file (not stdin).
	resourceFile string
	resourceRoot *probes.Node
	valuesFile   string
	valuesRoot   *probes.Node
}

func (s *meshSettings) get(name string) meshSetting { return s.byName[name] }

// meshSettingsOf reads the settings: a MeshConfig resource or `nginx-meshctl config`
// output (the live configuration) wins over the Helm values, which win over the chart's
// defaults (helm-chart/values.yaml).
func meshSettingsOf(f *Facts) *meshSettings {
	s := &meshSettings{byName: map[string]meshSetting{}}
	if f == nil || f.Mesh == nil {
		return s
	}
	m := f.Mesh
	s.have = m.MeshConfig != nil || m.Values != nil
	for _, in := range append([]*mesh.Input{m.MeshConfig, m.Values}, m.Manifests...) {
		if in != nil && in.Error != nil {
			s.problems = append(s.problems, meshProblem{file: in.Error.Path, line: in.Error.Line, column: in.Error.Column,
				text: in.Error.Message})
		}
	}
	type layer struct {
		file   string
		root   *probes.Node
		prefix string
		path   func(meshSettingSpec) []string
	}
	var layers []layer
	if doc := firstDoc(m.Values); doc != nil {
		s.valuesFile, s.valuesRoot = m.Values.Path, doc
		if doc.Kind != probes.NodeMap {
			s.problems = append(s.problems, meshProblem{file: m.Values.Path, line: doc.Line, column: doc.Column,
				text: "Helm values must be a mapping, not " + doc.TypeName()})
		} else {
			layers = append(layers, layer{m.Values.Path, doc, "", func(sp meshSettingSpec) []string { return sp.values }})
		}
	}
	if doc := firstDoc(m.MeshConfig); doc != nil {
		if l, ok := s.meshConfigLayer(m.MeshConfig.Path, doc); ok {
			layers = append(layers, layer{m.MeshConfig.Path, l.root, l.prefix, func(sp meshSettingSpec) []string {
				if l.resource {
					return sp.resource
				}
				return sp.config
			}})
		}
	}
	for _, sp := range meshSettingSpecs {
		set := meshSetting{spec: sp, value: sp.def}
		for _, l := range layers {
			path := l.path(sp)
			if path == nil {
				continue
			}
			e := l.root.Lookup(path...)
			if e == nil || e.Value.Kind == probes.NodeNull {
				continue
			}
			set = meshSetting{spec: sp, file: l.file, key: l.prefix + strings.Join(path, "."), line: e.Value.Line, column: e.Value.Column}
			set.value, _ = e.Value.Text()
			if msg := invalidSetting(sp, e.Value); msg != "" {
				set.invalid = true
				s.problems = append(s.problems, meshProblem{file: l.file, line: e.Value.Line, column: e.Value.Column, key: set.key, text: msg})
			}
		}
		s.byName[sp.name] = set
	}
	return s
}

type meshConfigLayer struct {
	root     *probes.Node
	prefix   string
	resource bool
}

// meshConfigLayer finds the settings in --mesh-config: a MeshConfig resource (alone or
// in a List, as kubectl prints them) or the JSON `nginx-meshctl config` prints.
func (s *meshSettings) meshConfigLayer(file string, doc *probes.Node) (meshConfigLayer, bool) {
	prefix := ""
	if kind := scalarText(valueAt(doc, "kind")); kind == "List" || strings.HasSuffix(kind, "List") {
		items := valueAt(doc, "items")
		if items == nil || items.Kind != probes.NodeSeq {
			s.problems = append(s.problems, meshProblem{file: file, line: doc.Line, column: doc.Column, text: "a List without items"})
			return meshConfigLayer{}, false
		}
		i := slices.IndexFunc(items.Items, func(n *probes.Node) bool { return scalarText(valueAt(n, "kind")) == "MeshConfig" })
		if i < 0 {
			s.problems = append(s.problems, meshProblem{file: file, line: doc.Line, column: doc.Column, text: "the List holds no MeshConfig"})
			return meshConfigLayer{}, false
		}
		doc, prefix = items.Items[i], fmt.Sprintf("items[%d].", i)
	}
	switch {
	case scalarText(valueAt(doc, "kind")) == "MeshConfig":
		av := doc.Lookup("apiVersion")
		if v := scalarText(valueAt(doc, "apiVersion")); v != "nsm.nginx.com/v1alpha2" {
			p := meshProblem{file: file, line: doc.Line, column: doc.Column, key: prefix + "apiVersion",
				text: fmt.Sprintf("%q: the MeshConfig this tool knows is nsm.nginx.com/v1alpha2", v)}
			if av != nil {
				p.line, p.column = av.Value.Line, av.Value.Column
			}
			s.problems = append(s.problems, p)
			return meshConfigLayer{}, false
		}
		s.resourceName = scalarText(valueAt(doc, "metadata", "name"))
		s.resourceNamespace = scalarText(valueAt(doc, "metadata", "namespace"))
		if file != mesh.StdinName {
			s.resourceFile, s.resourceRoot = file, doc
		}
		return meshConfigLayer{root: doc, prefix: prefix, resource: true}, true
	case doc.Get("mtls") != nil:
		return meshConfigLayer{root: doc, prefix: prefix}, true
	}
	s.problems = append(s.problems, meshProblem{file: file, line: doc.Line, column: doc.Column,
		text: "neither a MeshConfig resource nor `nginx-meshctl config` output (no kind: MeshConfig, no mtls key)"})
	return meshConfigLayer{}, false
}

// invalidSetting says why n is not a valid value for sp, "" when it is.
func invalidSetting(sp meshSettingSpec, n *probes.Node) string {
	if sp.boolean {
		if n.TypeName() != "boolean" {
			return fmt.Sprintf("must be a boolean, not %s", n.TypeName())
		}
		return ""
	}
	if n.TypeName() != "string" {
		return fmt.Sprintf("must be a string, not %s%s", n.TypeName(), yaml11Hint(n))
	}
	v, _ := n.Text()
	switch {
	case sp.enum != nil && !slices.Contains(sp.enum, v):
		return fmt.Sprintf("%q is not one of %s", v, strings.Join(sp.enum, ", "))
	case sp.pattern != nil && !sp.pattern().MatchString(v):
		return fmt.Sprintf("%q does not match %s", v, sp.pattern())
	}
	return ""
}

func meshSettingChecks() []Check {
	need := []FactKind{FactMesh}
	return []Check{
		{
			ID: "mesh-mtls-off", Category: CategoryMesh,
			Title: "mTLS is on in the mesh",
			Why: "With mode off the sidecars talk plaintext to each other and accept plaintext from anyone: no " +
				"workload is authenticated and nothing is encrypted (" + srcMeshDoc + ": \"Suitable only for development\").",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshOff, Fix: fixMeshMode,
		},
		{
			ID: "mesh-mtls-permissive", Category: CategoryMesh,
			Title: "mTLS is strict in the mesh",
			Why: "permissive, the default, uses mTLS between injected pods but still accepts plaintext, so a pod " +
				"outside the mesh reaches every workload unauthenticated. strict is the production mode.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshPermissive, Fix: fixMeshMode,
		},
		{
			ID: "mesh-setting-invalid", Category: CategoryMesh,
			Title: "mesh settings are valid",
			Why: "nginx-meshctl deploy and Helm check the values against the chart's schema (" + srcValuesSchema + "), and " +
				"Kubernetes checks a MeshConfig against its CRD: a mode, caTTL (24h to 999999h), svidTTL, caKeyType or " +
				"log level outside them is refused, and an unquoted off or on is a boolean to YAML 1.1.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshSettingInvalid, Fix: fixMeshSettingInvalid,
		},
		{
			ID: "mesh-key-manager-memory", Category: CategoryMesh,
			Title: "the mesh keeps its root when SPIRE restarts (disk key manager, or an upstream CA)",
			Why: "The memory key manager loses SPIRE's signing keys when the SPIRE server restarts. Without an upstream " +
				"CA the mesh then has a new root: every agent must be restarted and every workload certificate re-minted. " +
				"With an upstream CA the new keys chain to the same root.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshKeyManager, Fix: fixMeshKeyManager,
		},
		{
			ID: "mesh-udp-plaintext", Category: CategoryMesh,
			Title: "no UDP traffic bypasses mTLS",
			Why: "NGINX Service Mesh does not support mTLS for UDP: with enableUDP the sidecars proxy UDP datagrams " +
				"in plaintext even when mTLS is strict (" + srcMeshDoc + ").",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshUDP, Fix: fixMeshUDP,
		},
		{
			ID: "mesh-log-level-hides-mtls", Category: CategoryMesh,
			Title: "sidecars log why they reject a certificate",
			Why: "A sidecar answers a request with a bad client certificate with 400 Bad Request and logs the reason " +
				"at info level; the chart's default nginxErrorLogLevel, warn, hides it.",
			Needs: need, Subject: meshSettingsSubject, Evaluate: evalMeshLogLevel, Fix: fixMeshLogLevel,
		},
	}
}

// givenSetting returns the mesh settings and the setting called name, or, with ok false,
// the skip when no settings were given or that setting was refused (see mesh-setting-invalid).
func givenSetting(f *Facts, name string) (s *meshSettings, set meshSetting, skip Result, ok bool) {
	s = meshSettingsOf(f)
	if !s.have {
		return s, set, Skip("skipped: no mesh settings given (--mesh-config or --values)"), false
	}
	set = s.get(name)
	if r, skipped := settingSkip(set); skipped {
		return s, set, r, false
	}
	return s, set, Result{}, true
}

// settingSkip skips a check whose setting was refused.
func settingSkip(set meshSetting) (Result, bool) {
	if set.invalid {
		return Skip("skipped: %s is invalid (see mesh-setting-invalid)", set.spec.name), true
	}
	return Result{}, false
}

func meshSettingNote(set meshSetting) Evidence {
	v := set.value
	if set.file != "" {
		return Note(set.where(), "%s: %s", set.key, v)
	}
	return Note(set.where(), "%s: %s (not set in the inputs)", set.spec.name, v)
}

func evalMeshOff(f *Facts) Result {
	_, mode, skip, ok := givenSetting(f, "mtls.mode")
	if !ok {
		return skip
	}
	if mode.value == "off" {
		return Fail("mTLS is off: sidecars talk plaintext and authenticate no one").Because(CauseMTLSOff).With(meshSettingNote(mode))
	}
	return OK("mTLS mode is %s", mode.value).With(meshSettingNote(mode))
}

func evalMeshPermissive(f *Facts) Result {
	_, mode, skip, ok := givenSetting(f, "mtls.mode")
	if !ok {
		return skip
	}
	switch mode.value {
	case "permissive":
		how := ""
		if mode.file == "" {
			how = " (the default)"
		}
		return Warn("mTLS is permissive%s: workloads still accept plaintext from outside the mesh", how).Because(CauseMTLSPermissive).With(meshSettingNote(mode))
	case "off":
		return Skip("skipped: mTLS is off (see mesh-mtls-off)")
	}
	return OK("mTLS is strict").With(meshSettingNote(mode))
}

func evalMeshSettingInvalid(f *Facts) Result {
	s := meshSettingsOf(f)
	if !s.have && len(s.problems) == 0 {
		return Skip("skipped: no mesh settings or manifests given (--mesh-config, --values, -f)")
	}
	if len(s.problems) > 0 {
		first := s.problems[0]
		text := first.text
		if first.key != "" {
			text = first.key + ": " + text
		}
		return Fail("%s: %s", meshWhere(first.file, first.line, first.column), text).Because(CauseConfigInvalid).With(problemsEvidence(s.problems)...)
	}
	var set []string
	for _, sp := range meshSettingSpecs {
		if v := s.get(sp.name); v.file != "" {
			set = append(set, sp.name)
		}
	}
	if len(set) == 0 {
		return OK("no mesh setting is set; the chart's defaults apply")
	}
	return OK("%s valid", joinNames(set, 4)+Plural(len(set), " setting")[1:]+" are")
}

// hasUpstreamCA reports whether the mesh has an upstream authority: a configuration file,
// or one in the Helm values.
func hasUpstreamCA(f *Facts) (bool, string) {
	if f.Mesh.Upstream != nil {
		return true, f.Mesh.Upstream.Path
	}
	if e := firstDoc(f.Mesh.Values).Lookup("mtls", "upstreamAuthority"); e != nil && e.Value.Kind == probes.NodeMap && len(e.Value.Entries) > 0 {
		return true, meshWhere(f.Mesh.Values.Path, e.Line, e.Column) + " mtls.upstreamAuthority"
	}
	return false, ""
}

func evalMeshKeyManager(f *Facts) Result {
	s := meshSettingsOf(f)
	km := s.get("mtls.spireServerKeyManager")
	if r, skip := settingSkip(km); skip {
		return r
	}
	upstream, where := hasUpstreamCA(f)
	switch {
	case !s.have && !upstream:
		return Skip("skipped: no mesh settings given (--values)")
	case km.value != "memory":
		return OK("SPIRE keeps its keys on disk (%s)", km.where()).With(meshSettingNote(km))
	case upstream:
		return OK("memory key manager with an upstream CA (%s): new keys chain to the same root", where).With(meshSettingNote(km))
	}
	return Warn("the memory key manager without an upstream CA: a SPIRE server restart replaces the mesh's root").Because(CauseEphemeralRoot).With(meshSettingNote(km))
}

func evalMeshUDP(f *Facts) Result {
	s, udp, skip, ok := givenSetting(f, "enableUDP")
	if !ok {
		return skip
	}
	mode := s.get("mtls.mode")
	switch {
	case udp.value != "true":
		return OK("UDP proxying is off").With(meshSettingNote(udp))
	case mode.value == "off":
		return OK("UDP is proxied, in plaintext like everything else with mTLS off (see mesh-mtls-off)").With(meshSettingNote(udp))
	}
	return Warn("enableUDP is on: UDP datagrams travel in plaintext although mTLS is %s", mode.value).Because(CausePlaintextUDP).With(meshSettingNote(udp), meshSettingNote(mode))
}

func evalMeshLogLevel(f *Facts) Result {
	_, lvl, skip, ok := givenSetting(f, "nginxErrorLogLevel")
	if !ok {
		return skip
	}
	if slices.Index(nginxLogLevels, lvl.value) > slices.Index(nginxLogLevels, "info") {
		return Info("sidecars log at %s: the info-level reason for a rejected certificate is not logged", lvl.value).With(meshSettingNote(lvl))
	}
	return OK("sidecars log at %s, which includes why a certificate is rejected", lvl.value).With(meshSettingNote(lvl))
}
