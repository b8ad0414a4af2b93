package diagnostics

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

func agentConfigChecks() []Check {
	return []Check{
		{
			ID: "agent-config-missing", Category: CategoryAgentConfig,
			Title: "agent configuration file is found",
			Why: "The agent reads nginx-agent.conf from a fixed list of directories and has no flag to point " +
				"elsewhere. Without it the agent has no manager address and no certificates, so it never connects.",
			Needs:    []FactKind{FactAgentConfig},
			Evaluate: evalConfigMissing,
			Fix:      fixConfigMissing,
		},
		{
			ID: "agent-config-invalid", Category: CategoryAgentConfig,
			Title: "agent configuration parses and names the manager",
			Why: "A YAML error makes the agent exit at startup (often in a silent systemd restart loop); agent v3 " +
				"also refuses leftover v2 keys. Without server host and port the agent creates no gRPC client at all.",
			Needs:    []FactKind{FactAgentConfig},
			Evaluate: evalConfigInvalid,
			Fix:      fixConfigInvalid,
		},
		{
			ID: "agent-env-overrides", Category: CategoryAgentConfig,
			Title: "no deprecated environment variables override the agent configuration",
			Why: "Environment variables override the file, so editing nginx-agent.conf may change nothing. Agent " +
				"v2.35+ renamed the NMS_ prefix to NGINX_AGENT_ and only copies the old names with a warning.",
			Needs:    []FactKind{FactAgentConfig},
			Evaluate: evalEnvOverrides,
			Fix:      fixEnvOverrides,
		},
		{
			ID: "agent-tls-disabled", Category: CategoryAgentConfig,
			Title: "agent connects with TLS",
			Why: "With TLS off the agent speaks plaintext HTTP/2, ignores its certificate files, and cannot talk to " +
				"a TLS port at all. Against a plaintext port it works, but every command and config travels unencrypted.",
			Needs:    []FactKind{FactAgentConfig},
			Wants:    []FactKind{FactEndpoint},
			Evaluate: evalTLSDisabled,
			Fix:      fixTLSDisabled,
			LogKinds: []logparse.Kind{logparse.KindAgentTLSDisabled},
		},
		{
			ID: "agent-skip-verify", Category: CategoryAgentConfig,
			Title: "agent verifies the server certificate",
			Why: "skip_verify makes the agent accept any server certificate, which hides expired, mistrusted or " +
				"misnamed server certificates until someone turns it back on. mtls-doctor still verifies the " +
				"server itself, so the server-cert checks below show what is being hidden.",
			Needs:    []FactKind{FactAgentConfig},
			Evaluate: evalSkipVerify,
			Fix:      fixSkipVerify,
		},
		{
			ID: "agent-tls-path-relative", Category: CategoryAgentConfig,
			Title: "agent's relative TLS paths name its files",
			Why: "The agent opens a relative tls.cert, tls.key or tls.ca from its own working directory: / under " +
				"systemd unless the unit sets WorkingDirectory=, or wherever it was started by hand. The same " +
				"configuration then works from a shell and fails as a service.",
			Needs:    []FactKind{FactAgentConfig},
			Wants:    []FactKind{FactAgentFiles},
			Evaluate: evalTLSPathRelative,
			Fix:      fixTLSPathRelative,
		},
	}
}

func evalTLSPathRelative(f *Facts) Result {
	a := f.Agent
	if !tlsOn(f) {
		return noTLSSkip(f)
	}
	var written []string
	for _, st := range []probes.Setting{a.Cert, a.Key, a.CA} {
		if st.Written != "" {
			written = append(written, fmt.Sprintf("%q", st.Written))
		}
	}
	if len(written) == 0 {
		return OK("the agent's TLS paths are absolute")
	}
	dir := fmt.Sprintf("the agent's working directory %s (%s)", a.WorkDir, a.WorkDirWhy)
	if len(a.Assumed) > 0 {
		x := a.Assumed[0]
		r := Warn("%s %q is not in %s; judged %s instead, found in %s: the agent does not look there",
			x.Setting, x.Written, dir, x.Path, x.Why).Because(CauseRelativePath)
		for _, y := range a.Assumed {
			r = r.With(Note(y.Path, "%s %q: %s does not exist; %s (%s) has it", y.Setting, y.Written, y.Missing, y.Dir, y.Why))
		}
		return r
	}
	if f.Files != nil {
		for _, ff := range []*probes.FileFacts{f.Files.Cert, f.Files.Key, f.Files.CA} {
			if ff != nil && !ff.Exists && relativeNote(f, ff.Path) != "" {
				return Info("%s resolve against %s, where %s does not exist", joinNames(written, 3), dir, ff.Path)
			}
		}
	}
	return OK("%s resolve against %s", joinNames(written, 3), dir)
}

func fixTLSPathRelative(f *Facts, _ Result) []Step {
	h := hostOf(f)
	edits := []edit{{setCert, h.Cert}, {setKey, h.Key}, {setCA, h.CA}}
	if f != nil && f.Agent != nil {
		edits = edits[:0]
		for s, st := range map[agentKeyID]probes.Setting{setCert: f.Agent.Cert, setKey: f.Agent.Key, setCA: f.Agent.CA} {
			if st.Written != "" {
				edits = append(edits, edit{s, st.Value})
			}
		}
		slices.SortFunc(edits, func(a, b edit) int { return int(a.s) - int(b.s) })
	}
	return on(HostAgent, h.editStep("Write the agent's TLS paths as absolute paths",
		"An absolute path opens the same file whatever directory the agent starts in.",
		[]string{"agent-tls-path-relative", "agent-cert-file-unreadable"}, edits...))
}

// where formats a setting's provenance ("/etc/nginx-agent/nginx-agent.conf:12").
func where(s probes.Setting) string {
	switch s.Source.Kind {
	case probes.SourceEnv:
		return "environment " + s.Source.Name
	case probes.SourceFlag:
		return "flag --" + strings.TrimPrefix(s.Source.Name, "--")
	case probes.SourceDefault, "":
		return "default"
	}
	if s.Source.Line > 0 {
		return fmt.Sprintf("%s:%d", s.Source.Name, s.Source.Line)
	}
	return s.Source.Name
}

func evalConfigMissing(f *Facts) Result {
	a := f.Agent
	searched := Note("", "searched: %s", strings.Join(a.Searched, ", "))
	if e := a.Error; e != nil && e.NotRegular {
		r := Fail("%s %s is %s, not a file", configPathName(a), e.Path, notFileText(e)).Because(CauseConfigMissing)
		if e.Inside != "" {
			r = r.With(Note(e.Inside, "the directory holds nginx-agent.conf"))
		}
		return r
	}
	if a.Path != "" {
		return OK("using %s (agent %s format)", a.Path, a.Format.Title())
	}
	if a.PathGiven {
		// The path was typed, not searched for: it is the flag that is wrong.
		return Fail("--agent-config %s does not exist", strings.Join(a.Searched, ", ")).Because(CauseConfigMissing)
	}
	if a.Host.IsSet() {
		return Info("no nginx-agent.conf found; the server comes from %s", where(a.Host)).With(searched)
	}
	return Fail("no nginx-agent.conf found in %s", joinNames(a.Searched, 4)).Because(CauseConfigMissing).With(searched)
}

// configPathName names where the configuration path came from in a finding.
func configPathName(a *probes.AgentConfig) string {
	if a.PathGiven {
		return "--agent-config"
	}
	return "the agent's configuration path"
}

// notFileText says what a path that is not a regular file is instead.
func notFileText(e *probes.ConfigError) string {
	if strings.Contains(e.Message, "directory") {
		return "a directory"
	}
	return "a device, FIFO or socket"
}

// findAgentConfigCommands list the agent's own configuration locations and the file in the
// running agent's working directory, the last place agent v2 looks (nginx/agent v2
// src/core/config/defaults.go).
var findAgentConfigCommands = []string{
	"ls -l /etc/nginx-agent/ /etc/nginx-manager/ /usr/local/etc/nginx-agent/ 2>&1 || true",
	"sudo ls -l \"/proc/$(pgrep -o -x nginx-agent)/cwd/nginx-agent.conf\" 2>&1 || true",
}

// fixConfigPath is the fix of a configuration path that names nothing readable as a file:
// the path is corrected, and nothing is created or written at it.
func fixConfigPath(f *Facts) []Step {
	h := hostOf(f)
	a := f.Agent
	var bad string
	switch {
	case a.Error != nil:
		bad = a.Error.Path
	case len(a.Searched) > 0:
		bad = a.Searched[len(a.Searched)-1]
	}
	target := "<agent-config-path>"
	if a.Error != nil && a.Error.Inside != "" {
		target = a.Error.Inside
	}
	commands := append([]string{"ls -ld -- " + shellQuote(bad) + " " + shellQuote(path.Dir(bad)) + " 2>&1 || true"},
		findAgentConfigCommands...)
	if !a.PathGiven {
		// The agent's own location holds a directory or a device: only a person can say
		// what it is doing there, and the agent reads no other path.
		return []Step{{
			Title:    "Find out why " + bad + " is not a file",
			Why:      "The agent reads its configuration from " + bad + ", which is " + notFileText(a.Error) + ".",
			Commands: commands,
			Verify:   []string{"agent-config-missing", "agent-config-invalid"},
			Host:     HostAgent,
			Manual:   "what to do with what is at " + bad + " is for a person to decide",
		}}
	}
	st := Step{
		Title: "Point --agent-config at the agent's configuration file",
		Why: "mtls-doctor judges the file --agent-config names, and " + bad + " is no such file. The listing shows " +
			"the agent's own locations and the file in the running agent's working directory.",
		Commands: append(commands, h.rerunCommand(target)),
		Verify:   []string{"agent-config-missing", "agent-config-invalid"},
		Host:     HostAgent,
	}
	return []Step{st}
}

func fixConfigMissing(f *Facts, _ Result) []Step {
	if a := hostOf(f).agent; a != nil && ((a.PathGiven && a.Path == "") || (a.Error != nil && a.Error.NotRegular)) {
		return fixConfigPath(f)
	}
	h := hostOf(f)
	// Without a file the TLS paths are not known: the user names them rather than the
	// package's defaults being written as if they were there.
	if !h.CertSet {
		h.Cert, h.Key = "<agent-cert-path>", "<agent-key-path>"
	}
	if !h.CASet {
		h.CA = "<manager-ca-path>"
	}
	// The agent dials host and verifies name in the manager's certificate (server.command
	// on agent v2): an address that works here needs no DNS, and the name stays one the
	// certificate holds.
	port := h.Port
	if !h.knownPort {
		port = "<manager-port>"
	}
	edits := []edit{{setHost, h.Host}, {setPort, port}}
	if !h.knownHost {
		edits = []edit{{setHost, "<manager-ip>"}, {setPort, port}, {setServerName, "<manager-host>"}}
	}
	edits = append(edits, edit{setTLSEnable, "true"}, edit{setCert, h.Cert}, edit{setKey, h.Key}, edit{setCA, h.CA})
	h.fileOnly = true // the agent's own default location, where nothing exists
	return []Step{
		{
			Title: "Find where the agent's configuration went",
			Why:   "The package writes /etc/nginx-agent/nginx-agent.conf; a v2-to-v3 upgrade keeps the old file as nginx-agent-v2-backup.conf.",
			Commands: append(slices.Clone(findAgentConfigCommands[:1]),
				"(dpkg -L nginx-agent || rpm -ql nginx-agent) 2>/dev/null | grep '\\.conf$' || true"),
			Verify: []string{"agent-config-missing"},
			Host:   HostAgent,
		},
		h.editStep("Create "+h.Config+" with the manager's address and the agent's TLS files",
			"The agent dials the manager's address and verifies its name against the manager's certificate. "+
				"Agent v2 (NGINX Instance Manager) keys are shown; agent v3 (NGINX One) uses command.server and command.tls. "+
				"If an old file turned up in the step before, copy it back instead.",
			[]string{"agent-config-missing", "agent-config-invalid"},
			edits...),
	}
}

// configProblems lists what makes the configuration unusable, with evidence.
func configProblems(a *probes.AgentConfig) (problems []string, ev []Evidence) {
	if e := a.Error; e != nil {
		loc := e.Path
		if e.Line > 0 {
			loc = fmt.Sprintf("%s:%d", e.Path, e.Line)
			if e.Column > 0 {
				loc += fmt.Sprintf(":%d", e.Column)
			}
		}
		problems = append(problems, fmt.Sprintf("%s: %s", loc, e.Message))
		ev = append(ev, Note(loc, "%s", e.Message))
	}
	if len(a.MixedKeys) > 0 {
		other := "v3"
		if a.Format == probes.FormatV3 {
			other = "v2"
		}
		problems = append(problems, fmt.Sprintf("agent %s file holds %s keys: %s", a.Format.Title(), other, joinNames(a.MixedKeys, 3)))
		ev = append(ev, Note(a.Path, "keys of the other agent generation: %s", strings.Join(a.MixedKeys, ", ")))
	}
	for _, te := range a.TypeErrors {
		loc := where(probes.Setting{Source: te.Source})
		problems = append(problems, fmt.Sprintf("%s: %s is %s, not one value; the agent reads it as unset", loc, te.Key, te.Type))
	}
	if a.Error == nil {
		if hasTypeError(a, setHost) {
			// said above, with its line
		} else if a.Host.Value == "" {
			problems = append(problems, "no server host is set")
		} else if strings.ContainsAny(a.Host.Value, "<>") {
			problems = append(problems, fmt.Sprintf("%s host %q is a placeholder from the docs", settingFrom(a.Host, "server"), a.Host.Value))
		}
		if hasTypeError(a, setPort) {
			// said above, with its line
		} else if a.Port.Value == "" {
			problems = append(problems, fmt.Sprintf("no %s port is set", settingFrom(a.Port, "server")))
		} else if p, err := strconv.Atoi(a.Port.Value); err != nil || p < 1 || p > 65535 {
			problems = append(problems, fmt.Sprintf("%s port %q is not a port number", settingFrom(a.Port, "server"), a.Port.Value))
		}
		if strings.ContainsAny(a.ServerName.Value, "<>") {
			problems = append(problems, fmt.Sprintf("%s %q is a placeholder from the docs", settingFrom(a.ServerName, "server name"), a.ServerName.Value))
		}
	}
	return problems, ev
}

// settingFrom names a setting in a finding: the flag that gave it, else name.
func settingFrom(s probes.Setting, name string) string {
	if s.Source.Kind == probes.SourceFlag {
		return s.Source.Name
	}
	return name
}

// hasTypeError reports whether setting s is unset because its key was written as a list or
// a map (NIM 1.x's one server key holds both host and port).
func hasTypeError(a *probes.AgentConfig, s agentKeyID) bool {
	key := strings.Join(yamlPath(a.Format, s), ".")
	for _, te := range a.TypeErrors {
		if te.Key == key || (a.Format == probes.FormatNIM1 && te.Key == "server" && (s == setHost || s == setPort)) {
			return true
		}
	}
	return false
}

// typeErrorsOf is a's wrong-typed settings; none when a is nil.
func typeErrorsOf(a *probes.AgentConfig) []probes.TypeError {
	if a == nil {
		return nil
	}
	return a.TypeErrors
}

// hostPortProblem reports a missing, placeholder or malformed server host or port.
func hostPortProblem(a *probes.AgentConfig) bool {
	p, err := strconv.Atoi(a.Port.Value)
	hostBad := a.Host.Value == "" && !hasTypeError(a, setHost)
	portBad := (err != nil || p < 1 || p > 65535) && !hasTypeError(a, setPort)
	return hostBad || portBad || isPlaceholder(a.Host.Value) || isPlaceholder(a.ServerName.Value)
}

func evalConfigInvalid(f *Facts) Result {
	a := f.Agent
	if a.Path == "" && !a.Host.IsSet() || a.Error != nil && a.Error.NotRegular {
		return Skip("skipped: no configuration file to parse")
	}
	problems, ev := configProblems(a)
	if len(problems) == 0 {
		return OK("agent %s config names server %s (host from %s)", a.Format.Title(), a.Address(), where(a.Host))
	}
	r := Fail("%s", problems[0]).Because(CauseConfigInvalid)
	if len(problems) > 1 {
		r = Fail("%s (and %s)", problems[0], Plural(len(problems)-1, "more problem")).Because(CauseConfigInvalid)
	}
	for _, p := range problems[1:] {
		ev = append(ev, Note("", "%s", p))
	}
	return r.With(ev...)
}

func fixConfigInvalid(f *Facts, _ Result) []Step {
	h := hostOf(f)
	var steps []Step
	a := f.Agent
	if a != nil && a.Error != nil {
		show := "sudo cat -n " + shellQuote(a.Error.Path)
		if a.Error.Line > 0 {
			show = fmt.Sprintf("sudo sed -n '%d,%dp' %s", max(1, a.Error.Line-3), a.Error.Line+3, shellQuote(a.Error.Path))
		}
		if ri := a.Error.Reindent; ri != nil {
			// The parser found that this one re-indentation makes the file parse.
			steps = append(steps, Step{
				Title: fmt.Sprintf("Indent line %d of %s by %d spaces, like the line before it", ri.Line, a.Error.Path, ri.Indent),
				Why: "A key indented deeper than the key before it reads as part of that key's value, which YAML refuses. " +
					"Re-indented, the file parses; restart the agent to read it.",
				Commands: []string{
					backupCommand(a.Error.Path),
					sedCommand(a.Error.Path, fmt.Sprintf("%ds|^[[:space:]]*|%s|", ri.Line, strings.Repeat(" ", ri.Indent))),
					restartAgent,
				},
				Verify:  []string{"agent-config-invalid"},
				Changes: []string{a.Error.Path},
				Host:    HostAgent,
			})
		}
		steps = append(steps, Step{
			Title: "Fix the YAML error in " + a.Error.Path,
			Why: "YAML is indentation-sensitive: use spaces, not tabs, and keep each key under its parent block. " +
				"The lines around the error are shown; restart the agent once the file is fixed.",
			Commands: []string{show, restartAgent},
			Verify:   []string{"agent-config-invalid"},
			Changes:  []string{a.Error.Path},
			Manual:   "what the file should say at the error is for a person to decide",
		})
	}
	for _, te := range typeErrorsOf(a) {
		steps = append(steps, Step{
			Title:    fmt.Sprintf("Write %s in %s as one value, not %s", te.Key, te.Source.Name, te.Type),
			Why:      "The agent reads a list or a map where it expects one value as unset. Write it on one line, e.g. `grpcPort: 443`.",
			Commands: []string{fmt.Sprintf("sudo sed -n '%d,%dp' %s", max(1, te.Source.Line-1), te.Source.Line+3, shellQuote(te.Source.Name)), restartAgent},
			Verify:   []string{"agent-config-invalid"},
			Changes:  []string{te.Source.Name},
			Manual:   "which of the values written is the one meant is for a person to decide",
		})
	}
	if a != nil && len(a.MixedKeys) > 0 {
		why := "Agent v3 decodes its file strictly and refuses to start with v2's server:/tls: blocks; move the values under command.server and command.tls."
		if a.Format != probes.FormatV3 {
			why = "Agent v2 ignores v3's command: block, so its values never take effect; move them under server: and tls:."
		}
		steps = append(steps, Step{
			Title:    "Remove the keys of the other agent generation from " + h.Config,
			Why:      why + " Keys: " + strings.Join(a.MixedKeys, ", ") + ".",
			Commands: []string{"nginx-agent --version", "sudo cat -n " + shellQuote(h.Config), restartAgent},
			Verify:   []string{"agent-config-invalid"},
			Changes:  []string{h.Config},
			Manual:   "moving values between the two generations' keys needs a person to check the agent's version and each value",
		})
	}
	if a == nil || hostPortProblem(a) {
		host, port := h.Host, h.Port
		if a != nil && (a.Host.Value == "" || isPlaceholder(a.Host.Value)) {
			host = "<manager-host>"
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			port = "443"
		}
		edits := []edit{{setHost, host}, {setPort, port}}
		if a != nil && isPlaceholder(a.ServerName.Value) {
			edits = append(edits, edit{setServerName, "<manager-host>"})
		}
		title := fmt.Sprintf("Set %s and %s in %s to the manager's address", h.keyName(setHost), h.keyName(setPort), h.Config)
		if h.viaFlag(setHost) {
			title = "Pass the manager's address to --server"
		}
		steps = append(steps, h.editStep(title,
			"Use the manager's real host name (one in its server certificate; replace any placeholder copied from "+
				"the docs) and the port NGINX takes agents on: 443 on NGINX Instance Manager 2.x. The agent's install "+
				"log or the manager's URL shows both.",
			[]string{"agent-config-invalid", "endpoint-dns", "endpoint-refused"}, edits...))
	}
	if len(steps) == 0 {
		steps = append(steps, Step{
			Title:    "Check the agent's configuration",
			Why:      "The agent reports the key it could not use when it starts.",
			Commands: []string{"sudo cat -n " + shellQuote(h.Config), "sudo journalctl -u nginx-agent -n 20 --no-pager"},
			Verify:   []string{"agent-config-invalid"},
			Host:     HostAgent,
		})
	}
	return on(HostAgent, steps...)
}

func evalEnvOverrides(f *Facts) Result {
	env := f.Agent.Env
	if len(env) == 0 {
		return OK("no environment variables override the agent configuration")
	}
	var names, deprecated []string
	var ev []Evidence
	for _, e := range env {
		names = append(names, e.Name)
		if e.Deprecated {
			deprecated = append(deprecated, e.Name)
		}
		ev = append(ev, Note("environment", "%s sets %s", e.Name, e.Key))
	}
	if len(deprecated) > 0 {
		return Warn("deprecated NMS_ variables override the file: %s", joinNames(deprecated, 3)).Because(CauseDeprecatedEnv).With(ev...)
	}
	return Info("environment overrides the file: %s", joinNames(names, 3)).With(ev...)
}

func envOf(f *Facts) []probes.EnvOverride {
	if f == nil || f.Agent == nil {
		return nil
	}
	return f.Agent.Env
}

func fixEnvOverrides(f *Facts, _ Result) []Step {
	renames := []string{"NMS_TLS_CERT → NGINX_AGENT_TLS_CERT"}
	if f != nil && f.Agent != nil {
		renames = nil
	}
	for _, e := range envOf(f) {
		if e.Deprecated {
			renames = append(renames, e.Name+" → NGINX_AGENT_"+strings.TrimPrefix(e.Name, "NMS_"))
		}
	}
	return []Step{{
		Title: "Rename the NMS_ variables to the NGINX_AGENT_ prefix",
		Why: "Agent v2.35 and later read NGINX_AGENT_*; older agents (v2.17–v2.34) read only NMS_*, so check " +
			"the version first. Renames: " + strings.Join(renames, ", ") + ". These commands show where the " +
			"service sets them: the unit, a drop-in or an EnvironmentFile=.",
		Commands: []string{"nginx-agent --version", "sudo systemctl show nginx-agent -p Environment -p EnvironmentFiles -p DropInPaths"},
		Verify:   []string{"agent-env-overrides"},
		Host:     HostAgent,
		// The values may be secrets (a token) the tool never reads, so it cannot write them.
		Manual: "the variables' values are not read by mtls-doctor, so renaming them where they are set is for the unit's owner",
	}}
}

// speaksTLS reports whether the plaintext probe's failure shows a TLS port, with the reason.
func speaksTLS(f *Facts) (bool, string) {
	a := agentAttempt(f)
	if f.Endpoint == nil || !f.Endpoint.PlainText || a == nil || a.HTTP == nil {
		return false, ""
	}
	if e := a.HTTP.Error; e != nil {
		switch e.Kind {
		case probes.ErrNotTLS, probes.ErrClosed, probes.ErrProtocol:
			return true, fmt.Sprintf("plaintext gRPC to %s failed (%s: %s)", f.Endpoint.Address, e.Kind, e.Message)
		}
		return false, ""
	}
	h := a.HTTP
	if strings.Contains(h.BodyTitle, titlePlainHTTP) || h.Status == 497 || h.Status == 505 {
		return true, fmt.Sprintf("%s answered plaintext gRPC with %s", f.Endpoint.Address, replyText(h))
	}
	return false, ""
}

func evalTLSDisabled(f *Facts) Result {
	a := f.Agent
	if !agentUsable(f) {
		return Skip("skipped: no usable agent configuration")
	}
	if tlsOn(f) {
		return OK("TLS is enabled (%s)", where(a.TLSEnabled))
	}
	if tlsPort, reason := speaksTLS(f); tlsPort {
		return Fail("TLS is off (%s) but %s expects TLS: %s", where(a.TLSEnabled), a.Address(), reason).Because(CauseTLSOff)
	}
	if h := httpReply(agentAttempt(f)); h != nil && isGRPC(h) {
		return Warn("TLS is off (%s): the agent reaches %s in plaintext, unencrypted", where(a.TLSEnabled), a.Address()).Because(CauseTLSOff)
	}
	return Warn("TLS is off (%s): traffic to %s would be unencrypted", where(a.TLSEnabled), a.Address()).Because(CauseTLSOff)
}

func fixTLSDisabled(f *Facts, _ Result) []Step {
	h := hostOf(f)
	edits := []edit{{setCert, h.Cert}, {setKey, h.Key}, {setCA, h.CA}}
	why := "Agent v3 turns TLS on as soon as any command.tls key is set."
	if h.Format != probes.FormatV3 {
		edits = append([]edit{{setTLSEnable, "true"}}, edits...)
		why = "tls.enable switches the agent from plaintext HTTP/2 to TLS; it then reads cert, key and ca."
	}
	return on(HostAgent,
		h.editStep("Turn TLS on and point the agent at its certificate, key and CA", why,
			[]string{"agent-tls-disabled", "endpoint-not-tls", "agent-cert-file-unreadable"}, edits...))
}

func evalSkipVerify(f *Facts) Result {
	a := f.Agent
	if !tlsOn(f) {
		return noTLSSkip(f)
	}
	if a.SkipVerify.Value == "true" {
		return Warn("skip_verify is on (%s): the agent accepts any server certificate", where(a.SkipVerify)).Because(CauseSkipVerify)
	}
	return OK("the agent verifies the server certificate")
}

func fixSkipVerify(f *Facts, _ Result) []Step {
	h := hostOf(f)
	return on(HostAgent,
		Step{
			Title:    "Confirm the server certificate verifies before turning verification on",
			Why:      "If this fails, turning skip_verify off stops the agent; fix the server-cert findings first.",
			Commands: []string{h.sClient(false)},
			Verify:   []string{"server-cert-untrusted", "server-name-mismatch", "server-cert-expired"},
		},
		h.editStep("Turn skip_verify off", "The agent then verifies the chain against "+h.CA+" and the name "+h.Name+".",
			[]string{"agent-skip-verify"}, edit{setSkipVerify, "false"}))
}
