package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/mtls-doctor/mtls-doctor/internal/playbook"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
)

// Exit codes of `mtls-doctor undo`.
const (
	undoRestored = 0 // every file of the last applied step is back
	undoNothing  = 1 // no applied step in the journal
	undoError    = 2 // the journal could not be read, or nothing could be restored
	undoPartial  = 3 // some files were restored, some not
)

func newUndoCommand(stdout, stderr io.Writer) *cobra.Command {
	var journal string
	cmd := &cobra.Command{
		Use:   "undo",
		Short: "Restore the files changed by the last fix step applied with `a`",
		Long: `undo restores, from the backups taken before it ran, every file that the last
fix step applied in the assistant (the Fix screen's "a") changed, and removes the files
it created. It does not reload or restart anything: run the step's reload again (for
NGINX: nginx -t && nginx -s reload) once the files are back.
Exit codes: 0 restored, 1 nothing to undo, 2 error, 3 only some files restored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := journal
			if root == "" {
				var err error
				if root, err = playbook.DefaultJournalRoot(); err != nil {
					fmt.Fprintf(stderr, "mtls-doctor undo: %s\n", safetext.Clean(err.Error()))
					return exitError(undoError)
				}
			}
			j, err := playbook.Undo(root)
			var partial *playbook.PartialError
			switch {
			case errors.Is(err, playbook.ErrNothingToUndo):
				fmt.Fprintf(stdout, "Nothing to undo: no applied step in %s.\n", safetext.Clean(root))
				return exitError(undoNothing)
			case errors.As(err, &partial) && len(partial.Restored) > 0:
				printUndone(stdout, j, partial.Restored)
				for _, f := range partial.Failed {
					fmt.Fprintf(stderr, "mtls-doctor undo: not restored: %s\n", safetext.Clean(f))
				}
				fmt.Fprintf(stderr, "mtls-doctor undo: %s\n", safetext.Clean(partial.Err.Error()))
				return exitError(undoPartial)
			case err != nil:
				fmt.Fprintf(stderr, "mtls-doctor undo: %s\n", safetext.Clean(err.Error()))
				return exitError(undoError)
			}
			var paths []string
			for _, b := range j.Files {
				paths = append(paths, b.Path)
			}
			printUndone(stdout, j, paths)
			return nil
		},
	}
	cmd.Flags().StringVar(&journal, "journal", "", "the journal directory (default: $XDG_STATE_HOME/mtls-doctor/journal or ~/.local/state/mtls-doctor/journal)")
	return cmd
}

// printUndone says which step was undone and which files are back.
func printUndone(w io.Writer, j *playbook.Journal, paths []string) {
	fmt.Fprintf(w, "Undid %q", safetext.CleanLine(j.Title))
	if j.Finding != "" {
		fmt.Fprintf(w, " (%s)", safetext.CleanLine(j.Finding))
	}
	fmt.Fprintf(w, ", applied %s. Restored:\n", j.Created.Local().Format(time.DateTime))
	for _, p := range paths {
		fmt.Fprintf(w, "  %s\n", safetext.CleanLine(p))
	}
	fmt.Fprintln(w, "Reload what reads these files (e.g. nginx -t && nginx -s reload) for them to take effect.")
}
