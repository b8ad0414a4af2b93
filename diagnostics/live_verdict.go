package diagnostics

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/opensslverdict"
	"github.com/mtls-doctor/mtls-doctor/logparse"
	"github.com/mtls-doctor/mtls-doctor/probes"
)

// NGINX knows why it rejects an agent certificate and logs it as OpenSSL's verify result,
// "client SSL certificate verify error: (23:certificate revoked)". This file turns that
// result into the finding that names the cause, so that scripts keyed on IDs see
// agent-cert-revoked rather than the generic agent-cert-rejected. The result comes from
// the live verdict: NGINX's line for the probe's own request in this run, or else the
// offline prediction of NGINX's verdict (checks_manager_verify.go) on the agent's chain.

// liveVerdict is OpenSSL's verify result NGINX gave the agent's certificate.
type liveVerdict struct {
	Code int
	// Line is NGINX's line, as logged or as predicted; Where is its file or the server
	// block the prediction is for.
	Line, Where string
	// Logged is true for NGINX's own line, false for the prediction.
	Logged bool
}

// verdictOf finds the live verdict: NGINX's log line for the probe's request with the
// agent's certificate when the probe was rejected, else the prediction for the judged
// chain when the probe was not accepted (or did not run).
func verdictOf(f *Facts) (liveVerdict, bool) {
	if f == nil {
		return liveVerdict{}, false
	}
	a := agentAttempt(f)
	h := httpReply(a)
	probed := h != nil && a.WithClientCert
	if probed {
		if code := rejection(h); code != 495 && code != 16 {
			return liveVerdict{}, false // NGINX accepted it, or it was never sent (496)
		}
		if v, ok := probeLogLine(f); ok {
			return v, true
		}
	}
	return predictedVerdict(f)
}

// probeLogLine is NGINX's verify error for the probe's request: a logged verify result
// from the probe's own address, written since this run started. NGINX's error log
// carries whole seconds, so the run's start is taken to its second.
func probeLogLine(f *Facts) (liveVerdict, bool) {
	if f.Logs == nil || f.Now.IsZero() || f.Endpoint == nil {
		return liveVerdict{}, false
	}
	ip, _, _ := net.SplitHostPort(f.Endpoint.LocalAddr)
	since := f.Now.Truncate(time.Second)
	var best liveVerdict
	var bestAt time.Time
	for _, s := range f.Logs.Summaries {
		if s.X509Code == 0 || s.LastSeen.Before(since) || !s.LastSeen.After(bestAt) {
			continue
		}
		if ip != "" && !hasClient(s.Clients, ip) {
			continue
		}
		line := fmt.Sprintf("client SSL certificate verify error: (%d:%s)", s.X509Code, s.X509Text)
		if len(s.Examples) > 0 {
			line = s.Examples[0]
		}
		where := ""
		if len(s.Files) > 0 {
			where = s.Files[0]
		}
		best, bestAt = liveVerdict{Code: s.X509Code, Line: line, Where: where, Logged: true}, s.LastSeen
	}
	return best, !bestAt.IsZero()
}

func hasClient(cs []logparse.ClientCount, ip string) bool {
	for _, c := range cs {
		if c.Client == ip {
			return true
		}
	}
	return false
}

// predictedVerdict is the prediction of NGINX's verify error on the judged chain, for the
// first agent-facing server that would reject it.
func predictedVerdict(f *Facts) (liveVerdict, bool) {
	if !managerHost(f) {
		return liveVerdict{}, false
	}
	chain, _, _, ok := judged(f)
	if !ok {
		return liveVerdict{}, false
	}
	for _, s := range f.Nginx.Servers {
		if s.SSL.VerifyClient.Value == "off" {
			continue
		}
		if _, ok := predictable(f, s); !ok {
			continue
		}
		if v := predictFor(f, s, chain); v.Outcome == outcomeVerifyError {
			e, _ := v.Verify.Last()
			return liveVerdict{Code: e.Code, Line: predictedLine(v), Where: s.Pos()}, true
		}
	}
	return liveVerdict{}, false
}

// verifyFinding is the finding that names the cause of OpenSSL verify result code for the
// agent's certificate; "" when none does (agent-cert-rejected then states the reason).
// 20, 21, 2, 18 and 19 say NGINX found no trusted issuer: the agent's cert file lacks
// its intermediate, the chain is deeper than ssl_verify_depth (NGINX 1.22 with OpenSSL 3
// logs 20 for that), or the CA is not NGINX's.
func verifyFinding(f *Facts, code int) string {
	switch code {
	case opensslverdict.CertNotYetValid:
		return "agent-cert-not-yet-valid"
	case opensslverdict.CertHasExpired:
		return "agent-cert-expired"
	case opensslverdict.CertRevoked:
		return "agent-cert-revoked"
	case opensslverdict.InvalidPurpose:
		return "agent-cert-wrong-purpose"
	case opensslverdict.EEKeyTooSmall, opensslverdict.CAKeyTooSmall, opensslverdict.CAMDTooWeak:
		return "agent-cert-weak-key"
	case opensslverdict.CRLHasExpired, opensslverdict.CRLNotYetValid:
		return "crl-expired"
	case opensslverdict.UnableToGetCRL:
		return "crl-missing"
	case opensslverdict.ChainTooLong:
		return "client-verify-depth"
	case opensslverdict.UnableToGetIssuerLocally, opensslverdict.UnableToGetIssuer, opensslverdict.UnableToVerifyLeafSig,
		opensslverdict.DepthZeroSelfSigned, opensslverdict.SelfSignedInChain:
		g := chainFacts(f)
		if g != nil && agentLeaf(g) != nil && !selfSigned(agentLeaf(g)) {
			st := agentChainOf(g)
			switch {
			case len(st.missing) > 0:
				return "agent-chain-incomplete"
			case len(st.inter) >= 2:
				return "client-verify-depth"
			}
		}
		return "agent-cert-unknown-ca"
	}
	return ""
}

// liveVerdictCheck makes ch fail when NGINX's live verdict names it (Check.LiveVerdict),
// whatever the check could judge on its own (a revocation or an expired CRL is not visible
// from the agent's host, and NGINX's clock is the one that counts).
func liveVerdictCheck(ch Check) Check {
	inner, id := ch, ch.ID
	wants := append(append([]FactKind{}, inner.Needs...), inner.Wants...)
	for _, k := range []FactKind{FactEndpoint, FactLogs} {
		if !slices.Contains(wants, k) {
			wants = append(wants, k)
		}
	}
	ch.Needs, ch.Wants = nil, wants
	ch.Evaluate = func(f *Facts) Result {
		r, _ := agentHalf(inner, f)
		v, ok := verdictOf(f)
		if !ok || r.Severity == SeverityFail || verifyFinding(f, v.Code) != id {
			return r
		}
		out := Fail("NGINX rejected the agent certificate: %s", verdictText(v)).WithCause(Cause{Code: CauseNginxVerdict, OpenSSL: v.Code}).With(verdictQuote(v))
		if r.Summary != "" {
			out = out.With(Note("", "from this host alone (%s): %s", r.Severity, r.Summary))
		}
		return out.With(r.Evidence...)
	}
	return ch
}

// verdictText says what NGINX said, and where it was learnt.
func verdictText(v liveVerdict) string {
	text := opensslverdict.Error{Code: v.Code}.Text()
	if v.Logged {
		return fmt.Sprintf("it logged (%d:%s) for mtls-doctor's request", v.Code, text)
	}
	return fmt.Sprintf("it would log (%d:%s), as predicted from its configuration", v.Code, text)
}

func verdictQuote(v liveVerdict) Evidence {
	if v.Logged {
		return Quoted(v.Where, "NGINX's line for mtls-doctor's request with the agent's certificate", v.Line)
	}
	return Quoted(v.Where, "NGINX would log", v.Line)
}

// chainFacts are the facts whose agent chain is judged: f, or on a manager-only run the
// certificate given with --cert seen as the agent's (givenCertFacts).
func chainFacts(f *Facts) *Facts {
	if f.Agent != nil {
		return f
	}
	g, _ := givenCertFacts(f)
	return g
}

// givenCertFacts is f as if an agent used the certificate given with --cert (and the key
// and CA given with --key and --ca), on a run with no agent configuration: the agent
// checks then judge those files by their own rules (readable PEM, key match, encrypted
// key, expired, not yet valid, purpose, weak key) on the manager's host. A --cert that
// cannot be read still counts, so that agent-cert-file-unreadable can say why.
func givenCertFacts(f *Facts) (*Facts, bool) {
	if f == nil || f.Agent != nil || f.Nginx == nil || f.Nginx.AgentCert == nil {
		return nil, false
	}
	g := *f
	flag := func(name string) probes.Source { return probes.Source{Kind: probes.SourceFlag, Name: name} }
	a := &probes.AgentConfig{
		TLSEnabled: probes.Setting{Value: "true", Source: flag("cert")},
		Cert:       probes.Setting{Value: f.Nginx.AgentCert.Path, Source: flag("cert")},
	}
	files := &probes.AgentFiles{Cert: f.Nginx.AgentCert, Key: f.Nginx.AgentKey, CA: f.Nginx.AgentCA}
	if k := f.Nginx.AgentKey; k != nil {
		a.Key = probes.Setting{Value: k.Path, Source: flag("key")}
	}
	if ca := f.Nginx.AgentCA; ca != nil {
		a.CA = probes.Setting{Value: ca.Path, Source: flag("ca")}
	}
	g.Agent, g.Files, g.Endpoint = a, files, nil
	return &g, true
}

// givenFlags names the files given on a manager-only run: "--cert A --key B".
func givenFlags(n *probes.NginxFacts) string {
	out := "--cert " + n.AgentCert.Path
	if n.AgentKey != nil {
		out += " --key " + n.AgentKey.Path
	}
	if n.AgentCA != nil {
		out += " --ca " + n.AgentCA.Path
	}
	return out
}

// givenCertSide is the manager half of an agent certificate or file check: the check's own
// evaluation (agentEval, agentFix) of the files given with --cert, --key and --ca on a
// manager-only run.
func givenCertSide(id string, agentEval func(f *Facts) Result, agentFix func(f *Facts, _ Result) []Step) *ManagerSide {
	return &ManagerSide{
		Evaluate: func(f *Facts) Result {
			g, given := givenCertFacts(f)
			if !given {
				return Skip("skipped: no --cert certificate to judge on this manager-only run")
			}
			if (id == "agent-key-encrypted" || id == "agent-key-mismatch") && g.Files.Key == nil {
				return Skip("skipped: no --key given beside --cert %s", f.Nginx.AgentCert.Path)
			}
			r := agentEval(g)
			if r.Severity != SeveritySkip {
				r.Summary = givenFlags(f.Nginx) + ": " + r.Summary
			}
			return r
		},
		Fix: func(f *Facts, r Result) []Step {
			g, given := givenCertFacts(f)
			if !given || agentFix == nil {
				return nil
			}
			return agentFix(g, r)
		},
	}
}
