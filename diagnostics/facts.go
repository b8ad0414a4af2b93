package diagnostics

import (
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// FactKind names one kind of fact the engine can gather. Kinds are gathered in the order of
// FactOrder, because later kinds build on earlier ones (the endpoint probe needs the agent
// configuration).
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

// factKinds is every fact kind in the order facts are gathered in, with the kinds its
// gathering reads and the Facts field it fills. Adding a kind is one entry here (plus its
// constant and its Facts field).
var factKinds = []struct {
	kind  FactKind
	deps  []FactKind
	field factField
}{
	{FactAgentConfig, nil, fieldOf(func(f *Facts) **probes.AgentConfig { return &f.Agent })},
	// The probe loads the agent's key pair itself (as the agent does), so it starts beside
	// the file checks' loading instead of after it. It is started first of the kinds that
	// need only the agent's configuration: it mostly waits on the network, the others use
	// the CPU, and a goroutine started before them runs first on a free processor, so its
	// dial is not queued behind their parsing (2–3 ms later on a 2-core host otherwise).
	{FactEndpoint, []FactKind{FactAgentConfig}, fieldOf(func(f *Facts) **probes.EndpointReport { return &f.Endpoint })},
	{FactAgentFiles, []FactKind{FactAgentConfig}, fieldOf(func(f *Facts) **probes.AgentFiles { return &f.Files })},
	// The agents' port picks the agent-facing servers.
	{FactNginx, []FactKind{FactAgentConfig}, fieldOf(func(f *Facts) **probes.NginxFacts { return &f.Nginx })},
	// The links are read from NGINX's configuration.
	{FactUpstream, []FactKind{FactNginx}, fieldOf(func(f *Facts) **probes.UpstreamFacts { return &f.Upstreams })},
	// log.path and error_log/access_log name the files; after the probe, so that NGINX's
	// line for the probe's own request is read (liveVerdict).
	{FactLogs, []FactKind{FactAgentConfig, FactNginx, FactEndpoint}, fieldOf(func(f *Facts) **logparse.Report { return &f.Logs })},
	{FactMesh, nil, fieldOf(func(f *Facts) **mesh.Facts { return &f.Mesh })},
}

// FactOrder is the order facts are gathered in.
var FactOrder = func() []FactKind {
	out := make([]FactKind, len(factKinds))
	for i, k := range factKinds {
		out[i] = k.kind
	}
	return out
}()

// factDeps lists the kinds a kind's gathering reads.
var factDeps = func() map[FactKind][]FactKind {
	out := make(map[FactKind][]FactKind, len(factKinds))
	for _, k := range factKinds {
		if len(k.deps) > 0 {
			out[k.kind] = k.deps
		}
	}
	return out
}()

// factField reads, clears and copies the Facts field of one kind.
type factField struct {
	has   func(f *Facts) bool
	clear func(f *Facts)
	take  func(dst, src *Facts)
}

// fieldOf is the factField of the pointer field ptr returns.
func fieldOf[T any](ptr func(f *Facts) **T) factField {
	return factField{
		has:   func(f *Facts) bool { return *ptr(f) != nil },
		clear: func(f *Facts) { *ptr(f) = nil },
		take:  func(dst, src *Facts) { *ptr(dst) = *ptr(src) },
	}
}

// fieldFor returns kind's field; ok is false for a kind the table does not know.
func fieldFor(kind FactKind) (factField, bool) {
	for _, k := range factKinds {
		if k.kind == kind {
			return k.field, true
		}
	}
	return factField{}, false
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
	fd, ok := fieldFor(kind)
	return ok && fd.has(f)
}

// clear forgets kind so a re-run gathers it afresh.
func (f *Facts) clear(kind FactKind) {
	if fd, ok := fieldFor(kind); ok {
		fd.clear(f)
	}
	delete(f.Errors, kind)
}

// take copies kind's field from src.
func (f *Facts) take(kind FactKind, src *Facts) {
	if fd, ok := fieldFor(kind); ok {
		fd.take(f, src)
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
