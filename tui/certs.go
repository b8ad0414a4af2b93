package tui

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// certProblem is one thing wrong with a certificate, shown where the certificate is.
type certProblem struct {
	sev  diagnostics.Severity
	text string
}

// certRole says what a chain is for, which decides what counts as a problem.
type certRole int

const (
	roleAgent  certRole = iota // the agent's client certificate
	roleServer                 // the chain the server served
	roleCA                     // the agent's CA bundle
)

// chainNode is one certificate in a drawn chain, or a gap where an issuer was not found.
type chainNode struct {
	cert  *x509.Certificate
	where string // where this certificate came from, when not the chain's own source
	gap   string // set instead of cert when the issuer is missing
	probs []certProblem
}

// certSource is a list of certificates and what to call them.
type certSource struct {
	certs []*x509.Certificate
	where string
}

// chainFrom walks from leaf to its root with the checks' own walker, looking for each
// issuer in the sources in order, and draws a gap where an issuer was not found.
func chainFrom(leaf *x509.Certificate, sources ...certSource) []chainNode {
	pools := make([][]*x509.Certificate, len(sources))
	for i, src := range sources {
		pools[i] = src.certs
	}
	ch := diagnostics.WalkChain(leaf, pools...)
	nodes := make([]chainNode, 0, len(ch.Links)+1)
	for _, l := range ch.Links {
		n := chainNode{cert: l.Cert}
		if l.Pool >= 0 {
			n.where = sources[l.Pool].where
		}
		nodes = append(nodes, n)
	}
	if !ch.Rooted {
		issuer := dnString(ch.Last().Issuer.String())
		gap := "issuer " + issuer + " not found"
		if ch.NameOnly != nil {
			gap = "a certificate named " + issuer +
				" is present, but it did not sign this one (a re-created CA with the same name?)"
		}
		nodes = append(nodes, chainNode{gap: gap})
	}
	return nodes
}

func dnString(s string) string {
	if s == "" {
		return "(empty name)"
	}
	return safetext.Clean(s) // a name in a certificate may carry escape sequences
}

// certGroup is one of the screen's sections.
type certGroup struct {
	title  string
	source string
	note   string
	chains [][]chainNode
	role   certRole
}

// certGroups collects the agent's chain, the served chain and the CA bundle.
func (m Model) certGroups() []certGroup {
	var out []certGroup
	files, ep := m.host.Files, m.host.Endpoint
	var caCerts []*x509.Certificate
	caWhere := "from the CA file"
	if files != nil && files.CA != nil {
		caCerts = files.CA.Certs
		caWhere = "from " + files.CA.Path
	}

	agent := certGroup{title: "Agent certificate", role: roleAgent}
	switch {
	case files == nil:
		agent.note = "not read yet"
	case files.Cert == nil:
		agent.note = "not configured"
	case len(files.Cert.Certs) == 0:
		agent.source = files.Cert.Path
		agent.note = "no certificate could be read from the file"
	default:
		agent.source = files.Cert.Path
		leaf := files.Cert.Certs[0]
		agent.chains = [][]chainNode{chainFrom(leaf,
			certSource{files.Cert.Certs[1:], "in the same file"}, certSource{caCerts, caWhere})}
	}
	out = append(out, agent)

	served := certGroup{title: "Served by the server", role: roleServer}
	var peer []*x509.Certificate
	if ep != nil {
		served.source = ep.Address
		if ep.Agent != nil && ep.Agent.TLS != nil {
			peer = ep.Agent.TLS.PeerChain
		}
		if len(peer) == 0 && ep.NoCert != nil && ep.NoCert.TLS != nil {
			peer = ep.NoCert.TLS.PeerChain
		}
	}
	switch {
	case ep == nil:
		served.note = "not probed yet"
	case len(peer) == 0:
		served.note = "no certificate was received"
	default:
		served.chains = [][]chainNode{chainFrom(peer[0],
			certSource{peer[1:], ""}, certSource{caCerts, caWhere + ", not served"})}
	}
	out = append(out, served)

	bundle := certGroup{title: "CA bundle", role: roleCA}
	switch {
	case files == nil:
		bundle.note = "not read yet"
	case files.CA == nil:
		bundle.note = "none configured: the agent trusts the system store"
	case len(files.CA.Certs) == 0:
		bundle.source = files.CA.Path
		bundle.note = "no certificate could be read from the file"
	default:
		bundle.source = files.CA.Path
		shown := map[*x509.Certificate]bool{}
		for _, c := range caCerts {
			if shown[c] || issuesOther(c, caCerts) {
				continue
			}
			chain := chainFrom(c, certSource{caCerts, ""})
			for _, n := range chain {
				shown[n.cert] = true
			}
			bundle.chains = append(bundle.chains, chain)
		}
		for _, c := range caCerts { // a loop of cross-signed CAs has no bottom; show them anyway
			if !shown[c] {
				bundle.chains = append(bundle.chains, []chainNode{{cert: c}})
			}
		}
	}
	out = append(out, bundle)
	return append(out, m.upstreamCertGroups()...)
}

// upstreamCertGroups are, per upstream link of the NGINX judged, the client certificate
// NGINX presents (with its file's chain and the link's trusted CA file) and the chain the
// upstream served the probe.
func (m Model) upstreamCertGroups() []certGroup {
	if m.host.Upstreams == nil {
		return nil
	}
	var out []certGroup
	for _, l := range m.host.Upstreams.Links {
		name := diagnostics.LinkName(l.UpstreamLink)
		var trusted []*x509.Certificate
		trustedWhere := "from the trusted CA file"
		if l.TrustedCA != nil {
			trusted, trustedWhere = l.TrustedCA.Certs, "from "+l.TrustedCA.Path
		}
		client := certGroup{title: "Upstream link " + name + ": client certificate", role: roleAgent}
		switch {
		case l.Cert == nil:
			client.note = "none configured (" + l.SSL.Certificate.Name + ")"
		case len(l.Cert.Certs) == 0:
			client.source, client.note = l.Cert.Path, "no certificate could be read from the file"
		default:
			client.source = l.Cert.Path
			client.chains = [][]chainNode{chainFrom(l.Cert.Certs[0], certSource{l.Cert.Certs[1:], "in the same file"})}
		}
		served := certGroup{title: "Upstream link " + name + ": served by the upstream", role: roleServer}
		for _, p := range l.Probes {
			if p != nil && p.TLS != nil && len(p.TLS.PeerChain) > 0 {
				peer := p.TLS.PeerChain
				served.source = p.Server.Address
				served.chains = [][]chainNode{chainFrom(peer[0], certSource{peer[1:], ""}, certSource{trusted, trustedWhere + ", not served"})}
				break
			}
		}
		if served.chains == nil {
			served.note = "no certificate was received (not probed, or the handshake failed)"
		}
		out = append(out, client, served)
	}
	return out
}

// issuesOther reports whether c signed another certificate of the list.
func issuesOther(c *x509.Certificate, list []*x509.Certificate) bool {
	for _, o := range list {
		if o != c && !diagnostics.IssuedBy(o, o) && diagnostics.IssuedBy(o, c) {
			return true
		}
	}
	return false
}

// problems lists what is wrong with the certificate at position i of a chain.
func (m Model) problems(c *x509.Certificate, role certRole, leaf bool) []certProblem {
	var out []certProblem
	add := func(sev diagnostics.Severity, format string, a ...any) {
		out = append(out, certProblem{sev, fmt.Sprintf(format, a...)})
	}
	if p, ok := m.lifeProblem(c); ok {
		out = append(out, p)
	}
	if leaf && role == roleAgent {
		if c.IsCA {
			add(diagnostics.SeverityFail, "a CA certificate (CA:TRUE) used as the agent's own")
		}
		if !diagnostics.EKUAllows(c, x509.ExtKeyUsageClientAuth) {
			add(diagnostics.SeverityFail, "extended key usage lacks clientAuth")
		}
	}
	if leaf && role == roleServer {
		if !diagnostics.EKUAllows(c, x509.ExtKeyUsageServerAuth) {
			add(diagnostics.SeverityFail, "extended key usage lacks serverAuth")
		}
		if len(c.DNSNames)+len(c.IPAddresses) == 0 {
			add(diagnostics.SeverityFail, "no subject alternative names: Go ignores the CN")
		} else if ep := m.host.Endpoint; ep != nil && ep.VerifyName != "" && c.VerifyHostname(ep.VerifyName) != nil {
			add(diagnostics.SeverityFail, "does not cover %s, the name the agent verifies", ep.VerifyName)
		}
	}
	for _, w := range diagnostics.CertWeaknesses(c) {
		add(diagnostics.SeverityFail, "%s, which OpenSSL refuses", w)
	}
	return out
}

// lifeProblem judges c's validity period at the run's instant with the run's thresholds,
// exactly as the expiry checks do.
func (m Model) lifeProblem(c *x509.Certificate) (certProblem, bool) {
	now := m.clock()
	if now.IsZero() {
		return certProblem{}, false
	}
	sev, text := diagnostics.CertExpiry(c, now, m.thresholds())
	if sev < diagnostics.SeverityWarn {
		return certProblem{}, false
	}
	return certProblem{sev, text}, true
}

// certsPage is the Certificates screen: the agent's chain, the served chain and the CA
// bundle as trees.
type certsPage struct{ scrolled }

func newCertsPage() *certsPage {
	p := &certsPage{}
	p.render = p.lines
	return p
}

func (p *certsPage) title(width int) string {
	switch {
	case width < 56:
		return "Cert"
	case width < 72:
		return "Certs"
	}
	return "Certificates"
}

// shortHelp implements page.
func (p *certsPage) shortHelp(m *Model) []key.Binding {
	return []key.Binding{m.keys.move("scroll"), m.keys.Recheck, m.keys.next()}
}

// update scrolls and re-checks everything.
func (p *certsPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	p.scrollKey(m.keys, msg)
	return m.recheckAllIf(msg)
}

// lines renders the three sections as trees.
func (p *certsPage) lines(m *Model, w int) ([]string, int) {
	var out []string
	for gi, g := range m.certGroups() {
		if gi > 0 {
			out = append(out, "")
		}
		head := " " + m.styles.Section.Render(g.title)
		if g.source != "" {
			head += m.styles.Dim.Render("  " + safetext.CleanLine(g.source))
		}
		out = append(out, fit(head, w, m.g.ellipsis))
		if g.note != "" {
			out = append(out, m.styles.Dim.Render(fit("   "+safetext.CleanLine(g.note), w, m.g.ellipsis)))
		}
		for _, chain := range g.chains {
			for depth, n := range chain {
				out = append(out, m.nodeLines(n, g.role, depth, w)...)
			}
		}
	}
	return out, -1
}

// nodeLines draws one certificate of a chain at its depth.
func (m Model) nodeLines(n chainNode, role certRole, depth, w int) []string {
	s := m.styles
	indent := " " + strings.Repeat(m.g.treePipe, depth)
	branch := indent + m.g.treeLast
	body := indent + strings.Repeat(" ", len([]rune(m.g.treeLast))) + "  "
	if n.cert == nil {
		return styleLines(wrapIndent(m.g.fail+" "+n.gap, w, branch, body), s.Fail.Render)
	}
	c := n.cert
	probs := m.problems(c, role, depth == 0)
	worst := diagnostics.SeverityOK
	for _, p := range probs {
		worst = max(worst, p.sev)
	}
	g, word := m.g.severity(worst)
	subject := dnString(c.Subject.String())
	var out []string
	out = append(out, fit(branch+s.severity(worst).Render(g+" "+pad(word, 4))+" "+s.Bold.Render(subject), w, m.g.ellipsis))
	if n.where != "" {
		out = append(out, s.Dim.Render(fit(body+"("+safetext.CleanLine(n.where)+")", w, m.g.ellipsis)))
	}
	for _, p := range probs {
		pg, _ := m.g.severity(p.sev)
		out = append(out, styleLines(wrapIndent(pg+" "+p.text, w, body, body+"  "), s.severity(p.sev).Render)...)
	}
	field := func(name, value string) {
		first := body + s.Label.Render(pad(name, 8))
		out = append(out, wrapIndent(value, w, first, body+strings.Repeat(" ", 8))...)
	}
	field("issuer", dnString(c.Issuer.String()))
	if sans := diagnostics.SANs(c); len(sans) > 0 {
		field("SANs", strings.Join(sans, ", "))
	} else {
		field("SANs", "none")
	}
	field("valid", c.NotBefore.UTC().Format("2006-01-02")+" "+m.g.arrow+" "+c.NotAfter.UTC().Format("2006-01-02"))
	out = append(out, body+strings.Repeat(" ", 8)+m.lifeBar(c))
	field("usage", strings.ReplaceAll(usageText(c), " · ", " "+m.g.dot+" "))
	field("key", diagnostics.KeyDescription(c.PublicKey)+" "+m.g.dot+" signed "+c.SignatureAlgorithm.String())
	sum := sha256.Sum256(c.Raw)
	hexs := hex.EncodeToString(sum[:])
	var groups []string
	for i := 0; i < len(hexs); i += 8 {
		groups = append(groups, hexs[i:i+8])
	}
	field("sha256", strings.Join(groups, " "))
	return out
}

// lifeBar draws the share of the validity period left, with the days left in words.
func (m Model) lifeBar(c *x509.Certificate) string {
	now := m.clock()
	if now.IsZero() {
		return ""
	}
	const width = 12
	life := c.NotAfter.Sub(c.NotBefore)
	frac := 0.0
	if life > 0 {
		frac = float64(c.NotAfter.Sub(now)) / float64(life)
	}
	frac = math.Max(0, math.Min(1, frac))
	if now.Before(c.NotBefore) {
		frac = 1
	}
	full := int(math.Round(frac * width))
	days := diagnostics.DaysLeft(c, now)
	var text string
	sev := diagnostics.SeverityOK
	if p, ok := m.lifeProblem(c); ok {
		sev = p.sev
	}
	switch {
	case now.After(c.NotAfter):
		text = "expired " + diagnostics.HumanDuration(now.Sub(c.NotAfter)) + " ago"
	case now.Before(c.NotBefore):
		text = "not valid yet"
	default:
		text = diagnostics.Plural(days, "day") + " left"
	}
	bar := "[" + strings.Repeat(m.g.barFull, full) + strings.Repeat(m.g.barEmpty, width-full) + "]"
	return m.styles.severity(sev).Render(bar + " " + text)
}

var kuNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"}, {x509.KeyUsageContentCommitment, "nonRepudiation"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"}, {x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"}, {x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
}

// usageText describes the extended and plain key usages and the CA flag.
func usageText(c *x509.Certificate) string {
	eku := diagnostics.EKUNames(c)
	var ku []string
	for _, k := range kuNames {
		if c.KeyUsage&k.bit != 0 {
			ku = append(ku, k.name)
		}
	}
	parts := []string{"EKU any (none set)"}
	if len(eku) > 0 {
		parts[0] = "EKU " + strings.Join(eku, ", ")
	}
	if len(ku) > 0 {
		parts = append(parts, "KU "+strings.Join(ku, ", "))
	}
	if c.BasicConstraintsValid && c.IsCA {
		parts = append(parts, "CA")
	}
	return strings.Join(parts, " · ")
}
