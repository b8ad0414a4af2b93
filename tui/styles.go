package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/spinner"
	"charm.land/lipgloss/v2"

	"github.com/mtls-doctor/mtls-doctor/diagnostics"
)

// Styles are every style the screens use, built once per background and colour setting;
// View only calls Render.
type Styles struct {
	Title     lipgloss.Style
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Section   lipgloss.Style
	Label     lipgloss.Style
	Dim       lipgloss.Style
	Bold      lipgloss.Style
	Selected  lipgloss.Style
	Message   lipgloss.Style
	Error     lipgloss.Style

	Fail    lipgloss.Style
	Warn    lipgloss.Style
	OK      lipgloss.Style
	Info    lipgloss.Style
	Skip    lipgloss.Style
	Running lipgloss.Style

	Command  lipgloss.Style
	DiffAdd  lipgloss.Style
	DiffDel  lipgloss.Style
	DiffHunk lipgloss.Style

	Help help.Styles
}

// newStyles builds the styles for a dark or light background. With noColor every style
// keeps only attributes (bold, faint, reverse), so status is carried by glyph and word.
// The base colours are ANSI palette entries, which follow the terminal's own theme; only
// yellow and the greys change with the background, where the palette reads badly.
func newStyles(isDark, noColor bool) Styles {
	ld := lipgloss.LightDark(isDark)
	fg := func(c color.Color) lipgloss.Style {
		if noColor {
			return lipgloss.NewStyle()
		}
		return lipgloss.NewStyle().Foreground(c)
	}
	var (
		red    = lipgloss.Color("1")
		green  = lipgloss.Color("2")
		yellow = ld(lipgloss.Color("130"), lipgloss.Color("11"))
		blue   = ld(lipgloss.Color("4"), lipgloss.Color("12"))
		cyan   = ld(lipgloss.Color("6"), lipgloss.Color("14"))
		purple = ld(lipgloss.Color("5"), lipgloss.Color("13"))
		grey   = ld(lipgloss.Color("243"), lipgloss.Color("246"))
	)
	s := Styles{
		Title:     fg(blue).Bold(true),
		Tab:       fg(grey),
		TabActive: lipgloss.NewStyle().Bold(true).Reverse(true),
		Section:   lipgloss.NewStyle().Bold(true),
		Label:     fg(grey),
		Dim:       fg(grey).Faint(noColor),
		Bold:      lipgloss.NewStyle().Bold(true),
		Selected:  lipgloss.NewStyle().Reverse(true),
		Message:   fg(cyan),
		Error:     fg(red).Bold(true),
		Fail:      fg(red).Bold(true),
		Warn:      fg(yellow).Bold(true),
		OK:        fg(green),
		Info:      fg(cyan),
		Skip:      fg(grey).Faint(noColor),
		Running:   fg(purple),
		Command:   fg(cyan),
		DiffAdd:   fg(green),
		DiffDel:   fg(red),
		DiffHunk:  fg(purple),
		Help:      helpStyles(isDark),
	}
	if noColor {
		plain := lipgloss.NewStyle()
		s.Help = help.Styles{Ellipsis: plain, ShortKey: plain.Bold(true), ShortDesc: plain,
			ShortSeparator: plain, FullKey: plain.Bold(true), FullDesc: plain, FullSeparator: plain}
	}
	return s
}

// helpStyles are the footer's and the Help screen's styles. Bubbles' defaults draw the
// descriptions in 256-colour greys (#4A4A4A on dark) that barely show on a dark terminal
// over SSH; keys here are bold in the terminal's own foreground and descriptions a grey
// with at least 4.5:1 contrast (WCAG 2.1 AA) against black or white.
func helpStyles(isDark bool) help.Styles {
	ld := lipgloss.LightDark(isDark)
	key := lipgloss.NewStyle().Bold(true)
	desc := lipgloss.NewStyle().Foreground(ld(helpDescLight, helpDescDark))
	sep := lipgloss.NewStyle().Foreground(ld(lipgloss.Color("245"), lipgloss.Color("244")))
	return help.Styles{Ellipsis: sep, ShortKey: key, ShortDesc: desc, ShortSeparator: sep,
		FullKey: key, FullDesc: desc, FullSeparator: sep}
}

// The help descriptions' greys: 240 (#585858) on light backgrounds, 250 (#bcbcbc) on dark.
var (
	helpDescLight = lipgloss.Color("240")
	helpDescDark  = lipgloss.Color("250")
)

// severity returns the style of a severity.
func (s Styles) severity(sev diagnostics.Severity) lipgloss.Style {
	switch sev {
	case diagnostics.SeverityFail:
		return s.Fail
	case diagnostics.SeverityWarn:
		return s.Warn
	case diagnostics.SeverityOK:
		return s.OK
	case diagnostics.SeverityInfo:
		return s.Info
	}
	return s.Skip
}

// glyphs are the symbols drawn on screen; ASCII terminals get plain characters.
type glyphs struct {
	fail, warn, ok, info, skip, wait string
	bullet, arrow, ellipsis, pointer string
	dot, dash, down, cursor          string
	treeLast, treePipe               string
	barFull, barEmpty                string
	rule                             string
	spinner                          spinner.Spinner
}

var (
	unicodeGlyphs = glyphs{
		fail: "✖", warn: "‼", ok: "✔", info: "ℹ", skip: "–", wait: "·",
		bullet: "•", arrow: "→", ellipsis: "…", pointer: "▸", dot: "·", dash: "—", down: "↓", cursor: "█", treeLast: "└─ ", treePipe: "   ",
		barFull: "█", barEmpty: "░", rule: "─", spinner: spinner.MiniDot,
	}
	asciiGlyphs = glyphs{
		fail: "x", warn: "!", ok: "+", info: "i", skip: "-", wait: ".",
		bullet: "*", arrow: "->", ellipsis: "~", pointer: ">", dot: "-", dash: "-", down: "v", cursor: "_", treeLast: "`- ", treePipe: "   ",
		barFull: "#", barEmpty: ".", rule: "-", spinner: spinner.Line,
	}
)

// severity returns the glyph and the word that name a severity; together they stay
// readable without colour.
func (g glyphs) severity(sev diagnostics.Severity) (glyph, word string) {
	switch sev {
	case diagnostics.SeverityFail:
		return g.fail, "FAIL"
	case diagnostics.SeverityWarn:
		return g.warn, "WARN"
	case diagnostics.SeverityOK:
		return g.ok, "ok"
	case diagnostics.SeverityInfo:
		return g.info, "info"
	}
	return g.skip, "skip"
}
