package tui

import (
	"strconv"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key the assistant answers to. The footer's short help and the Help screen
// are both generated from it, so they cannot disagree with what Update does.
type KeyMap struct {
	Up, Down         key.Binding
	PageUp, PageDown key.Binding
	Top, Bottom      key.Binding
	Open             key.Binding
	Back             key.Binding
	NextScreen       key.Binding
	PrevScreen       key.Binding
	Screen           key.Binding // 1 to the number of tabs (screenKeys)
	Filter           key.Binding
	NextMatch        key.Binding
	PrevMatch        key.Binding
	HostFacts        key.Binding
	Pause            key.Binding
	Recheck          key.Binding
	NextStep         key.Binding
	PrevStep         key.Binding
	Copy             key.Binding
	Apply            key.Binding
	Export           key.Binding
	Help             key.Binding
	Quit             key.Binding
}

// DefaultKeyMap follows k9s and lnav: arrows and j/k, space and b to page, g and G for the
// ends, / to filter a list with n and N between matches, Esc to clear the filter and then
// go back, ←/→ (h/l), Tab and digits between screens, q to quit.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:     key.NewBinding(key.WithKeys("pgup", "b", "ctrl+u"), key.WithHelp("b/pgup", "page up")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown", "space", "ctrl+d"), key.WithHelp("space", "page down")),
		Top:        key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "top")),
		Bottom:     key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "bottom")),
		Open:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter, back")),
		NextScreen: key.NewBinding(key.WithKeys("tab", "right", "l"), key.WithHelp("→/l/tab", "next screen")),
		PrevScreen: key.NewBinding(key.WithKeys("shift+tab", "left", "h"), key.WithHelp("←/h", "previous screen")),
		Screen:     screenKeys(9), // New narrows it to the screens registered
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		NextMatch:  key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next match")),
		PrevMatch:  key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "previous match")),
		HostFacts:  key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "host facts")),
		Pause:      key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause logs")),
		Recheck:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "re-check")),
		NextStep:   key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next step")),
		PrevStep:   key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "previous step")),
		Copy:       key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy command")),
		Apply:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "apply step")),
		Export:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export report")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// screenKeys is the digit binding for n tabs (at most 9): "1" to n, each the n-th tab.
func screenKeys(n int) key.Binding {
	n = clamp(n, 1, 9)
	digits := make([]string, n)
	for i := range digits {
		digits[i] = strconv.Itoa(i + 1)
	}
	return key.NewBinding(key.WithKeys(digits...), key.WithHelp("1-"+digits[n-1], "go to screen"))
}

// keyGroup is a titled column of the Help screen.
type keyGroup struct {
	title    string
	bindings []key.Binding
}

// groups lists every binding by topic; FullHelp and the Help screen derive from it.
func (km KeyMap) groups() []keyGroup {
	return []keyGroup{
		{"Move", []key.Binding{km.Up, km.Down, km.PageDown, km.PageUp, km.Top, km.Bottom, km.Open, km.Back}},
		{"Screens", []key.Binding{km.NextScreen, km.PrevScreen, km.Screen, km.Help, km.Quit}},
		{"Lists (Overview, Logs)", []key.Binding{km.Filter, km.NextMatch, km.PrevMatch, km.HostFacts, km.Pause}},
		{"Fix", []key.Binding{km.NextStep, km.PrevStep, km.Copy, km.Apply, km.Recheck, km.Export}},
	}
}

// ShortHelp implements help.KeyMap with the keys every screen shares.
func (km KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{km.Help, km.Quit}
}

// FullHelp implements help.KeyMap.
func (km KeyMap) FullHelp() [][]key.Binding {
	var out [][]key.Binding
	for _, g := range km.groups() {
		out = append(out, g.bindings)
	}
	return out
}

// The footer's variants of shared keys: shorter help text, switched off when they do not
// apply now (help leaves disabled keys out).

// move is Up shown as "j/k" with desc.
func (km KeyMap) move(desc string) key.Binding {
	b := km.Up
	b.SetHelp("j/k", desc)
	return b
}

// next is NextScreen shown as "tab next".
func (km KeyMap) next() key.Binding {
	b := km.NextScreen
	b.SetHelp("tab", "next")
	return b
}

// open is Open with desc, enabled when Enter leads somewhere.
func (km KeyMap) open(desc string, enabled bool) key.Binding {
	b := km.Open
	b.SetHelp("enter", desc)
	b.SetEnabled(enabled)
	return b
}

// matches is NextMatch shown as "n/N match", enabled while a list has a filter.
func (km KeyMap) matches(filtering bool) key.Binding {
	b := km.NextMatch
	b.SetHelp("n/N", "match")
	b.SetEnabled(filtering)
	return b
}

// back is Back with desc.
func (km KeyMap) back(desc string) key.Binding {
	b := km.Back
	b.SetHelp("esc", desc)
	return b
}
