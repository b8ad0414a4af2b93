//go:build tools

// This file pins the module's dependencies while packages are being written in parallel;
// it is removed once every dependency is imported by real code.
package tools

import (
	_ "charm.land/bubbles/v2/help"
	_ "charm.land/bubbles/v2/key"
	_ "charm.land/bubbles/v2/spinner"
	_ "charm.land/bubbles/v2/textinput"
	_ "charm.land/bubbles/v2/viewport"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/charmbracelet/x/ansi"
	_ "github.com/charmbracelet/x/exp/golden"
	_ "github.com/charmbracelet/x/exp/teatest/v2"
	_ "github.com/goccy/go-yaml"
	_ "github.com/nxadm/tail"
	_ "github.com/spf13/cobra"
)
