package diagnostics

import (
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// FactKind names one kind of fact the engine can gather. Kinds are gathered in the order of
// FactOrder, because later kinds build on earlier ones (the endpoint probe needs the agent
// configuration and files).
type FactKind string

const (
	FactAgentConfig FactKind = "agent-config" // Facts.Agent
	FactAgentFiles  FactKind = "agent-files"  // Facts.Files
	FactEndpoint    FactKind = "endpoint"     // Facts.Endpoint
	FactNginx       FactKind = "nginx"        // Facts.Nginx
	FactUpstream    FactKind = "upstream"     // Facts.Upstreams
	FactLogs        FactKind = "logs"         // Facts.Logs
	FactMesh        FactKind = "mesh"         // Facts.Mesh
)

// FactOrder is the order facts are gathered in.
var FactOrder = []FactKind{FactAgentConfig, FactAgentFiles, FactEndpoint, FactNginx, FactUpstream, FactLogs, FactMesh}

// factDeps lists the kinds a kind's gathering reads.
var factDeps = map[FactKind][]FactKind{
	FactAgentFiles: {FactAgentConfig},
	FactEndpoint:   {FactAgentConfig, FactAgentFiles},
	FactNginx:      {FactAgentConfig}, // the agents' port picks agent-facing servers
	FactUpstream:   {FactNginx},       // the links are read from NGINX's configuration
	// log.path and error_log/access_log name the files; after the probe, so that NGINX's
	// line for the probe's own request is read (liveVerdict).
	FactLogs: {FactAgentConfig, FactNginx, FactEndpoint},
}

// Thresholds tune the expiry checks.
type Thresholds struct {
	// WarnDays: a certificate with fewer days left is a warning (default 30).
	WarnDays int
	// CritDays: fewer days left is a failure (default 7).
	CritDays int
	// WarnPercent: less than this share of the lifetime left is a warning, so short-lived
	// certificates (hours or days) are judged by their own scale (default 20).
	WarnPercent int
	// MaxSkew is the largest tolerated difference between our clock and the server's
	// Date header (default 5 minutes).
	MaxSkew time.Duration
}

// DefaultThresholds are the documented defaults of --warn-days, --crit-days and friends.
func DefaultThresholds() Thresholds {
	return Thresholds{WarnDays: 30, CritDays: 7, WarnPercent: 20, MaxSkew: 5 * time.Minute}
}

// Facts is everything the checks judge. A nil field means that kind was not gathered
// (not needed, or its gathering failed: see Errors).
type Facts struct {
	// Now is the instant every time-dependent check uses.
	Now time.Time
	// Thresholds tune expiry and skew checks.
	Thresholds Thresholds

	Agent    *probes.AgentConfig
	Files    *probes.AgentFiles
	Endpoint *probes.EndpointReport
	// Nginx is the manager side: the NGINX configuration agents connect through.
	Nginx *probes.NginxFacts
	// Upstreams are NGINX's upstream TLS links (proxy_pass https://, grpc_pass grpcs://):
	// their settings, files and a probe of each upstream server.
	Upstreams *probes.UpstreamFacts
	// Logs is what NGINX and the agent logged in the --since window, classified.
	Logs *logparse.Report
	// Mesh is NGINX Service Mesh's settings and upstream CA files (`mtls-doctor mesh`).
	Mesh *mesh.Facts

	// Errors records why a kind could not be gathered.
	Errors map[FactKind]string
}

// Has reports whether kind was gathered.
func (f *Facts) Has(kind FactKind) bool {
	switch kind {
	case FactAgentConfig:
		return f.Agent != nil
	case FactAgentFiles:
		return f.Files != nil
	case FactEndpoint:
		return f.Endpoint != nil
	case FactNginx:
		return f.Nginx != nil
	case FactUpstream:
		return f.Upstreams != nil
	case FactLogs:
		return f.Logs != nil
	case FactMesh:
		return f.Mesh != nil
	}
	return false
}

// clear forgets kind so a re-run gathers it afresh.
func (f *Facts) clear(kind FactKind) {
	switch kind {
	case FactAgentConfig:
		f.Agent = nil
	case FactAgentFiles:
		f.Files = nil
	case FactEndpoint:
		f.Endpoint = nil
	case FactNginx:
		f.Nginx = nil
	case FactUpstream:
		f.Upstreams = nil
	case FactLogs:
		f.Logs = nil
	case FactMesh:
		f.Mesh = nil
	}
	delete(f.Errors, kind)
}

// take copies kind's field from src.
func (f *Facts) take(kind FactKind, src *Facts) {
	switch kind {
	case FactAgentConfig:
		f.Agent = src.Agent
	case FactAgentFiles:
		f.Files = src.Files
	case FactEndpoint:
		f.Endpoint = src.Endpoint
	case FactNginx:
		f.Nginx = src.Nginx
	case FactUpstream:
		f.Upstreams = src.Upstreams
	case FactLogs:
		f.Logs = src.Logs
	case FactMesh:
		f.Mesh = src.Mesh
	}
}

// snapshot is a copy of f for one gatherer to read and fill while others run.
func (f *Facts) snapshot() *Facts {
	c := *f
	c.Errors = make(map[FactKind]string, len(f.Errors))
	for k, v := range f.Errors {
		c.Errors[k] = v
	}
	return &c
}

// adopt takes from work every kind it gathered that f does not have yet: the kind a
// gatherer was started for, and any it filled on the way (the agent-config gatherer reads
// NGINX's configuration to tell a manager-only host).
func (f *Facts) adopt(work *Facts) {
	for _, k := range FactOrder {
		if work.Has(k) && !f.Has(k) {
			f.take(k, work)
		}
	}
}
