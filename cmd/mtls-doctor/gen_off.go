//go:build !gen

package main

import (
	"io"

	"github.com/spf13/cobra"
)

// newGenCommand is nil without -tags gen: the released binary has no `gen` command (gen.go).
func newGenCommand(io.Writer) *cobra.Command { return nil }
