// Package gather gathers live facts for the diagnostics engine: it is the one place where
// the probes are composed into a diagnostics.Facts, shared by `--check` and the TUI.
//
// It sits above probes (it imports diagnostics for the Facts type), so nothing in probes or
// logparse may import it.
package gather

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// Options configure a Collector.
type Options struct {
	// Agent controls agent configuration discovery (paths, env, flag overrides).
	Agent probes.AgentConfigOptions
	// Timeout bounds each network step of the endpoint probe (default 5s).
	Timeout time.Duration
	// Nginx controls the manager-side NGINX discovery (--nginx-config, --nginx-prefix).
	Nginx probes.NginxOptions
	// Logs controls log reading (--logs, --since, --no-logs).
	Logs LogOptions
	// Offline reads NGINX's upstream links and the files they name but probes no
	// upstream server.
	Offline bool
	// UpstreamConcurrency is how many upstream servers are probed at once; zero means
	// probes.DefaultUpstreamConcurrency.
	UpstreamConcurrency int
	// SingleRun says the Collector serves one run (--check): `nginx -T` output read from
	// standard input is let go once parsed instead of kept for a re-run, so that a
	// fleet's dump (megabytes) is not held while the checks judge it.
	SingleRun bool
}

// Collector implements diagnostics.Gatherer with the real probes.
type Collector struct {
	Options Options

	stdin stdinDump // --nginx-config -: nginx -T output, read once

	mu    sync.Mutex
	build *probes.NginxBuild // nginx -V started with the run, taken by loadNginx
}

// New returns a Collector.
func New(o Options) *Collector { return &Collector{Options: o} }

// gatherers fill one fact kind each: adding a kind is one entry here.
var gatherers = map[diagnostics.FactKind]func(c *Collector, ctx context.Context, f *diagnostics.Facts) error{
	diagnostics.FactAgentConfig: (*Collector).gatherAgentConfig,
	diagnostics.FactAgentFiles:  (*Collector).gatherAgentFiles,
	diagnostics.FactEndpoint:    (*Collector).gatherEndpoint,
	diagnostics.FactNginx: func(c *Collector, ctx context.Context, f *diagnostics.Facts) error {
		f.Nginx = c.loadNginx(ctx, f)
		return nil
	},
	diagnostics.FactUpstream: (*Collector).gatherUpstreams,
	diagnostics.FactLogs:     (*Collector).gatherLogs,
}

// Gather implements diagnostics.Gatherer.
func (c *Collector) Gather(ctx context.Context, kind diagnostics.FactKind, f *diagnostics.Facts) error {
	gather, ok := gatherers[kind]
	if !ok {
		return fmt.Errorf("unknown fact kind %q", kind)
	}
	return gather(c, ctx, f)
}

// gatherAgentConfig reads the agent's configuration, or finds a manager-only host.
func (c *Collector) gatherAgentConfig(ctx context.Context, f *diagnostics.Facts) error {
	// Every run starts here (the NGINX facts depend on it). A named NGINX
	// configuration is judged, so start `nginx -V` now: it overlaps reading the
	// agent's configuration instead of following it. Discovery runs it only when the
	// configuration found may serve agents (probes.LoadNginx).
	if c.Options.Nginx.Config != "" {
		c.mu.Lock()
		c.build = probes.StartNginxBuild(ctx, c.Options.Nginx)
		c.mu.Unlock()
	}
	opts := c.Options.Agent
	if opts.WorkDir == "" && opts.FindWorkDir == nil {
		// Relative TLS paths resolve where the running agent (or its unit) works.
		opts.FindWorkDir = func(path string) probes.AgentWorkDir {
			return probes.FindAgentWorkDir(path, probes.WorkDirOptions{})
		}
	}
	cfg := probes.LoadAgentConfig(opts)
	if c.managerOnly(ctx, cfg, f) {
		return errManagerOnly
	}
	f.Agent = &cfg
	return nil
}

// gatherAgentFiles reads the TLS files the agent's configuration names.
func (c *Collector) gatherAgentFiles(_ context.Context, f *diagnostics.Facts) error {
	if f.Agent == nil {
		return errors.New("no agent configuration")
	}
	files := probes.LoadAgentFiles(*f.Agent)
	f.Files = &files
	return nil
}

// gatherEndpoint probes the management plane as the agent connects to it.
func (c *Collector) gatherEndpoint(ctx context.Context, f *diagnostics.Facts) error {
	if f.Agent == nil {
		return errors.New("no agent configuration")
	}
	addr := f.Agent.Address()
	if addr == "" {
		return errors.New("the agent configuration names no server host and port (use --server HOST:PORT)")
	}
	opts := probes.EndpointOptions{
		Address:    addr,
		ServerName: f.Agent.ServerName.Value,
		Path:       f.Agent.GRPCPath(),
		PlainText:  f.Agent.TLSEnabled.Value != "true",
		Timeout:    c.Options.Timeout,
	}
	// Offer the agent's certificate only when it loads as the agent would load it; if
	// it does not, the agent never connects and the file checks say why. It loads while
	// the probe connects, not before.
	if !opts.PlainText && f.Agent.Cert.Value != "" && f.Agent.Key.Value != "" && f.Agent.Cert.Secret == "" && f.Agent.Key.Secret == "" {
		certPath, keyPath := f.Agent.Cert.Value, f.Agent.Key.Value
		opts.LoadClientCert = func() *tls.Certificate {
			cert, err := probes.LoadClientCertificate(certPath, keyPath)
			if err != nil {
				return nil
			}
			return cert
		}
	}
	f.Endpoint = probes.ProbeEndpoint(ctx, opts)
	return nil
}
