//go:build gen

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenCommand is the hidden `gen` command the release build runs (.goreleaser.yaml) to
// make the man pages and shell completions from the command tree itself, so they cannot
// drift from the flags. Nothing generated is committed. It is built only with -tags gen
// (gen_off.go): the man-page generator links a Markdown parser and a YAML encoder whose
// package initialisation every run of the released binary would otherwise pay.
func newGenCommand(stdout io.Writer) *cobra.Command {
	gen := &cobra.Command{
		Use:    "gen",
		Short:  "Generate man pages or shell completions (used by the release build)",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	gen.AddCommand(&cobra.Command{
		Use:   "man DIR",
		Short: "Write mtls-doctor.1 and one page per subcommand into DIR",
		Long: `Writes mtls-doctor.1 and mtls-doctor-SUBCOMMAND.1 into DIR. The pages' date is
SOURCE_DATE_EPOCH when set (reproducible builds), else today.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			header := &doc.GenManHeader{Source: "mtls-doctor " + version, Manual: "mtls-doctor manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
			fmt.Fprintf(stdout, "wrote %d man pages to %s\n", len(pages), dir)
			return nil
		},
	})
	gen.AddCommand(&cobra.Command{
		Use:   "completion DIR",
		Short: "Write bash, zsh and fish completion scripts into DIR",
		Long: `Writes DIR/mtls-doctor.bash, DIR/_mtls-doctor (zsh) and DIR/mtls-doctor.fish, named as
each shell's completion directory expects once installed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			for name, write := range map[string]func(io.Writer) error{
				"mtls-doctor.bash": func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
				"_mtls-doctor":     root.GenZshCompletion,
				"mtls-doctor.fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
			} {
				var b bytes.Buffer
				if err := write(&b); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "wrote bash, zsh and fish completions to %s\n", dir)
			return nil
		},
	})
	return gen
}
