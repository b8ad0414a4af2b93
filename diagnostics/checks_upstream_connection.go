package diagnostics

import (
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
		return p.TLS.Error.Kind == probes.ErrTLSVersion || probeAlert(p) == 70
	})
	if p != nil {
		r := Fail("%s shares no TLS version with %s %s", p.Server.Address, l.SSL.Protocols.Name,
			firstNonEmpty(l.SSL.Protocols.Value, "(nginx's default)")).Because(CauseTLSVersion).
			With(Note("", "probe: %s", probeLine(p)), upSettingNote(l.SSL.Protocols, ""))
		r.Cause.Alert = probeAlert(p)
		return r
	}
	return connectionOK(f, l)
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
		switch p.TLS.Error.Kind {
		case probes.ErrTLSAlert:
			return !certAlerts[p.TLS.Error.Alert] && !requiresCert(p)
		case probes.ErrClosed, probes.ErrProtocol, probes.ErrOther:
			return true
		}
		return false
	})
	if p != nil {
		r := Fail("the TLS handshake with %s failed: %s", p.Server.Address, strings.TrimPrefix(probeLine(p), p.Server.Address+": ")).
			Because(CauseHandshakeFailed).With(upSettingNote(l.SSL.Ciphers, ""), upSettingNote(l.SSL.Protocols, ""))
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
