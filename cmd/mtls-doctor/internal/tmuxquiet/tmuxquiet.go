// Package tmuxquiet keeps Lip Gloss from running `tmux info` while the program loads.
//
// charm.land/lipgloss/v2 (v2.0.6, writer.go) initialises a package variable with
// colorprofile.NewWriter(os.Stdout, os.Environ()); inside tmux, on a terminal, that runs
// `tmux info` to learn whether tmux passes 24-bit colour through (colorprofile env.go) —
// tens of milliseconds before main, on every run, for a Writer mtls-doctor never uses
// (the assistant gets its colour profile from Bubble Tea, without TMUX: tui/options.go).
//
// Imported first by the command, this package is initialised before Lip Gloss (Go
// initialises packages in import-path order as their imports allow, and Lip Gloss needs
// os/exec, which sorts after it); it hides TMUX for that time, and Restore puts it back
// for everything after, child processes included. cmd/mtls-doctor's tests check the order.
package tmuxquiet

import "os"

var (
	saved  string
	hidden bool
)

func init() {
	saved, hidden = os.LookupEnv("TMUX")
	if hidden {
		os.Unsetenv("TMUX")
	}
}

// Restore puts TMUX back as it was when the program started.
func Restore() {
	if hidden {
		os.Setenv("TMUX", saved)
		hidden = false
	}
}
