package gather

import (
	"context"
	"errors"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// gatherUpstreams reads the upstream links of the NGINX configuration already gathered,
// with their files, and unless Offline probes every upstream server as NGINX connects.
func (c *Collector) gatherUpstreams(ctx context.Context, f *diagnostics.Facts) error {
	if f.Nginx == nil || f.Nginx.Config == nil {
		return errors.New("no NGINX configuration was read")
	}
	uf := probes.LoadUpstreams(f.Nginx.Config, f.Nginx.HTTPServers, f.Nginx.Version)
	probes.FindLocalTerminators(uf, f.Nginx.HTTPServers, f.Nginx.Servers)
	if !c.Options.Offline {
		probes.ProbeUpstreams(ctx, uf, probes.UpstreamProbeOptions{
			Timeout:     c.Options.Timeout,
			Concurrency: c.Options.UpstreamConcurrency,
		})
	}
	f.Upstreams = uf
	return nil
}
