package mesh

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

// Options name the inputs; at least one of the files must be given.
type Options struct {
	// UpstreamCAConf is the file given to `nginx-meshctl deploy --mtls-upstream-ca-conf`.
	UpstreamCAConf string
	// MeshConfig is `nginx-meshctl config` output or a MeshConfig resource; "-" reads Stdin.
	MeshConfig string
	// Stdin is read when MeshConfig is "-".
	Stdin io.Reader
	// Values is a Helm values file (the deploy settings).
	Values string
	// Manifests are Kubernetes manifests whose pod templates carry mTLS annotations.
	Manifests []string
	// Dir is where relative paths inside the upstream authority configuration resolve, as
	// nginx-meshctl resolves them against its working directory; "" means the current one.
	Dir string
}

// HasInput reports whether any input is named.
func (o Options) HasInput() bool {
	return o.UpstreamCAConf != "" || o.MeshConfig != "" || o.Values != "" || len(o.Manifests) > 0
}

// StdinName is how standard input is named in findings.
const StdinName = "stdin"

// Input is one file as read and parsed.
type Input struct {
	// Path is the file as given ("stdin" for -).
	Path string
	// Docs are its documents (YAML) or values (JSON), in order.
	Docs []*probes.Node
	// Error says why the file could not be read or parsed; Docs is then empty.
	Error *probes.ConfigError
}

// Role says what a CA file is to the mesh.
type Role string

const (
	// RoleUpstreamCert is the upstream CA certificate SPIRE signs its own CA with (disk).
	RoleUpstreamCert Role = "upstream-cert"
	// RoleUpstreamKey is that certificate's private key (disk).
	RoleUpstreamKey Role = "upstream-key"
	// RoleBundle holds the certificates above the upstream CA, up to the root (disk's
	// bundle_file_path, aws_pca's supplemental_bundle_path).
	RoleBundle Role = "bundle"
	// RoleVaultCA is the CA certificate SPIRE verifies the Vault server with.
	RoleVaultCA Role = "vault-ca"
	// RoleClientCert and RoleClientKey are Vault's cert_auth client credentials.
	RoleClientCert Role = "client-cert"
	RoleClientKey  Role = "client-key"
)

// CAFile is one certificate, key or bundle the mesh settings name, with where it is named.
type CAFile struct {
	Role Role
	// Source is the settings file that names it, and Key the YAML path of the setting
	// ("config.cert_file_path", "mtls.upstreamAuthority.disk.cert").
	Source string
	Key    string
	// Line and Column are where the setting's value is written.
	Line, Column int
	// Written is the path as written; "" when the setting holds the PEM text itself
	// (Helm values).
	Written string
	// File is what was found: for a path, the file read; for inline text, its parse.
	File *probes.FileFacts
}

// Facts are the mesh inputs as read.
type Facts struct {
	// Dir is the directory relative paths were resolved against.
	Dir        string
	Upstream   *Input
	MeshConfig *Input
	Values     *Input
	Manifests  []*Input
	// CAFiles are the files and inline PEM texts the upstream authority settings name.
	CAFiles []CAFile
}

// upstreamFileKeys are the settings of --mtls-upstream-ca-conf that name files
// nginx-meshctl reads (internal/nginx-meshctl/upstreamauthority/*.go: readCertFiles).
var upstreamFileKeys = []struct {
	path []string
	role Role
}{
	{[]string{"config", "cert_file_path"}, RoleUpstreamCert},
	{[]string{"config", "key_file_path"}, RoleUpstreamKey},
	{[]string{"config", "bundle_file_path"}, RoleBundle},
	{[]string{"config", "supplemental_bundle_path"}, RoleBundle},
	{[]string{"config", "ca_cert_path"}, RoleVaultCA},
	{[]string{"config", "cert_auth", "client_cert_path"}, RoleClientCert},
	{[]string{"config", "cert_auth", "client_key_path"}, RoleClientKey},
}

// valuesPEMKeys are the Helm values that carry PEM text (helm-chart/values.schema.json,
// mtls.upstreamAuthority).
var valuesPEMKeys = []struct {
	path []string
	role Role
}{
	{[]string{"mtls", "upstreamAuthority", "disk", "cert"}, RoleUpstreamCert},
	{[]string{"mtls", "upstreamAuthority", "disk", "key"}, RoleUpstreamKey},
	{[]string{"mtls", "upstreamAuthority", "disk", "bundle"}, RoleBundle},
	{[]string{"mtls", "upstreamAuthority", "awsPCA", "supplementalBundle"}, RoleBundle},
	{[]string{"mtls", "upstreamAuthority", "vault", "caCert"}, RoleVaultCA},
	{[]string{"mtls", "upstreamAuthority", "vault", "certAuth", "clientCert"}, RoleClientCert},
	{[]string{"mtls", "upstreamAuthority", "vault", "certAuth", "clientKey"}, RoleClientKey},
}

// Load reads every input named in o. A file that cannot be read or parsed is recorded in
// its Input; Load fails only when no input is named.
func Load(o Options) (*Facts, error) {
	if !o.HasInput() {
		return nil, errors.New("no mesh input: give --upstream-ca-conf, --mesh-config, --values or -f")
	}
	f := &Facts{Dir: o.Dir}
	if f.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("working directory: %w", err)
		}
		f.Dir = wd
	}
	if o.UpstreamCAConf != "" {
		f.Upstream = readInput(o.UpstreamCAConf, nil)
		f.CAFiles = append(f.CAFiles, f.upstreamFiles()...)
	}
	if o.MeshConfig != "" {
		f.MeshConfig = readInput(o.MeshConfig, o.Stdin)
	}
	if o.Values != "" {
		f.Values = readInput(o.Values, nil)
		f.CAFiles = append(f.CAFiles, valuesPEMs(f.Values)...)
	}
	for _, m := range o.Manifests {
		f.Manifests = append(f.Manifests, readInput(m, o.Stdin))
	}
	return f, nil
}

// readInput reads and parses one file; "-" reads stdin.
func readInput(path string, stdin io.Reader) *Input {
	in := &Input{Path: path}
	var data []byte
	var err error
	if path == "-" {
		in.Path = StdinName
		if stdin == nil {
			stdin = os.Stdin
		}
		data, err = readCapped(stdin)
	} else {
		data, err = probes.ReadConfigFile(path)
	}
	if err != nil {
		in.Error = &probes.ConfigError{Path: in.Path, Message: osMessage(err)}
		return in
	}
	in.Docs, in.Error = probes.ParseDocuments(in.Path, data)
	return in
}

// maxStdinBytes is the limit ReadConfigFile applies to files.
const maxStdinBytes = 1 << 20

func readCapped(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxStdinBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStdinBytes {
		return nil, fmt.Errorf("input too large: more than %d bytes", maxStdinBytes)
	}
	return data, nil
}

// osMessage drops the path the error repeats ("open x: no such file" → "no such file").
func osMessage(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// upstreamFiles loads the files the upstream authority configuration names, resolving
// relative paths against Dir as nginx-meshctl's os.ReadFile does against its working
// directory.
func (f *Facts) upstreamFiles() []CAFile {
	if f.Upstream == nil || len(f.Upstream.Docs) == 0 {
		return nil
	}
	doc := f.Upstream.Docs[0] // sigs.k8s.io/yaml converts the first document only
	var out []CAFile
	for _, k := range upstreamFileKeys {
		e := doc.Lookup(k.path...)
		if e == nil {
			continue
		}
		written, ok := e.Value.Text()
		if !ok || written == "" {
			continue
		}
		path := written
		if !filepath.IsAbs(path) {
			path = filepath.Join(f.Dir, path)
		}
		out = append(out, CAFile{Role: k.role, Source: f.Upstream.Path, Key: joinKey(k.path),
			Line: e.Value.Line, Column: e.Value.Column, Written: written,
			File: probes.LoadTLSFile(fileRole(k.role), path)})
	}
	return out
}

// valuesPEMs parses the PEM texts a Helm values file carries.
func valuesPEMs(in *Input) []CAFile {
	if in == nil || len(in.Docs) == 0 {
		return nil
	}
	var out []CAFile
	for _, k := range valuesPEMKeys {
		e := in.Docs[0].Lookup(k.path...)
		if e == nil {
			continue
		}
		text, ok := e.Value.Text()
		if !ok || text == "" {
			continue
		}
		ff := probes.ParsePEMOrDER(fileRole(k.role), []byte(text))
		ff.Path, ff.Exists = in.Path+":"+joinKey(k.path), true
		out = append(out, CAFile{Role: k.role, Source: in.Path, Key: joinKey(k.path),
			Line: e.Value.Line, Column: e.Value.Column, File: &ff})
	}
	return out
}

func fileRole(r Role) probes.FileRole {
	switch r {
	case RoleUpstreamKey, RoleClientKey:
		return probes.RoleKey
	case RoleBundle, RoleVaultCA:
		return probes.RoleCA
	}
	return probes.RoleCert
}

func joinKey(path []string) string { return strings.Join(path, ".") }
