package gather

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// LogOptions configure log reading (--logs, --since, --no-logs).
type LogOptions struct {
	// Paths are extra files to read (--logs); each line's format is detected.
	Paths []string
	// Since is the window before the run's start that is read (default DefaultSince).
	Since time.Duration
	// Disabled reads no logs (--no-logs).
	Disabled bool
	// DisabledReason replaces "not read (--no-logs)" as the log checks' skip reason when
	// something other than the flag turned the logs off (the demo).
	DisabledReason string
	// Location is the zone of NGINX error-log times, which carry none; nil means
	// time.Local (NGINX writes the host's local time).
	Location *time.Location
	// Defaults replaces DefaultLogFiles (tests point it at a temporary directory).
	Defaults []logparse.File
}

// DefaultSince is --since's default.
const DefaultSince = time.Hour

// Default log paths of the NGINX packages (nginx.org packages' nginx.conf) and of NGINX
// Agent (nginx/agent v2 nginx-agent.conf, src/core/logger/log.go).
const (
	DefaultNginxErrorLog  = "/var/log/nginx/error.log"
	DefaultNginxAccessLog = "/var/log/nginx/access.log"
	DefaultAgentLogDir    = "/var/log/nginx-agent/"
)

// DefaultLogFiles are read when no configuration names the logs: NGINX's packaged error
// and access logs, and the agent's log.
func DefaultLogFiles() []logparse.File {
	return []logparse.File{
		{Path: DefaultNginxErrorLog, Type: logparse.TypeNginxError, Origin: OriginDefault},
		{Path: DefaultNginxAccessLog, Type: logparse.TypeNginxAccess, Origin: OriginDefault},
		{Path: DefaultAgentLogDir + "agent.log", Type: logparse.TypeAgent, Origin: OriginDefault},
	}
}

// Origins of log files that no configuration names.
const (
	OriginDefault = logparse.OriginDefault
	OriginFlag    = "--logs"
)

// errLogsDisabled is the skip reason of every log check under --no-logs.
var errLogsDisabled = errors.New("not read (--no-logs)")

// gatherLogs reads the logs named by the NGINX and agent configurations gathered before,
// the defaults for what neither names, and --logs, over the window ending at f.Now.
func (c *Collector) gatherLogs(ctx context.Context, f *diagnostics.Facts) error {
	o := c.Options.Logs
	if o.Disabled {
		if o.DisabledReason != "" {
			return errors.New(o.DisabledReason)
		}
		return errLogsDisabled
	}
	since := o.Since
	if since <= 0 {
		since = DefaultSince
	}
	defaults := o.Defaults
	if defaults == nil {
		defaults = DefaultLogFiles()
	}
	files := LogFiles(f.Agent, f.Nginx, o.Paths, defaults)
	opts := logparse.Options{Now: f.Now, Since: since, Location: o.Location}
	if f.Endpoint != nil {
		// The probe's stream connections are set apart by the addresses it used.
		opts.ProbeClients = f.Endpoint.LocalAddrs
	}
	f.Logs = logparse.Scan(ctx, files, opts)
	return nil
}

// LogFiles lists the logs to read, each once:
//   - every error_log file of the NGINX configuration, with its level;
//   - the access_log files of the servers that serve agents (of every server when none
//     does), each with the log_format it is written in;
//   - the agent's log: log.path's agent.log when log.path is a directory (nginx/agent
//     src/core/logger/log.go), nothing when it is set empty (the agent then logs to stdout only);
//   - the defaults for what no configuration names;
//   - extra (--logs), parsed in any format the configuration defines.
func LogFiles(agent *probes.AgentConfig, nginx *probes.NginxFacts, extra []string, defaults []logparse.File) []logparse.File {
	var out []logparse.File
	index := map[string]int{}
	add := func(f logparse.File) {
		key := filepath.Clean(f.Path)
		if i, ok := index[key]; ok {
			prev := &out[i]
			// The most verbose level wins: lines down to it can be in the file.
			if f.Level != "" && (prev.Level == "" || logparse.LevelRank(f.Level) > logparse.LevelRank(prev.Level)) {
				prev.Level = f.Level
			}
			for _, fm := range f.Formats {
				if !hasFormat(prev.Formats, fm) {
					prev.Formats = append(prev.Formats, fm)
				}
			}
			return
		}
		index[key] = len(out)
		out = append(out, f)
	}

	var formats []*logparse.Format
	haveNginx := nginx != nil && nginx.Config != nil
	if haveNginx {
		cfg := nginx.Config
		for _, el := range cfg.ErrorLogs() {
			if el.Path == "" {
				continue // stderr, syslog:, memory:
			}
			origin := "compiled-in error_log"
			if el.Directive != nil {
				origin = "error_log at " + el.Directive.Pos()
			}
			add(logparse.File{Path: el.Path, Type: logparse.TypeNginxError, Origin: origin, Level: el.Level})
		}
		servers := make([]*nginxconf.Server, 0, len(nginx.Servers))
		for _, s := range nginx.Servers {
			servers = append(servers, s.Server)
		}
		if len(servers) == 0 {
			servers = nginx.HTTPServers
		}
		for _, s := range servers {
			for _, al := range s.AccessLogs {
				if al.Off || al.Path == "" {
					continue
				}
				origin := "compiled-in access_log"
				if al.Directive != nil {
					origin = "access_log at " + al.Directive.Pos()
				}
				f := logparse.File{Path: al.Path, Type: logparse.TypeNginxAccess, Origin: origin}
				if fm := compileFormat(cfg, al.Format); fm != nil {
					f.Formats = []*logparse.Format{fm}
					formats = appendFormat(formats, fm)
				}
				add(f)
			}
		}
	}

	haveAgent := false
	if agent != nil && agent.LogPath.IsSet() {
		haveAgent = true
		if p := agentLogFile(agent.LogPath.Value); p != "" {
			add(logparse.File{Path: p, Type: logparse.TypeAgent, Origin: "log.path in " + sourceName(agent.LogPath.Source)})
		}
	}

	for _, d := range defaults {
		switch {
		case d.Type == logparse.TypeAgent && haveAgent:
		case d.Type != logparse.TypeAgent && haveNginx:
		default:
			add(d)
		}
	}

	for _, f := range ExtraLogFiles(nginx, extra, OriginFlag) {
		add(f)
	}
	return out
}

// ExtraLogFiles are files named on the command line: each line's format is detected, and
// access lines may be in any log_format the NGINX configuration defines or a predefined one.
func ExtraLogFiles(nginx *probes.NginxFacts, paths []string, origin string) []logparse.File {
	var formats []*logparse.Format
	if nginx != nil && nginx.Config != nil {
		names := make([]string, 0)
		for name := range nginx.Config.LogFormats() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if fm := compileFormat(nginx.Config, name); fm != nil {
				formats = appendFormat(formats, fm)
			}
		}
	}
	for _, fm := range logparse.DefaultFormats {
		formats = appendFormat(formats, fm)
	}
	out := make([]logparse.File, 0, len(paths))
	for _, p := range paths {
		out = append(out, logparse.File{Path: p, Type: logparse.TypeAuto, Formats: formats, Origin: origin})
	}
	return out
}

// agentLogFile applies the agent's log.path rule: a directory (an existing one, or a path
// ending in "/") means <dir>/agent.log; anything else is the file itself; "" means stdout.
func agentLogFile(p string) string {
	if p == "" {
		return ""
	}
	if strings.HasSuffix(p, "/") {
		return filepath.Join(p, "agent.log")
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return filepath.Join(p, "agent.log")
	}
	return p
}

func sourceName(s probes.Source) string {
	switch {
	case s.Kind == probes.SourceEnv:
		return "$" + s.Name
	case s.Name != "":
		return s.Name
	}
	return string(s.Kind)
}

// compileFormat compiles a named log_format of cfg; nil when it is missing or does not
// compile (nginx -t reports that).
func compileFormat(cfg *nginxconf.Config, name string) *logparse.Format {
	lf, ok := cfg.LogFormat(name)
	if !ok {
		return nil
	}
	fm, err := logparse.CompileFormat(lf.Name, lf.Format, lf.Escape)
	if err != nil {
		return nil
	}
	return fm
}

func hasFormat(list []*logparse.Format, f *logparse.Format) bool {
	for _, x := range list {
		if x.Text == f.Text && x.Escape == f.Escape {
			return true
		}
	}
	return false
}

func appendFormat(list []*logparse.Format, f *logparse.Format) []*logparse.Format {
	if hasFormat(list, f) {
		return list
	}
	return append(list, f)
}
