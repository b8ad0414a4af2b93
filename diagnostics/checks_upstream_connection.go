package diagnostics

import (
	"fmt"
	"strings"

	"github.com/mtls-doctor/mtls-doctor/probes"
)

func handshakeFailures(l *probes.UpstreamLinkFacts, match func(p *probes.UpstreamProbe) bool) *probes.UpstreamProbe {
	for _, p := range linkProbes(l) {
		if p.TLS != nil && p.TLS.Error != nil && match(p) {
			return p
		}
	}
	return nil
}

func judgeTLSVersion(f *Facts, l *probes.UpstreamLinkFacts) Result {
	p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool {
		return p.TLS.Error.Kind == probes.ErrTLSVersion || probeAlert(p) == 70 || acceptedVariation(p, probes.VariationTLS13) != nil
	})
	if p != nil {
		r := Fail("%s shares no TLS version with %s %s", p.Server.Address, l.SSL.Protocols.Name,
			firstNonEmpty(l.SSL.Protocols.Value, "(nginx's default)")).Because(CauseTLSVersion).
			With(Note("", "probe: %s", probeLine(p)), upSettingNote(l.SSL.Protocols, ""))
		if acceptedVariation(p, probes.VariationTLS13) != nil {
			r = r.With(Note("", "offered TLS 1.3 alone: the handshake completes"))
		}
		r.Cause.Alert = probeAlert(p)
		return r
	}
	return connectionOK(f, l)
}

// acceptedVariation is the first of p's variations of kind change that the upstream
// accepted; nil when none was.
func acceptedVariation(p *probes.UpstreamProbe, change string) *probes.HandshakeVariation {
	for i, v := range p.Variations {
		if v.Change == change && v.Accepted {
			return &p.Variations[i]
		}
	}
	return nil
}

// acceptedCiphers are the suites the upstream accepted that NGINX's cipher list leaves out.
func acceptedCiphers(p *probes.UpstreamProbe) []string {
	var out []string
	for _, v := range p.Variations {
		if v.Change == probes.VariationCipher && v.Accepted {
			out = append(out, v.Cipher)
		}
	}
	return out
}

// refusalCause names why the upstream refused NGINX's ClientHello from the variations
// it accepted (probes.HandshakeVariation): SNI, or a suite *_ssl_ciphers leaves out.
func refusalCause(l *probes.UpstreamLinkFacts, p *probes.UpstreamProbe) (Result, bool) {
	if v := acceptedVariation(p, probes.VariationSNI); v != nil {
		r := Fail("%s refuses a handshake without SNI (alert 40 handshake failure): %s is off, so NGINX sends no server name",
			p.Server.Address, l.SSL.ServerName.Name).Because(CauseSNIRequired).
			With(Note("", "probe: %s", probeLine(p)), Note("", "offered with SNI %q: the handshake completes", v.SNI),
				upSettingNote(l.SSL.ServerName, ""))
		r.Cause.Alert = probeAlert(p)
		return r, true
	}
	if names := acceptedCiphers(p); len(names) > 0 {
		where := l.SSL.Ciphers.Name
		if pos := l.SSL.Ciphers.Pos(); pos != "" {
			where += " (" + pos + ")"
		}
		r := Fail("%s shares no TLS 1.2 cipher with NGINX: it accepts %s, which %s leaves out", p.Server.Address,
			joinNames(names, 3), where).Because(CauseNoSharedCipher).
			With(Note("", "probe: %s", probeLine(p)), upSettingNote(l.SSL.Ciphers, "offers "+joinNames(p.Ciphers, 4)))
		for _, n := range names {
			r = r.With(Note("", "offered %s alone under TLS 1.2: the handshake completes", n))
		}
		r.Cause.Alert = probeAlert(p)
		return r, true
	}
	return Result{}, false
}

// connectionOK is the verdict of a connection rule that found nothing wrong.
func connectionOK(f *Facts, l *probes.UpstreamLinkFacts) Result {
	ps := linkProbes(l)
	if len(ps) == 0 {
		return notProbed(f, l)
	}
	for _, p := range ps {
		if handshakeDone(p) {
			return OK("NGINX's handshake with %s completes (%s)", p.Server.Address, tlsVersionName(p.TLS.Version))
		}
	}
	return Skip("skipped: the handshake failed for a reason another upstream-* check names")
}

// certAlerts are the alerts about the client certificate, which the client-cert checks name.
var certAlerts = map[int]bool{40: false, 42: true, 43: true, 44: true, 45: true, 46: true, 48: true, 49: true, 70: true, 112: true, 116: true}

func judgeHandshake(f *Facts, l *probes.UpstreamLinkFacts) Result {
	p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool {
		if acceptedVariation(p, probes.VariationTLS13) != nil {
			return false // upstream-tls-version-mismatch names it
		}
		switch p.TLS.Error.Kind {
		case probes.ErrTLSAlert:
			return !certAlerts[p.TLS.Error.Alert] && !requiresCert(p)
		case probes.ErrClosed, probes.ErrProtocol, probes.ErrOther:
			return true
		}
		return false
	})
	if p != nil {
		if r, ok := refusalCause(l, p); ok {
			return r
		}
		r := Fail("the TLS handshake with %s failed: %s", p.Server.Address, strings.TrimPrefix(probeLine(p), p.Server.Address+": ")).
			Because(CauseHandshakeFailed).With(upSettingNote(l.SSL.Ciphers, ""), upSettingNote(l.SSL.Protocols, ""))
		if len(p.CiphersUnknown) > 0 {
			r = r.With(Note("", "%s names %s, which this probe cannot offer (OpenSSL may)", l.SSL.Ciphers.Name, joinNames(p.CiphersUnknown, 3)))
		}
		if n := len(p.Variations); n > 0 {
			r = r.With(Note("", "asked what it accepts, one change at a time (%s): it refused all %d", variationKinds(p), n))
		}
		r.Cause.Alert = probeAlert(p)
		return r
	}
	return connectionOK(f, l)
}

func judgeNotTLS(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if p := handshakeFailures(l, func(p *probes.UpstreamProbe) bool { return p.TLS.Error.Kind == probes.ErrNotTLS }); p != nil {
		return Fail("%s does not speak TLS: %s", p.Server.Address, p.TLS.Error.Message).Because(CauseNotTLS).With(passNote(l))
	}
	return connectionOK(f, l)
}

func judgeUnreachable(f *Facts, l *probes.UpstreamLinkFacts) Result {
	if !l.Judgeable() || len(l.Probes) == 0 {
		return notProbed(f, l)
	}
	var down []string
	var ev []Evidence
	for _, p := range l.Probes {
		if p != nil && p.TCPError != nil {
			down = append(down, p.Server.Address)
			ev = append(ev, Note("", "probe: %s", probeLine(p)))
		}
	}
	switch {
	case len(down) == len(l.Probes):
		return Fail("NGINX cannot connect to %s: %s", l.Target(), l.Probes[0].TCPError.Message).Because(CauseUnreachable).With(ev...)
	case len(down) > 0:
		return Warn("%s of %s %s cannot be reached: %s", Plural(len(down), "server"), l.Target(), "servers", joinNames(down, 3)).
			Because(CauseUnreachable).With(ev...)
	}
	return OK("%s accepts connections", joinNames(serverAddrs(l), 3))
}

func serverAddrs(l *probes.UpstreamLinkFacts) []string {
	var out []string
	for _, s := range l.Servers {
		out = append(out, s.Address)
	}
	return out
}

// variationKinds says what p's variations changed: "SNI \"a.example\", TLS 1.3 only,
// 15 TLS 1.2 suites one at a time".
func variationKinds(p *probes.UpstreamProbe) string {
	var parts []string
	suites := 0
	for _, v := range p.Variations {
		switch v.Change {
		case probes.VariationSNI:
			parts = append(parts, fmt.Sprintf("SNI %q", v.SNI))
		case probes.VariationTLS13:
			parts = append(parts, "TLS 1.3 only")
		case probes.VariationCipher:
			suites++
		}
	}
	if suites > 0 {
		parts = append(parts, Plural(suites, "TLS 1.2 suite")+" one at a time")
	}
	return strings.Join(parts, ", ")
}
