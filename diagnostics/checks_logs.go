package diagnostics

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// Log evidence. A check claims the logparse event kinds that back it (Check.LogKinds; each
// kind is claimed by exactly one check), and the logs join the catalog by those claims, one
// way for every kind:
//
//   - a check that claims the kind also reads the logs (FactLogs becomes one of its wants, and
//     its needs become wants, so it still runs where only the logs are there, e.g. on
//     the manager host). Its result keeps its own verdict when that is a problem and
//     gains the events as evidence: count, first and last seen, clients and up to three
//     verbatim lines;
//   - when the check itself could not judge (skipped, or info), the events are the
//     finding: it fails with a summary such as "NGINX rejected 37 agent connections from
//     10.0.0.5 in the last hour: certificate has expired";
//   - when the check passes but the same failure was logged, the pass stands as info
//     with the events as evidence, or as a warning when the last event is recent
//     (recentEvent): the running agent may still use what was on disk before a fix;
//   - a kind no check covers gets a check of its own in the logs category
//     (agent-cert-not-sent, server-cert-rejected-by-agent), which passes when the
//     window holds no such event.
//
// logs-read says which files were read and why others were not.

// recentEvent is how close to the run an event must be for a passing check to warn: the
// agent was still failing minutes ago although the files on disk now pass.
const recentEvent = 10 * time.Minute

// withLogEvidence wraps ch so that it also judges the events of its LogKinds (and, for a
// LiveVerdict check, the logged verify errors whose OpenSSL code names it).
func withLogEvidence(ch Check) Check {
	inner := ch
	wants := append(append([]FactKind{}, inner.Needs...), inner.Wants...)
	if !slices.Contains(wants, FactLogs) {
		wants = append(wants, FactLogs)
	}
	ch.Needs, ch.Wants = nil, wants
	ch.Evaluate = func(f *Facts) Result {
		r, _ := agentHalf(inner, f) // the check's own verdict, or the skip its needs cause
		return joinLogs(r, f, ch)
	}
	return ch
}

// joinLogs combines a check's result with the events of its kind (see the top of the file).
func joinLogs(r Result, f *Facts, ch Check) Result {
	sums := logSummaries(f, ch)
	if len(sums) == 0 {
		return r
	}
	ev := logEvidence(f, sums)
	sentence := logSentence(f, sums)
	last := lastSeen(sums)
	switch {
	case r.Severity >= SeverityWarn:
		return r.With(ev...)
	case r.Severity == SeverityOK && !f.Now.IsZero() && f.Now.Sub(last) <= recentEvent && !bareAccess(sums):
		out := Warn("%s now, but %s, the last at %s: whatever runs may still use the configuration from before",
			strings.TrimSuffix(r.Summary, "."), sentence, last.Format("15:04:05")).Because(CauseRecentLogEvents)
		return out.With(r.Evidence...).With(ev...)
	case r.Severity == SeverityOK:
		out := Info("%s; earlier, %s (the last at %s)", strings.TrimSuffix(r.Summary, "."), sentence, last.Format("15:04:05"))
		return out.With(r.Evidence...).With(ev...)
	}
	out := Fail("%s", sentence).WithCause(logCause(sums)).With(ev...)
	if r.Severity == SeverityInfo {
		out = out.With(Note("", "%s", r.Summary))
	}
	return out.With(r.Evidence...)
}

// bareAccess reports whether every summary is of access-log lines that give no reason: a
// bare 400 on an agent path. An access log whose format writes neither the query nor the
// user agent (NIM's grpc_json writes $uri) records mtls-doctor's own request without a
// certificate that way too (logparse.OwnProbe cannot tell), so against a passing check
// such lines are info, not a warning.
func bareAccess(sums []logparse.Summary) bool {
	for _, s := range sums {
		if s.Source != logparse.SourceNginxAccess || s.X509Code != 0 || s.X509Text != "" {
			return false
		}
	}
	return true
}

// logSummaries are the summaries that back ch, most events first.
func logSummaries(f *Facts, ch Check) []logparse.Summary {
	if f == nil || f.Logs == nil {
		return nil
	}
	var out []logparse.Summary
	for _, s := range f.Logs.Summaries {
		if backs(f, s, ch) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b logparse.Summary) int { return b.Count - a.Count })
	return out
}

// backs reports whether summary s is evidence for ch: a verify error logparse leaves
// generic (agent-cert-rejected) backs the finding its OpenSSL code names (verifyFinding);
// any other summary backs the check that claims its kind.
func backs(f *Facts, s logparse.Summary, ch Check) bool {
	if s.Kind == logparse.KindAgentCertRejected && s.X509Code != 0 {
		if id := verifyFinding(f, s.X509Code); id != "" {
			return id == ch.ID
		}
	}
	return ch.claims(s.Kind)
}

func lastSeen(sums []logparse.Summary) time.Time {
	var t time.Time
	for _, s := range sums {
		if s.LastSeen.After(t) {
			t = s.LastSeen
		}
	}
	return t
}

// window says over what the logs were read: "in the last hour", "in the logs read".
func window(f *Facts) string {
	if f.Logs == nil || f.Logs.From.IsZero() {
		return "in the logs read"
	}
	d := f.Logs.To.Sub(f.Logs.From)
	switch {
	case d == time.Hour:
		return "in the last hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("in the last %d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("in the last %d minutes", d/time.Minute)
	}
	return "in the last " + d.String()
}

// logSentence is the one-line account of the events of one kind, led by the largest group.
func logSentence(f *Facts, sums []logparse.Summary) string {
	s := sums[0]
	n := 0
	for _, x := range sums {
		n += x.Count
	}
	from := ""
	if len(s.Clients) > 0 {
		from = " from " + clientNames(s.Clients, 2)
	}
	reason := s.X509Text
	if reason == "" {
		reason = s.Detail
	}
	win := window(f)
	var out string
	switch {
	case s.Source == logparse.SourceAgent:
		out = fmt.Sprintf("the agent logged %s %s: %s", Plural(s.Count, "connection error"), win, reason)
	case s.Kind == logparse.KindServerCertRejectedByAgent:
		out = fmt.Sprintf("clients%s aborted %s %s because they refused NGINX's certificate (%s)",
			from, Plural(s.Count, "TLS handshake"), win, reason)
	case s.Kind == logparse.KindALPNH2Missing || s.Kind == logparse.KindTLSVersionMismatch:
		out = fmt.Sprintf("NGINX failed %s%s %s: %s", Plural(s.Count, "TLS handshake"), from, win, reason)
	case s.Kind == logparse.KindAgentTLSDisabled:
		out = fmt.Sprintf("NGINX received plaintext on its TLS port %s%s %s: %s", Plural(s.Count, "time"), from, win, reason)
	case s.Kind == logparse.KindGRPCBackendUnavailable:
		out = fmt.Sprintf("NGINX could not reach the agents' gRPC backend for %s%s %s: %s",
			Plural(s.Count, "request"), from, win, reason)
	case s.Kind == logparse.KindMisdirectedRequest:
		out = fmt.Sprintf("NGINX answered %s%s with 421 Misdirected Request %s", Plural(s.Count, "request"), from, win)
	case s.Kind == logparse.KindAgentCertNotSent:
		out = fmt.Sprintf("NGINX rejected %s%s %s: no client certificate was sent", Plural(s.Count, "agent connection"), from, win)
	default:
		out = fmt.Sprintf("NGINX rejected %s%s %s: %s", Plural(s.Count, "agent connection"), from, win, reason)
	}
	if rest := n - s.Count; rest > 0 {
		out += fmt.Sprintf(" (%d more such lines in other logs)", rest)
	}
	return out
}

// logEvidence is one Evidence per summary: what, when, who, where, and the lines.
func logEvidence(f *Facts, sums []logparse.Summary) []Evidence {
	var out []Evidence
	for _, s := range sums {
		text := fmt.Sprintf("%s in %s", Plural(s.Count, "line"), s.Source)
		switch {
		case s.X509Code != 0:
			text += fmt.Sprintf(", X509 error %d (%s)", s.X509Code, s.X509Text)
		case s.X509Text != "":
			text += ", " + s.X509Text
		case s.Detail != "":
			text += ": " + s.Detail
		}
		text += ", " + seenSpan(f, s)
		if len(s.Clients) > 0 {
			text += ", clients " + clientCounts(s.Clients, 5)
		}
		out = append(out, Evidence{Text: text, Location: strings.Join(s.Files, ", "), Quote: s.Examples})
	}
	return out
}

func seenSpan(f *Facts, s logparse.Summary) string {
	layout := "15:04:05"
	if f.Now.IsZero() || f.Now.Sub(s.FirstSeen) > 20*time.Hour {
		layout = "2006-01-02 15:04:05"
	}
	if s.FirstSeen.Equal(s.LastSeen) {
		return "at " + s.LastSeen.Format(layout)
	}
	return "from " + s.FirstSeen.Format(layout) + " to " + s.LastSeen.Format(layout)
}

func clientNames(cs []logparse.ClientCount, max int) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Client
	}
	return joinNames(names, max)
}

func clientCounts(cs []logparse.ClientCount, max int) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = fmt.Sprintf("%s (%d)", c.Client, c.Count)
	}
	return joinNames(names, max)
}

// logChecks are the checks of the logs category: the event kinds that only the logs show,
// and logs-read.
func logChecks() []Check {
	return []Check{
		logOnlyCheck(Check{
			ID: "agent-cert-not-sent", Category: CategoryLogs,
			Title: "agents send their client certificate",
			Why: "NGINX logs \"client sent no required SSL certificate\" (496, answered as 400) when an agent connects " +
				"without one. Go sends none when the agent's chain is issued by none of the CAs NGINX advertises, so a " +
				"configured certificate can still go unsent.",
			Fix:      fixNotSent,
			LogKinds: []logparse.Kind{logparse.KindAgentCertNotSent},
		}),
		logOnlyCheck(Check{
			ID: "server-cert-rejected-by-agent", Category: CategoryLogs,
			Title: "agents accept NGINX's server certificate",
			Why: "An agent that refuses the certificate NGINX serves aborts the handshake with alert 42 (bad certificate), " +
				"and NGINX logs \"SSL_do_handshake() failed ... alert bad certificate\". The agent's own log says why: " +
				"unknown authority, a name mismatch or expiry.",
			Fix:      fixRejectedByAgent,
			LogKinds: []logparse.Kind{logparse.KindServerCertRejectedByAgent},
		}),
		{
			ID: "logs-read", Category: CategoryLogs,
			Title: "logs of NGINX and the agent can be read",
			Why: "NGINX writes the reason it rejected an agent only into its error log, and the agent writes its side " +
				"into agent.log. Without them a rejection shows up only as a bare 400 or \"code = Internal\".",
			Needs: []FactKind{FactLogs}, Evaluate: evalLogsRead, Fix: fixLogsRead,
		},
	}
}

// logOnlyCheck gives ch, a check of kinds only the logs show, its evaluation: it fails with
// the events of its LogKinds and passes when the window holds none.
func logOnlyCheck(ch Check) Check {
	ch.Needs = []FactKind{FactLogs}
	ch.Evaluate = func(f *Facts) Result {
		sums := logSummaries(f, ch)
		if len(sums) == 0 {
			return OK("no such event %s", window(f))
		}
		return Fail("%s", logSentence(f, sums)).WithCause(logCause(sums)).With(logEvidence(f, sums)...)
	}
	ch.isAssembled = true // its evaluation already is the log evidence
	return ch
}

func fixNotSent(f *Facts, _ Result) []Step {
	return []Step{{
		Title: "Find out on the agent's host why it sends no certificate",
		Why: "Either none is configured, its files do not load, or Go withholds it because no CA NGINX advertises " +
			"issued it. mtls-doctor run on the agent's host names which (agent-cert-not-configured, " +
			"agent-cert-file-unreadable or agent-cert-unknown-ca) with its steps.",
		Commands: []string{"mtls-doctor --check || true"},
		Verify:   []string{"agent-cert-not-sent", "agent-cert-unknown-ca", "agent-cert-not-configured"},
		Host:     HostAgent,
	}}
}

func fixRejectedByAgent(f *Facts, _ Result) []Step {
	log := "/var/log/nginx-agent/agent.log" // the agent's default log.path
	if f != nil && f.Agent != nil && f.Agent.LogPath.Value != "" {
		log = f.Agent.LogPath.Value
		if !strings.HasSuffix(log, ".log") {
			log = strings.TrimSuffix(log, "/") + "/agent.log" // a directory means <dir>/agent.log
		}
	}
	return []Step{{
		Title: "Read the agent's reason for refusing the certificate",
		Why: "The agent logs the Go error that made it send the alert; mtls-doctor run on the agent's host names " +
			"the finding (server-cert-untrusted, server-name-mismatch …) and its steps.",
		Commands: []string{
			"sudo grep -E 'x509:|tls:' " + shellQuote(log) + " | tail -n 5",
			"mtls-doctor --check || true",
		},
		Verify: []string{"server-cert-rejected-by-agent", "server-cert-untrusted", "server-name-mismatch"},
		Host:   HostAgent,
	}}
}

func evalLogsRead(f *Facts) Result {
	var read, skipped []logparse.FileReport
	lines, events := 0, 0
	for _, fr := range f.Logs.Files {
		switch {
		case fr.Skipped == "":
			read = append(read, fr)
			lines += fr.Lines
			events += fr.Classified
		case fr.Origin == logparse.OriginDefault && strings.HasSuffix(fr.Skipped, "does not exist"):
			// A default path for software this host does not run: not worth a word.
		default:
			skipped = append(skipped, fr)
		}
	}
	// A file the user named with --logs (gather.OriginFlag) leads: it is the one they
	// asked about, and the summary is all the text report shows of an info or skip.
	sort.SliceStable(skipped, func(i, j int) bool { return skipped[i].Origin == "--logs" && skipped[j].Origin != "--logs" })
	why := ""
	if len(skipped) > 0 {
		why = skipped[0].Skipped
		if len(skipped) > 1 {
			why += fmt.Sprintf(" (and %d more)", len(skipped)-1)
		}
	}
	var ev []Evidence
	for _, fr := range read {
		text := fmt.Sprintf("%s, %s %s", Plural(fr.Lines, "line"), Plural(fr.Classified, "event"), window(f))
		if n := len(fr.Read) - 1; n > 0 {
			text += fmt.Sprintf(", %s", Plural(n, "rotated file"))
		}
		if fr.OwnProbe > 0 {
			text += fmt.Sprintf(", %s about mtls-doctor's own probe (not counted)", Plural(fr.OwnProbe, "line"))
		}
		if fr.Err != "" {
			text += "; stopped: " + fr.Err
		}
		ev = append(ev, Note(fr.Path, "%s (%s)", text, fr.Origin))
	}
	for _, fr := range skipped {
		ev = append(ev, Note(fr.Path, "%s (%s)", fr.Skipped, fr.Origin))
	}
	switch {
	case len(read) == 0 && len(skipped) == 0:
		return Skip("skipped: no NGINX or agent log on this host (use --logs PATH)")
	case len(read) == 0:
		return Skip("skipped: %s", why).With(ev...)
	case len(skipped) > 0:
		return Info("read %s (%s, %s %s); %s", Plural(len(read), "log"), Plural(lines, "line"),
			Plural(events, "event"), window(f), why).With(ev...)
	}
	return OK("read %s: %s, %s %s", Plural(len(read), "log"), Plural(lines, "line"), Plural(events, "event"), window(f)).With(ev...)
}

func fixLogsRead(*Facts, Result) []Step {
	return []Step{{
		Title: "Let mtls-doctor read the logs",
		Why: "NGINX's logs belong to www-data:adm (mode 0640) on Debian and Ubuntu; the agent's log is root's. Run " +
			"as root, or join the adm group (log in again afterwards).",
		Commands: []string{"sudo usermod -aG adm \"$(id -un)\""},
		Verify:   []string{"logs-read"},
		Host:     HostAgent,
		Manual:   "the new group applies only to a new login session",
	}}
}

// logCause is the cause of a failure the logs alone report: the verify error of the most
// frequent summary that names one.
func logCause(sums []logparse.Summary) Cause {
	c := Cause{Code: CauseLogEvents}
	for _, s := range sums {
		if s.X509Code != 0 {
			c.OpenSSL = s.X509Code
			break
		}
	}
	return c
}
