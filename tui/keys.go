package tui

import "charm.land/bubbles/v2/key"

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
	Screen           key.Binding // 1-5
	Recheck          key.Binding
	NextStep         key.Binding
	PrevStep         key.Binding
	Copy             key.Binding
	Apply            key.Binding
	Filter           key.Binding
	Pause            key.Binding
	Export           key.Binding
	Help             key.Binding
	Quit             key.Binding
}

// DefaultKeyMap follows common TUI habits (k9s, lazygit): arrows and j/k, Enter, Esc,
// Tab and digits between screens, q to quit.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:     key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:        key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "top")),
		Bottom:     key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "bottom")),
		Open:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back/cancel")),
		NextScreen: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		PrevScreen: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Screen:     key.NewBinding(key.WithKeys("1", "2", "3", "4", "5"), key.WithHelp("1-5", "go to screen")),
		Recheck:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "re-check")),
		NextStep:   key.NewBinding(key.WithKeys("right", "l", "n"), key.WithHelp("→/n", "next step")),
		PrevStep:   key.NewBinding(key.WithKeys("left", "h", "p"), key.WithHelp("←/p", "previous step")),
		Copy:       key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy command")),
		Apply:      key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "apply fix (demo)")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:      key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "pause")),
		Export:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export report")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// keyGroup is a titled column of the Help screen.
type keyGroup struct {
	title    string
	bindings []key.Binding
}

// groups lists every binding by topic; FullHelp and the Help screen derive from it.
func (km KeyMap) groups() []keyGroup {
	return []keyGroup{
		{"Move", []key.Binding{km.Up, km.Down, km.PageUp, km.PageDown, km.Top, km.Bottom, km.Open, km.Back}},
		{"Screens", []key.Binding{km.NextScreen, km.PrevScreen, km.Screen, km.Help, km.Quit}},
		{"Fix", []key.Binding{km.Recheck, km.PrevStep, km.NextStep, km.Copy, km.Apply, km.Export}},
		{"Logs", []key.Binding{km.Filter, km.Pause}},
	}
}

// ShortHelp implements help.KeyMap with the keys every screen shares.
func (km KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{km.Up, km.Down, km.Open, km.Recheck, km.NextScreen, km.Help, km.Quit}
}

// FullHelp implements help.KeyMap.
func (km KeyMap) FullHelp() [][]key.Binding {
	var out [][]key.Binding
	for _, g := range km.groups() {
		out = append(out, g.bindings)
	}
	return out
}

// shortHelp is the footer's key list for one screen: the screen's own keys first, then
// the global ones that fit.
type shortHelp []key.Binding

func (s shortHelp) ShortHelp() []key.Binding  { return s }
func (s shortHelp) FullHelp() [][]key.Binding { return [][]key.Binding{s} }

// forScreen returns the footer bindings for sc.
func (km KeyMap) forScreen(sc screen, canApply bool) shortHelp {
	up := km.Up
	up.SetHelp(km.Up.Help().Key+" "+km.Down.Help().Key, "move")
	switch sc {
	case screenOverview:
		open := km.Open
		open.SetHelp("enter", "details")
		return shortHelp{up, open, km.Recheck, km.Export, km.NextScreen, km.Help, km.Quit}
	case screenFinding:
		open := km.Open
		open.SetHelp("enter", "walk the fix")
		return shortHelp{up, open, km.Recheck, km.Back, km.Help, km.Quit}
	case screenFix:
		out := shortHelp{km.PrevStep, km.NextStep, km.Copy, km.Recheck}
		if canApply {
			out = append(out, km.Apply)
		}
		return append(out, km.Back, km.Help, km.Quit)
	case screenCerts:
		return shortHelp{up, km.Recheck, km.NextScreen, km.Back, km.Help, km.Quit}
	case screenLogs:
		open := km.Open
		open.SetHelp("enter", "finding")
		return shortHelp{up, km.Filter, km.Pause, open, km.Back, km.Help, km.Quit}
	}
	back := km.Back
	back.SetHelp("esc/?", "close help")
	return shortHelp{up, back, km.Quit}
}
