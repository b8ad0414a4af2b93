package gather

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// errManagerOnly skips the agent-side checks on a host that only terminates the agents'
// connections: their skip reason reads "agent-config facts <this>".
var errManagerOnly = errors.New("not gathered: manager side only (no agent configuration on this host)")

// stdinDump holds `nginx -T` output read from standard input once, so that a re-run
// (the TUI's) parses the same configuration again.
type stdinDump struct {
	once sync.Once
	data []byte
	err  error
}

// errStdinTaken answers a second parse of standard input in a single run, which keeps
// nothing to parse again: never expected, but an empty configuration would be a false
// verdict.
var errStdinTaken = errors.New("standard input was already read and parsed in this run")

// reader returns the output to parse; keep false hands it over for the last time.
func (s *stdinDump) reader(r io.Reader, keep bool) io.Reader {
	s.once.Do(func() {
		if r == nil {
			return
		}
		s.data, s.err = nginxconf.ReadDump(r)
	})
	if s.err != nil {
		return errReader{s.err}
	}
	data := s.data
	if !keep {
		s.data, s.err = nil, errStdinTaken
	}
	return bytes.NewBuffer(data) // parsed in place: ReadDump takes a Buffer without a copy
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// managerOnly decides the role of a host without an agent configuration: a named NGINX
// configuration (--nginx-config), or a discovered one that serves the agents' gRPC paths,
// makes this a manager-side run, whose agent-side checks skip. The discovered facts are
// kept in f so they are not gathered twice.
func (c *Collector) managerOnly(ctx context.Context, cfg probes.AgentConfig, f *diagnostics.Facts) bool {
	if cfg.Path != "" || cfg.Host.IsSet() || c.Options.Agent.Path != "" {
		return false
	}
	if c.Options.Nginx.Config != "" {
		return true
	}
	n := c.loadNginx(ctx, f)
	f.Nginx = n
	return n.Manager()
}

// loadNginx gathers the NGINX facts. With an agent configuration, its port marks the
// servers agents reach; without one (a manager-side run) --cert names the agent
// certificate to judge against the configuration, with --key and --ca beside it.
func (c *Collector) loadNginx(ctx context.Context, f *diagnostics.Facts) *probes.NginxFacts {
	opts := c.Options.Nginx
	c.mu.Lock()
	opts.Build, c.build = c.build, nil
	c.mu.Unlock()
	if opts.Config == probes.StdinName {
		opts.Stdin = c.stdin.reader(opts.Stdin, !c.Options.SingleRun)
	}
	if f.Agent != nil {
		opts.AgentPort, _ = strconv.Atoi(f.Agent.Port.Value)
	} else if opts.AgentCert == "" {
		ov := c.Options.Agent.Overrides
		opts.AgentCert, opts.AgentKey, opts.AgentCA = ov.Cert, ov.Key, ov.CA
	}
	n := probes.LoadNginx(ctx, opts)
	if c.Options.SingleRun {
		tightenGC()
	}
	return n
}

// Once a fleet's configuration is parsed, the heap is mostly that tree, which lives until
// the run ends; judging it allocates only short-lived results. With Go's default GOGC=100
// the heap then grows to twice the tree before each collection, so a single run lowers
// GOGC to tightGOGC when the live heap has reached bigLiveHeap (a few thousand server
// blocks): the peak follows the configuration's size at 1.6× rather than 2× (10,000
// servers: ~80 -> ~72 MiB RSS, for a few per cent more CPU; bench/nginxconf.sh). Smaller
// configurations keep the default, under which a run seldom collects at all; a GOGC the
// user set is kept.
const (
	bigLiveHeap = 16 << 20
	tightGOGC   = 60
)

func tightenGC() {
	// runtime/metrics would say the live heap directly, but importing it costs every
	// start of the program its package initialisation (a table of ~100 descriptions,
	// ~15 KB and ~0.3 ms here), and reading it once builds another. Before the first
	// collection the live heap is unknown and the heap below the 4 MB first goal, so
	// ReadGCStats (no stop-the-world) settles a small configuration's run.
	var gcs debug.GCStats
	if debug.ReadGCStats(&gcs); gcs.NumGC == 0 {
		return
	}
	// NextGC is the goal the last collection set: live + (live + stacks + globals) ×
	// GOGC/100 (the Go GC guide, "GOGC"). At the default GOGC=100, the only one changed
	// below, half of it is the live heap plus half the (small) stacks and globals.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.NextGC/2 < bigLiveHeap {
		return
	}
	if old := debug.SetGCPercent(tightGOGC); old != 100 {
		debug.SetGCPercent(old) // the user's own GOGC, or one set before
	}
}
