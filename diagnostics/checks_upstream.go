package diagnostics

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/nginxconf"
)

// The upstream category judges NGINX as the TLS client of its upstreams: every location
// that passes requests over TLS (proxy_pass https://, grpc_pass grpcs://, uwsgi_pass
// suwsgi://) is a link from the front server to the upstream, judged from its
// configuration (Facts.Upstreams: the *_ssl_* settings in effect and the files they name),
// from a probe of each upstream server made the way NGINX connects, and from the logs of
// both ends (logparse's upstream-* kinds, attributed to the upstream server).
//
// A check judges every link and reports the worst one as its Subject ("front server →
// upstream host:port"); the other links with the same problem are its evidence.

// upstreamRule declares one upstream check: judge is its verdict on one link (Skip when
// it does not apply to that link), fix the playbook for the link judged.
type upstreamRule struct {
	id, title, why string
	kinds          []logparse.Kind
	// nginxT marks a rule about what nginx -t refuses: its failure quotes nginx -t.
	nginxT bool
	// backs, when set, decides which log summaries are the rule's evidence instead of
	// membership in kinds (a verify error OpenSSL numbers alike for several causes).
	backs func(f *Facts, links []*probes.UpstreamLinkFacts, s logparse.Summary) bool
	judge func(f *Facts, l *probes.UpstreamLinkFacts) Result
	fix   func(f *Facts, l *probes.UpstreamLinkFacts, r Result) []Step
}

func upstreamChecks() []Check {
	rules := upstreamRules()
	out := make([]Check, 0, len(rules))
	for _, r := range rules {
		out = append(out, r.check())
	}
	return out
}

// check is the catalog entry of rule u. It evaluates the links itself and joins the log
// events of its kinds per upstream, so the engine does not assemble it again.
func (u upstreamRule) check() Check {
	return Check{
		ID: u.id, Category: CategoryUpstream, Title: u.title, Why: u.why,
		Wants:    []FactKind{FactUpstream, FactLogs},
		LogKinds: u.kinds,
		Evaluate: u.evaluate,
		Fix: func(f *Facts, r Result) []Step {
			l := linkNamed(f, r.Subject.Name)
			if u.fix == nil {
				return nil
			}
			// NGINX's upstream settings are on the host whose configuration was judged
			// (Host ""), which need not serve agents; steps for the upstream's own
			// machine say HostUpstream.
			return u.fix(f, l, r)
		},
		Subject:     func(*Facts) Subject { return Subject{Kind: SubjectUpstreamLink} },
		isAssembled: true,
	}
}

// upstreamLinks are the links of the configuration that was read; nil without one.
func upstreamLinks(f *Facts) []*probes.UpstreamLinkFacts {
	if f == nil || f.Upstreams == nil {
		return nil
	}
	return f.Upstreams.Links
}

// LinkName names a link the way findings do: "front server → upstream host:port".
func LinkName(l *nginxconf.UpstreamLink) string {
	front := "server"
	if l.Server != nil {
		switch {
		case len(l.Server.ServerNames) > 0 && l.Server.ServerNames[0] != "" && l.Server.ServerNames[0] != "_":
			front = l.Server.ServerNames[0]
		case len(l.Server.Listens) > 0 && l.Server.Listens[0].Unix != "":
			front = "unix:" + l.Server.Listens[0].Unix
		case len(l.Server.Listens) > 0:
			front = net.JoinHostPort(firstNonEmpty(l.Server.Listens[0].Addr, "*"), strconv.Itoa(l.Server.Listens[0].Port))
		case l.Server.Directive != nil:
			front = "server " + l.Server.Directive.Pos()
		}
	}
	return front + " → " + l.Target()
}

func linkSubject(l *probes.UpstreamLinkFacts) Subject {
	return Subject{Kind: SubjectUpstreamLink, Name: LinkName(l.UpstreamLink)}
}

// linkNamed finds the link a finding's subject names; nil when none does (explain).
func linkNamed(f *Facts, name string) *probes.UpstreamLinkFacts {
	for _, l := range upstreamLinks(f) {
		if LinkName(l.UpstreamLink) == name {
			return l
		}
	}
	return nil
}

// evaluate judges every link, then joins the log events of the rule's kinds.
func (u upstreamRule) evaluate(f *Facts) Result {
	links := upstreamLinks(f)
	var results []Result
	for _, l := range links {
		if u.judge == nil {
			break
		}
		r := u.judge(f, l)
		if r.Subject.IsZero() {
			r.Subject = linkSubject(l)
		}
		if u.nginxT && r.Severity >= SeverityWarn {
			r = r.With(nginxTestEvidence(f, l)...)
		}
		results = append(results, r)
	}
	best, _ := mergeWorst(results, func(i int) string { return passPos(links[i]) }, "link")
	var sums []logparse.Summary
	if u.backs == nil {
		sums = upstreamSummaries(f, u.kinds)
	} else if f != nil && f.Logs != nil {
		for _, sum := range upstreamSummaries(f, logparse.Kinds) {
			if u.backs(f, links, sum) {
				sums = append(sums, sum)
			}
		}
	}
	if len(sums) > 0 {
		best = joinUpstreamLogs(f, best, links, sums)
	}
	if best.Severity == SeveritySkip && best.Summary == "" {
		switch {
		case f == nil || f.Upstreams == nil && f.Nginx == nil:
			return Skip("skipped: no NGINX configuration read, so no upstream link to judge")
		case len(links) == 0:
			return Skip("skipped: no location of this NGINX passes to an upstream over TLS")
		}
		return Skip("skipped: does not apply to this NGINX's upstream links")
	}
	return best
}

// passPos is where a link's pass directive is written, the location its verdict is
// listed at beside another link's.
func passPos(l *probes.UpstreamLinkFacts) string {
	if l.Pass == nil {
		return ""
	}
	return l.Pass.Pos()
}

// upstreamSummaries are the log summaries of kinds, most events first.
func upstreamSummaries(f *Facts, kinds []logparse.Kind) []logparse.Summary {
	if f == nil || f.Logs == nil || len(kinds) == 0 {
		return nil
	}
	var out []logparse.Summary
	for _, s := range f.Logs.Summaries {
		if slices.Contains(kinds, s.Kind) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b logparse.Summary) int { return b.Count - a.Count })
	return out
}

// linkOfUpstream finds the link whose servers (or target) an event's upstream names: the
// front logs the server's address, the upstream NGINX logs the Host the front sent.
func linkOfUpstream(links []*probes.UpstreamLinkFacts, upstream string) *probes.UpstreamLinkFacts {
	if upstream == "" {
		return nil
	}
	for _, l := range links {
		if strings.EqualFold(l.Target(), upstream) || strings.EqualFold(l.Host, upstream) {
			return l
		}
		for _, s := range l.Servers {
			if s.Address == upstream {
				return l
			}
		}
	}
	return nil
}

// joinUpstreamLogs adds the events to r: as evidence of a problem the configuration or
// the probe already shows; as the verdict when they could not judge (the logs are then
// the finding); as a warning or note beside a pass (see joinLogs for the agent's side).
func joinUpstreamLogs(f *Facts, r Result, links []*probes.UpstreamLinkFacts, sums []logparse.Summary) Result {
	ev := logEvidence(f, sums)
	top := sums[0]
	n := 0
	for _, s := range sums {
		n += s.Count
	}
	reason := top.X509Text
	if reason == "" {
		reason = top.Detail
	}
	who := "its upstream"
	if top.Upstream != "" {
		who = top.Upstream
	}
	var sentence string
	if !upstreamSideKind(top) {
		sentence = fmt.Sprintf("NGINX failed %s to %s %s: %s", Plural(top.Count, "connection"), who, window(f), reason)
	} else {
		sentence = fmt.Sprintf("the upstream %s refused %s from NGINX %s: %s", who, Plural(top.Count, "request"), window(f), reason)
	}
	if rest := n - top.Count; rest > 0 {
		sentence += fmt.Sprintf(" (%d more such lines)", rest)
	}
	subject := r.Subject
	link := linkOfUpstream(links, top.Upstream)
	if link != nil && (subject.IsZero() || r.Severity < SeverityWarn) {
		subject = linkSubject(link)
	} else if subject.IsZero() {
		subject = Subject{Kind: SubjectUpstreamLink, Name: "NGINX → " + who}
	}
	last := lastSeen(sums)
	switch {
	case r.Severity >= SeverityWarn:
		return r.With(ev...)
	case r.Severity == SeverityOK && linkRejectsNow(link):
		// The probe is refused today and the upstream logged why: the log is the verdict.
	case r.Severity == SeverityOK && !f.Now.IsZero() && f.Now.Sub(last) > recentEvent:
		out := Info("%s; earlier, %s (the last at %s)", strings.TrimSuffix(r.Summary, "."), sentence, last.Format("15:04:05"))
		out.Subject = r.Subject
		return out.With(r.Evidence...).With(ev...)
	}
	out := Fail("%s", sentence).With(ev...)
	if r.Severity == SeverityOK && !linkRejectsNow(link) {
		out = Warn("%s now, but %s, the last at %s", strings.TrimSuffix(r.Summary, "."), sentence, last.Format("15:04:05")).With(ev...)
	}
	out.Subject = subject
	if code := top.X509Code; code != 0 {
		out.Cause.OpenSSL = code
	}
	out.Cause.Code = CauseLogEvents
	return out.With(r.Evidence...)
}

// upstreamSideKind reports whether a summary tells the upstream's refusal rather than the
// front's failure: an access line with $upstream_status, or an upstream-client-* kind that
// is not an alert the front received (those come from the upstream NGINX's own
// client-certificate lines).
func upstreamSideKind(s logparse.Summary) bool {
	return s.Source == logparse.SourceNginxAccess ||
		strings.HasPrefix(string(s.Kind), "upstream-client-") && !strings.Contains(s.Detail, "SSL alert number")
}

// nginxTestEvidence quotes nginx -t's refusal when it is about one of the link's files or
// directives: NGINX loads *_ssl_certificate, its key and the trusted CA file at start-up.
func nginxTestEvidence(f *Facts, l *probes.UpstreamLinkFacts) []Evidence {
	if f.Nginx == nil || f.Nginx.Test == nil || f.Nginx.Test.Error == nil {
		return nil
	}
	e := f.Nginx.Test.Error
	related := strings.Contains(e.Msg, l.Module.SSLPrefix())
	for _, s := range []nginxconf.UpstreamSetting{l.SSL.Certificate, l.SSL.CertificateKey, l.SSL.PasswordFile, l.SSL.TrustedCertificate, l.SSL.CRL} {
		related = related || s.Path != "" && strings.Contains(e.Msg, s.Path)
	}
	if !related {
		return nil
	}
	where := ""
	if e.File != "" {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	return []Evidence{Quoted(where, "nginx -t refuses the configuration", "nginx: [emerg] "+e.Error())}
}

// linkRejectsNow reports whether a probe of the link was refused by the upstream over
// its client certificate (an NGINX 495/496 page or a certificate alert): the logged
// reason then explains a failure that is still there.
func linkRejectsNow(l *probes.UpstreamLinkFacts) bool {
	if l == nil {
		return false
	}
	for _, p := range linkProbes(l) {
		_, title := probeStatus(p)
		if strings.Contains(title, titleCertError) || strings.Contains(title, titleNoCert) || certAlerts[probeAlert(p)] || requiresCert(p) {
			return true
		}
	}
	return false
}

// --- helpers over one link's facts

// clientLeaf is the link's client certificate (the first of its certificate file).
func clientLeaf(l *probes.UpstreamLinkFacts) *x509.Certificate {
	if l.Cert == nil || len(l.Cert.Certs) == 0 {
		return nil
	}
	return l.Cert.Certs[0]
}

// linkProbes are the probes that reached a server (TCP connected).
func linkProbes(l *probes.UpstreamLinkFacts) []*probes.UpstreamProbe {
	var out []*probes.UpstreamProbe
	for _, p := range l.Probes {
		if p != nil && p.TCPError == nil {
			out = append(out, p)
		}
	}
	return out
}

// probeAlert is the alert the upstream sent to the probe (0: none).
func probeAlert(p *probes.UpstreamProbe) int {
	switch {
	case p.TLS != nil && p.TLS.Error != nil && p.TLS.Error.Kind == probes.ErrTLSAlert:
		return p.TLS.Error.Alert
	case p.HTTP != nil && p.HTTP.Error != nil && p.HTTP.Error.Kind == probes.ErrTLSAlert:
		return p.HTTP.Error.Alert
	}
	return 0
}

// handshakeDone reports whether the probe's handshake completed.
func handshakeDone(p *probes.UpstreamProbe) bool { return p.TLS != nil && p.TLS.Error == nil }

// probeTitle is the error page's title the upstream answered, "" for none.
func probeStatus(p *probes.UpstreamProbe) (int, string) {
	if p.HTTP == nil || p.HTTP.Error != nil {
		return 0, ""
	}
	return p.HTTP.Status, p.HTTP.BodyTitle
}

// requiresCert reports whether a probe shows the upstream requires a client certificate
// that the probe did not send: NGINX's 496 page, or alert 116 (TLS 1.3) / 40 from a Go
// upstream that got none.
func requiresCert(p *probes.UpstreamProbe) bool {
	_, title := probeStatus(p)
	sent := p.TLS != nil && p.TLS.ClientCertSent
	switch {
	case strings.Contains(title, titleNoCert):
		return true
	case probeAlert(p) == 116:
		return true
	case probeAlert(p) == 40 && !sent && p.TLS != nil && p.TLS.CertRequested:
		return true
	}
	return false
}

func probeLine(p *probes.UpstreamProbe) string {
	status, title := probeStatus(p)
	switch {
	case p.TCPError != nil:
		return fmt.Sprintf("%s: %s", p.Server.Address, p.TCPError.Message)
	case p.TLS != nil && p.TLS.Error != nil:
		if a := probeAlert(p); a != 0 {
			return fmt.Sprintf("%s: the handshake ended with alert %d %s", p.Server.Address, a, probes.AlertName(a))
		}
		return fmt.Sprintf("%s: the handshake failed: %s", p.Server.Address, p.TLS.Error.Message)
	case p.HTTP != nil && p.HTTP.Error != nil:
		if a := probeAlert(p); a != 0 {
			return fmt.Sprintf("%s: after the handshake the upstream sent alert %d %s", p.Server.Address, a, probes.AlertName(a))
		}
		return fmt.Sprintf("%s: no reply: %s", p.Server.Address, p.HTTP.Error.Message)
	case title != "":
		return fmt.Sprintf("%s answered %d %q", p.Server.Address, status, title)
	}
	return fmt.Sprintf("%s answered %d", p.Server.Address, status)
}

// setting is one directive's evidence: where it is written, or that nginx's default applies.
func upSettingNote(s nginxconf.UpstreamSetting, what string) Evidence {
	if s.Default() {
		return Note("", "%s: not set (nginx's default)", s.Name)
	}
	loc := s.Pos()
	text := fmt.Sprintf("%s %s", s.Name, s.Value)
	if s.Inherited {
		text += fmt.Sprintf(" (inherited from %s)", s.Level)
	}
	if what != "" {
		text += ": " + what
	}
	return Note(loc, "%s", text)
}

func passNote(l *probes.UpstreamLinkFacts) Evidence {
	if l.Pass == nil {
		return Note("", "%s %s", l.Module.Directive(), l.URL)
	}
	return Note(l.Pass.Pos(), "%s %s", l.Module.Directive(), l.URL)
}

// sslDirective is the name of the link module's directive with suffix ("certificate").
func sslDirective(l *probes.UpstreamLinkFacts, suffix string) string {
	return l.Module.SSLPrefix() + suffix
}

// verifyOn reports whether the link verifies its upstream (*_ssl_verify on).
func verifyOn(l *probes.UpstreamLinkFacts) bool { return l.SSL.Verify.Value == "on" }

// peerLeaf is the first upstream certificate a probe received.
func peerLeaf(l *probes.UpstreamLinkFacts) (*x509.Certificate, *probes.UpstreamProbe) {
	for _, p := range linkProbes(l) {
		if p.TLS != nil && len(p.TLS.PeerChain) > 0 {
			return p.TLS.PeerChain[0], p
		}
	}
	return nil, nil
}

// verdicts are the probes' NGINX-rule verdicts on the upstream chains.
func verdicts(l *probes.UpstreamLinkFacts) []*probes.UpstreamProbe {
	var out []*probes.UpstreamProbe
	for _, p := range linkProbes(l) {
		if p.Verify != nil {
			out = append(out, p)
		}
	}
	return out
}

// notProbed is the skip of a rule that needs a probe.
func notProbed(f *Facts, l *probes.UpstreamLinkFacts) Result {
	switch {
	case !l.Judgeable():
		return Skip("skipped: %s cannot be judged from the configuration (%s)", l.URL, firstNonEmpty(l.Problem, "it holds variables"))
	case f.Upstreams != nil && f.Upstreams.Offline:
		return Skip("skipped: the upstream was not probed (offline)")
	case len(l.Probes) == 0 && l.NotProbed > 0:
		return Skip("skipped: %s not probed (the run's probe limit was reached)", Plural(l.NotProbed, "server"))
	}
	return Skip("skipped: no upstream server of %s answered the probe", l.Target())
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// advertisedNames lists the CA names an upstream asked for, for evidence.
func advertisedNames(p *probes.UpstreamProbe) string {
	if p == nil || p.TLS == nil || len(p.TLS.AcceptableCAs) == 0 {
		return "any CA (no names sent)"
	}
	return joinNames(dnList(p.TLS.AcceptableCAs), 3)
}

// issuerAdvertised reports whether the link's certificate file chains to a CA the
// upstream named (always true when it named none).
func issuerAdvertised(l *probes.UpstreamLinkFacts, p *probes.UpstreamProbe) bool {
	if p == nil || p.TLS == nil || len(p.TLS.AcceptableCAs) == 0 || l.Cert == nil {
		return true
	}
	return acceptableMatch(l.Cert.Certs, p.TLS.AcceptableCAs)
}

// certRequestedProbe is the first probe whose upstream asked for a client certificate.
func certRequestedProbe(l *probes.UpstreamLinkFacts) *probes.UpstreamProbe {
	for _, p := range linkProbes(l) {
		if p.TLS != nil && p.TLS.CertRequested {
			return p
		}
	}
	return nil
}

// localIssuer finds the certificate that issued c among the link's own files (the
// certificate file's chain and the trusted CA file), nil when none.
func localIssuer(l *probes.UpstreamLinkFacts, c *x509.Certificate) *x509.Certificate {
	var pool []*x509.Certificate
	if l.Cert != nil {
		pool = append(pool, l.Cert.Certs...)
	}
	if l.TrustedCA != nil {
		pool = append(pool, l.TrustedCA.Certs...)
	}
	for _, p := range pool {
		if p != c && bytes.Equal(c.RawIssuer, p.RawSubject) && signedBy(c, p) {
			return p
		}
	}
	return nil
}
