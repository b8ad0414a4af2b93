package diagnostics

import (
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// MeshCatalog returns the NGINX Service Mesh checks (`mtls-doctor mesh`) in display order:
// the upstream authority configuration, the upstream CA files and certificates SPIRE will
// use, the mesh's mTLS settings, and the workloads' mTLS annotations. The agent-side
// DefaultCatalog does not include them. Each call builds a fresh catalog.
func MeshCatalog() Catalog {
	var c Catalog
	for _, group := range [][]Check{meshUpstreamChecks(), meshCAChecks(), meshSettingChecks(), meshAnnotationChecks()} {
		c = append(c, group...)
	}
	return c
}

// Sources the mesh checks cite in Why texts and comments.
const (
	srcUpstreamSchema = "nginx-service-mesh api/upstream-ca-validation.json"
	srcUpstreamGo     = "nginx-service-mesh internal/nginx-meshctl/upstreamauthority"
	srcSpireDisk      = "SPIRE v1.5.6 pkg/server/plugin/upstreamauthority/disk/disk.go"
	srcValuesSchema   = "nginx-service-mesh helm-chart/values.schema.json"
	srcMeshDoc        = "NGINX Service Mesh \"Secure Mesh Traffic using mTLS\""
)

// Names the playbooks use when the inputs do not say: the mesh's default namespace and
// MeshConfig (NGINX Service Mesh docs, reference/api-usage.md).
const (
	meshNamespace      = "nginx-mesh"
	meshConfigResource = "nginx-mesh-config"
)

// meshWhere formats where a value is written: "file:line:col".
func meshWhere(file string, line, col int) string {
	switch {
	case line <= 0:
		return file
	case col <= 0:
		return fmt.Sprintf("%s:%d", file, line)
	}
	return fmt.Sprintf("%s:%d:%d", file, line, col)
}

// shellQuote quotes s for a POSIX shell: single quotes, with embedded ones closed and
// escaped. Playbook commands quote every path and value they take from the inputs.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// meshInputError is the first read or syntax error among the inputs a check reads, worded
// for a summary; "" when they all parsed.
func meshInputError(ins ...*mesh.Input) (*probes.ConfigError, bool) {
	for _, in := range ins {
		if in != nil && in.Error != nil {
			return in.Error, true
		}
	}
	return nil, false
}

// configErrorText words a ConfigError with its position.
func configErrorText(e *probes.ConfigError) string {
	return meshWhere(e.Path, e.Line, e.Column) + ": " + e.Message
}

// firstDoc is the first document of an input, or nil.
func firstDoc(in *mesh.Input) *probes.Node {
	if in == nil || len(in.Docs) == 0 {
		return nil
	}
	return in.Docs[0]
}

// scalarText is a scalar's value, "" for anything else.
func scalarText(n *probes.Node) string {
	v, _ := n.Text()
	return v
}

// valueAt is the value at a key path, nil when absent.
func valueAt(n *probes.Node, path ...string) *probes.Node {
	if e := n.Lookup(path...); e != nil {
		return e.Value
	}
	return nil
}

// yaml11Bools reports whether YAML 1.1 reads the plain scalar v as a boolean.
func yaml11Bools(v string) bool {
	switch strings.ToLower(v) {
	case "y", "yes", "n", "no", "on", "off", "true", "false":
		return true
	}
	return false
}
