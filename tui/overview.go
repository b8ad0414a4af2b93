package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
	"github.com/mtls-doctor/mtls-doctor/probes"
	"github.com/mtls-doctor/mtls-doctor/probes/mesh"
)

// overviewPage is the Overview: the host facts, the counts, every problem first and then
// the checks by category, with a cursor, a `/` filter and the host facts fold.
type overviewPage struct {
	scrolled
	cursor   string // check selected; "" follows the top row until a key moves it
	filter   string // the `/` filter, lower case
	editing  bool   // the filter is being typed
	showHost bool   // every host fact is listed, not the one- or two-line summary
}

func newOverviewPage() *overviewPage {
	p := &overviewPage{}
	p.render = p.lines
	return p
}

func (p *overviewPage) title(width int) string {
	if width < 56 {
		return "Ovw"
	}
	return "Overview"
}

func (p *overviewPage) typing() bool { return p.editing }

// escape clears the filter; the Overview is where Esc ends.
func (p *overviewPage) escape(*Model) {
	if p.filter != "" {
		p.filter, p.cursor = "", ""
	}
}

// shortHelp implements page.
func (p *overviewPage) shortHelp(m *Model) []key.Binding {
	km := m.keys
	host := km.HostFacts
	host.SetHelp("i", "host")
	return []key.Binding{km.move("move"), km.open("open", p.cursorID(m) != ""), km.Filter, km.matches(p.filter != ""), host, km.Recheck}
}

// rank orders checks for display: problems first, then what is still running, then the
// rest; checks never run come last.
func (m Model) rank(id string) int {
	switch m.states[id] {
	case stateRunning:
		return 2
	case stateWaiting:
		return 3
	}
	f, ok := m.findings[id]
	if !ok {
		return 7
	}
	switch f.Severity {
	case diagnostics.SeverityFail:
		return 0
	case diagnostics.SeverityWarn:
		return 1
	case diagnostics.SeverityInfo:
		return 4
	case diagnostics.SeverityOK:
		return 5
	}
	return 6
}

// categoryGroup is one heading of the Overview and its checks in display order.
type categoryGroup struct {
	title string
	ids   []string
	best  int // the rank of its first check
}

// problemsTitle heads the group of every failing and warning check, above the categories,
// so that all problems are on the first screen however many checks pass.
const problemsTitle = "Problems"

// groups sorts the catalog for the Overview: the problems first, then the other checks by
// category, the category with the worst check first. With a filter, only matching checks.
func (p *overviewPage) groups(m *Model) []categoryGroup {
	problems := categoryGroup{title: problemsTitle}
	var out []categoryGroup
	for _, cat := range diagnostics.Categories {
		// A category is one group, except that the upstream checks are grouped per link
		// they judged ("upstream · front → backend:8443").
		var cgs []*categoryGroup
		byTitle := map[string]*categoryGroup{}
		for _, ch := range m.engine.Catalog {
			if ch.Category != cat || !p.matches(m, ch) {
				continue
			}
			if r := m.rank(ch.ID); r <= 1 {
				problems.ids = append(problems.ids, ch.ID)
				continue
			}
			title := string(cat)
			if f, ok := m.findings[ch.ID]; ok && f.Subject.Kind == diagnostics.SubjectUpstreamLink && f.Subject.Name != "" {
				title += " " + m.g.dot + " " + f.Subject.Name
			}
			g := byTitle[title]
			if g == nil {
				g = &categoryGroup{title: title}
				byTitle[title] = g
				cgs = append(cgs, g)
			}
			g.ids = append(g.ids, ch.ID)
		}
		for _, g := range cgs {
			slices.SortStableFunc(g.ids, func(a, b string) int { return cmp.Compare(m.rank(a), m.rank(b)) })
			g.best = m.rank(g.ids[0])
			out = append(out, *g)
		}
	}
	slices.SortStableFunc(out, func(a, b categoryGroup) int { return cmp.Compare(a.best, b.best) })
	if len(problems.ids) > 0 {
		slices.SortStableFunc(problems.ids, func(a, b string) int { return cmp.Compare(m.rank(a), m.rank(b)) })
		out = append([]categoryGroup{problems}, out...)
	}
	return out
}

// matches reports whether ch passes the Overview's filter: its ID, category, title or
// latest summary contains it.
func (p *overviewPage) matches(m *Model, ch diagnostics.Check) bool {
	if p.filter == "" {
		return true
	}
	for _, s := range []string{ch.ID, string(ch.Category), ch.Title, m.findings[ch.ID].Summary} {
		if containsFold(s, p.filter) {
			return true
		}
	}
	return false
}

// order is every check ID in display order.
func (p *overviewPage) order(m *Model) []string {
	var ids []string
	for _, g := range p.groups(m) {
		ids = append(ids, g.ids...)
	}
	return ids
}

// cursorID is the selected check: the one the user moved to, else the top row (the worst
// check, which changes while results stream in).
func (p *overviewPage) cursorID(m *Model) string {
	if p.cursor != "" {
		return p.cursor
	}
	if order := p.order(m); len(order) > 0 {
		return order[0]
	}
	return ""
}

// update moves the selection, opens a finding or re-runs everything; while the filter is
// typed, it takes every key.
func (p *overviewPage) update(m *Model, msg tea.KeyPressMsg) tea.Cmd {
	if p.editing {
		p.filter, p.editing = editFilter(p.filter, msg)
		p.cursor = ""
		return nil
	}
	switch {
	case key.Matches(msg, m.keys.Filter):
		p.editing = true
		return nil
	case key.Matches(msg, m.keys.HostFacts):
		p.showHost = !p.showHost
		return nil
	}
	order := p.order(m)
	if len(order) == 0 {
		return m.recheckAllIf(msg)
	}
	i := max(slices.Index(order, p.cursorID(m)), 0)
	switch {
	case key.Matches(msg, m.keys.Up):
		i--
	case key.Matches(msg, m.keys.Down):
		i++
	case key.Matches(msg, m.keys.PageUp):
		i -= p.page()
	case key.Matches(msg, m.keys.PageDown):
		i += p.page()
	case key.Matches(msg, m.keys.Top):
		i = 0
		p.offset = 0
	case key.Matches(msg, m.keys.Bottom):
		i = len(order) - 1
	case key.Matches(msg, m.keys.NextMatch), key.Matches(msg, m.keys.PrevMatch):
		if p.filter == "" {
			return nil
		}
		// Every row shown matches the filter: n and N step through them, wrapping.
		if key.Matches(msg, m.keys.PrevMatch) {
			i += len(order) - 1
		} else {
			i++
		}
		i %= len(order)
	case key.Matches(msg, m.keys.Open):
		m.openFinding(order[i])
		return nil
	case key.Matches(msg, m.keys.Recheck):
		return m.recheckAllIf(msg)
	}
	p.cursor = order[clamp(i, 0, len(order)-1)]
	return nil
}

// lines renders the host facts (all of them, or a summary), the counts, the
// filter and the checks, with the selected check's line.
func (p *overviewPage) lines(m *Model, w int) ([]string, int) {
	var lines []string
	if p.showHost {
		lines = append(m.hostLines(w), "")
	} else {
		lines = m.hostSummary(w)
	}
	lines = append(lines, m.countsLine())
	switch {
	case p.editing:
		lines = append(lines, fit(" /"+safetext.CleanLine(p.filter)+m.g.cursor, w, m.g.ellipsis))
	case p.filter != "":
		lines = append(lines, fit(m.styles.Dim.Render(" filter: "+safetext.CleanLine(p.filter)+"   (n/N next/previous, / change, esc clear)"), w, m.g.ellipsis))
	}
	head := len(lines)
	cursor := -1
	sel := p.cursorID(m)
	for _, g := range p.groups(m) {
		lines = append(lines, m.categoryLine(g))
		for _, id := range g.ids {
			if id == sel {
				cursor = len(lines)
			}
			lines = append(lines, m.checkRow(id, w, id == sel))
		}
	}
	if p.filter != "" && cursor < 0 {
		lines = append(lines, m.styles.Dim.Render("   no check matches the filter"))
	}
	if cursor == head+1 {
		cursor = 0 // the first check selected: keep the host facts in view too
	}
	return lines, cursor
}

// hostSummary is the host facts in two lines: the role, then where the agent connects
// (or the NGINX configuration of a manager), with the key that shows them all.
func (m Model) hostSummary(w int) []string {
	facts := m.hostFacts()
	value := func(name string) string {
		for _, f := range facts {
			if f.name == name {
				return safetext.CleanLine(f.value) // paths and names from the host's files
			}
		}
		return ""
	}
	out := []string{fit(" "+m.styles.Bold.Render(value("Role")), w, m.g.ellipsis)}
	var second []string
	if ep := value("Endpoint"); ep != "" {
		s := m.styles.Label.Render("Endpoint") + " " + ep
		if sni := value("SNI"); sni != "" {
			s += "  " + m.styles.Label.Render("SNI") + " " + sni
		}
		second = append(second, s)
	} else if ng := value("NGINX"); ng != "" {
		second = append(second, m.styles.Label.Render("NGINX")+" "+ng)
	} else if in := value("Inputs"); in != "" {
		second = append(second, m.styles.Label.Render("Inputs")+" "+in)
	}
	hint := m.styles.Dim.Render(" (i: all host facts)")
	line := " " + strings.Join(second, "")
	return append(out, spread(line, hint, w, m.g.ellipsis))
}

// label formats one "name   value" line of the host facts.
func (m Model) label(name, value string, w int) []string {
	const col = 11
	first := " " + m.styles.Label.Render(pad(name, col-1))
	return wrapIndent(value, w, first, strings.Repeat(" ", col))
}

// hostFact is one "name value" line of the host facts.
type hostFact struct{ name, value string }

// hostLines describes what was found on this host, one labelled fact after another.
func (m Model) hostLines(w int) []string {
	var out []string
	for _, f := range m.hostFacts() {
		out = append(out, m.label(f.name, f.value, w)...)
	}
	return out
}

// hostFacts lists what was found on this host: the subject being judged.
func (m Model) hostFacts() []hostFact {
	if m.judgesMesh() {
		return m.meshFacts()
	}
	var out []hostFact
	add := func(name, value string) { out = append(out, hostFact{name, value}) }
	a := m.host.Agent
	manager := m.host.Nginx.Manager()
	switch {
	case a == nil && manager:
		add("Role", "manager host (NGINX serves the agents)")
		return append(out, m.nginxFacts()...)
	case a == nil && m.run != nil:
		add("Role", "looking for the NGINX Agent configuration"+m.g.ellipsis)
		return out
	case a == nil:
		add("Role", "unknown: the agent configuration was not read")
		return out
	case a.Path == "":
		add("Role", "no NGINX Agent configuration found")
		if len(a.Searched) > 0 {
			add("Searched", strings.Join(a.Searched, ", "))
		}
	case manager:
		add("Role", "agent and manager (NGINX Agent "+a.Format.Title()+" config)")
		out = append(out, m.nginxFacts()...)
		cfg := a.Path
		if a.DynamicPath != "" {
			cfg += " + " + a.DynamicPath
		}
		add("Config", cfg)
	default:
		add("Role", "agent host (NGINX Agent "+a.Format.Title()+" config)")
		cfg := a.Path
		if a.DynamicPath != "" {
			cfg += " + " + a.DynamicPath
		}
		add("Config", cfg)
	}
	if addr := a.Address(); addr != "" {
		ep := addr
		if a.TLSEnabled.Value != "true" {
			ep += "  (plain text, no TLS)"
		}
		add("Endpoint", ep)
	} else {
		add("Endpoint", "not configured")
	}
	sni := a.ServerName.Value
	if sni == "" && m.host.Endpoint != nil {
		sni = m.host.Endpoint.ServerName
		if sni == "" {
			sni = "none sent (the host is an IP address)"
		}
	}
	if sni != "" {
		add("SNI", sni)
	}
	for _, s := range []struct {
		name string
		set  probes.Setting
	}{{"Cert", a.Cert}, {"Key", a.Key}, {"CA", a.CA}} {
		v := s.set.Value
		if v == "" {
			v = "not set"
			if s.name == "CA" {
				v = "not set (the system trust store is used)"
			}
		}
		add(s.name, v)
	}
	return out
}

// countsLine totals the checks by status.
func (m Model) countsLine() string {
	n := m.counts()
	s := m.styles
	parts := []string{s.Section.Render(" Checks")}
	add := func(sev diagnostics.Severity, word string, count int) {
		g, _ := m.g.severity(sev)
		text := g + " " + diagnostics.Plural(count, word)
		if sev != diagnostics.SeverityWarn {
			text = fmt.Sprintf("%s %d %s", g, count, word)
		}
		if count == 0 {
			parts = append(parts, s.Dim.Render(text))
		} else {
			parts = append(parts, s.severity(sev).Render(text))
		}
	}
	add(diagnostics.SeverityFail, "failed", n[diagnostics.SeverityFail])
	add(diagnostics.SeverityWarn, "warning", n[diagnostics.SeverityWarn])
	add(diagnostics.SeverityOK, "passed", n[diagnostics.SeverityOK]+n[diagnostics.SeverityInfo])
	add(diagnostics.SeveritySkip, "skipped", n[diagnostics.SeveritySkip])
	if r := m.running(); r > 0 {
		parts = append(parts, s.Running.Render(fmt.Sprintf("%s %d running", m.spin.View(), r)))
	}
	return strings.Join(parts, "  ")
}

// categoryLine is a category heading with its problem counts.
func (m Model) categoryLine(g categoryGroup) string {
	n := map[diagnostics.Severity]int{}
	for _, id := range g.ids {
		if f, ok := m.findings[id]; ok && m.states[id] == stateIdle {
			n[f.Severity]++
		}
	}
	line := " " + m.styles.Section.Render(g.title)
	var notes []string
	for _, sev := range []diagnostics.Severity{diagnostics.SeverityFail, diagnostics.SeverityWarn} {
		if n[sev] > 0 {
			gl, word := m.g.severity(sev)
			notes = append(notes, m.styles.severity(sev).Render(fmt.Sprintf("%s %d %s", gl, n[sev], word)))
		}
	}
	if ok := n[diagnostics.SeverityOK] + n[diagnostics.SeverityInfo]; ok > 0 {
		notes = append(notes, m.styles.Dim.Render(fmt.Sprintf("%d ok", ok)))
	}
	if len(notes) > 0 {
		line += "  " + strings.Join(notes, " ")
	}
	return line
}

// status renders a check's state as glyph and word, padded to a fixed width.
func (m Model) status(id string) string {
	switch m.states[id] {
	case stateRunning:
		return m.spin.View() + " " + m.styles.Running.Render("run ")
	case stateWaiting:
		return m.styles.Dim.Render(m.g.wait + " wait")
	}
	f, ok := m.findings[id]
	if !ok {
		return m.styles.Dim.Render(m.g.wait + " ----")
	}
	g, word := m.g.severity(f.Severity)
	return m.styles.severity(f.Severity).Render(g + " " + pad(word, 4))
}

// checkRow is one check: status, then the summary for problems and skips, the healthy
// condition otherwise.
func (m Model) checkRow(id string, w int, selected bool) string {
	text := id
	if ch, ok := m.check(id); ok {
		text = ch.Title
	}
	if f, ok := m.findings[id]; ok && m.states[id] == stateIdle && f.Severity != diagnostics.SeverityOK {
		text = f.Summary
		if reason, ok := strings.CutPrefix(f.Summary, "skipped: "); ok && f.Severity == diagnostics.SeveritySkip {
			// Several checks skip for one reason; the title tells their rows apart.
			text = m.check2title(id) + " " + m.g.dash + " " + reason
		}
	}
	text = safetext.CleanLine(text)
	if selected {
		plain := fit(m.g.pointer+" "+m.plainStatus(id)+"  "+text, w-1, m.g.ellipsis)
		return " " + m.styles.Selected.Render(pad(plain, w-1))
	}
	return fit("   "+m.status(id)+"  "+text, w, m.g.ellipsis)
}

// check2title is the check's title, or its ID when it is not in the catalog.
func (m Model) check2title(id string) string {
	if ch, ok := m.check(id); ok {
		return ch.Title
	}
	return id
}

// plainStatus is status without styling, for the reversed selected row.
func (m Model) plainStatus(id string) string {
	switch m.states[id] {
	case stateRunning:
		return ansi.Strip(m.spin.View()) + " run "
	case stateWaiting:
		return m.g.wait + " wait"
	}
	f, ok := m.findings[id]
	if !ok {
		return m.g.wait + " ----"
	}
	g, word := m.g.severity(f.Severity)
	return g + " " + pad(word, 4)
}

// maxServerLines caps the agent-facing servers listed in the host facts; the manager
// checks name every one of them.
const maxServerLines = 3

// nginxFacts describes the manager side: the NGINX configuration and the servers in it
// that pass the agents' gRPC paths on.
func (m Model) nginxFacts() []hostFact {
	n := m.host.Nginx
	var out []hostFact
	add := func(name, value string) { out = append(out, hostFact{name, value}) }
	if n.NIM1 != nil && n.NIM1.Path != "" && len(n.Servers) == 0 {
		add("Manager", "nginx-manager (NIM 1.x) "+n.NIM1.Path)
		return out
	}
	main := n.Main
	if n.Version != "" {
		main += "  (NGINX " + n.Version + ")"
	}
	add("NGINX", main)
	for i, s := range n.Servers {
		if i == maxServerLines {
			add("", fmt.Sprintf("and %d more", len(n.Servers)-i))
			break
		}
		var listens []string
		for _, l := range s.Listens {
			listens = append(listens, l.String())
		}
		name := strings.Join(s.ServerNames, " ")
		if name == "" {
			name = "(no server_name)"
		}
		label := ""
		if i == 0 {
			label = "Agents at"
		}
		add(label, fmt.Sprintf("%s  listen %s  %s", name, strings.Join(listens, ", "), s.Pos()))
	}
	return out
}

// judgesMesh reports whether the catalog judges NGINX Service Mesh's inputs (`mtls-doctor
// mesh`) rather than an agent or manager host: every check reads the mesh facts.
func (m Model) judgesMesh() bool {
	for _, ch := range m.engine.Catalog {
		if !slices.Contains(ch.Needs, diagnostics.FactMesh) {
			return false
		}
	}
	return len(m.engine.Catalog) > 0
}

// meshFacts describes the mesh inputs being judged: the files given and the CA files the
// upstream authority settings name.
func (m Model) meshFacts() []hostFact {
	var out []hostFact
	add := func(name, value string) { out = append(out, hostFact{name, value}) }
	mf := m.host.Mesh
	switch {
	case mf == nil && m.run != nil:
		add("Role", "reading the NGINX Service Mesh inputs"+m.g.ellipsis)
		return out
	case mf == nil:
		reason := "not read"
		if err := m.host.Errors[diagnostics.FactMesh]; err != "" {
			reason += ": " + err
		}
		add("Role", "NGINX Service Mesh inputs "+reason)
		return out
	}
	add("Role", "NGINX Service Mesh: the mTLS inputs, read offline")
	var inputs []string
	for _, in := range []struct {
		name  string
		input *mesh.Input
	}{{"upstream CA conf", mf.Upstream}, {"mesh config", mf.MeshConfig}, {"values", mf.Values}} {
		if in.input != nil {
			inputs = append(inputs, in.name+" "+in.input.Path)
		}
	}
	if len(mf.Manifests) > 0 {
		var paths []string
		for _, in := range mf.Manifests {
			paths = append(paths, in.Path)
		}
		inputs = append(inputs, diagnostics.Plural(len(paths), "manifest")+" "+strings.Join(paths, ", "))
	}
	add("Inputs", strings.Join(inputs, "; "))
	for i, ca := range mf.CAFiles {
		if i == maxServerLines {
			add("", fmt.Sprintf("and %d more", len(mf.CAFiles)-i))
			break
		}
		where := ca.Written
		if where == "" {
			where = "inline PEM"
		}
		label := ""
		if i == 0 {
			label = "CA files"
		}
		add(label, fmt.Sprintf("%s %s  (%s %s)", ca.Role, where, ca.Source, ca.Key))
	}
	return out
}
