package playbook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Journal states: what became of an applied step.
const (
	StateApplying   = "applying"    // backups taken, commands running
	StateApplied    = "applied"     // the step ran and was kept; Undo restores it
	StateRolledBack = "rolled-back" // the step failed or made things worse and was restored
	StateUndone     = "undone"      // Undo restored it
)

// manifestName is the journal's index inside its directory.
const manifestName = "manifest.json"

// Journal is the record of one applied step: the files as they were before it ran.
type Journal struct {
	// Dir is the journal's directory under the journal root.
	Dir string `json:"-"`
	// Title is the step's title.
	Title string `json:"title"`
	// Finding is the ID of the finding the step fixes, when known.
	Finding string `json:"finding,omitempty"`
	// Created is when the backups were taken.
	Created time.Time `json:"created"`
	// State is one of the State constants.
	State string `json:"state"`
	// Commands are the commands as run.
	Commands []string `json:"commands"`
	// Files are the backed-up files.
	Files []Backup `json:"files"`
}

// Backup is one file as it was before the step.
type Backup struct {
	// Path is the file's absolute path.
	Path string `json:"path"`
	// Existed is false when the file did not exist: restoring removes it.
	Existed bool `json:"existed"`
	// Mode is the file's permission bits.
	Mode fs.FileMode `json:"mode,omitempty"`
	// Copy is the backup's name inside the journal directory.
	Copy string `json:"copy,omitempty"`
}

// ErrNothingToUndo says the journal holds no applied step.
var ErrNothingToUndo = errors.New("nothing to undo: no applied step in the journal")

// PartialError says a restore put some files back and not others.
type PartialError struct {
	// Restored and Failed are the paths put back and the ones that were not.
	Restored, Failed []string
	// Err is the first failure.
	Err error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("restored %d file(s), %d not: %v", len(e.Restored), len(e.Failed), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// DefaultJournalRoot is where applied steps are journaled: $XDG_STATE_HOME/mtls-doctor/
// journal, else ~/.local/state/mtls-doctor/journal (XDG Base Directory Specification).
func DefaultJournalRoot() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mtls-doctor", "journal"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no journal directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "mtls-doctor", "journal"), nil
}

// newJournal creates a journal directory under root and copies every path into it. A
// path that cannot be read fails the whole journal: a step whose files cannot be backed
// up is not run.
func newJournal(root string, now time.Time, title, finding string, commands, paths []string) (*Journal, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	stamp := now.UTC().Format("20060102T150405.000000000Z")
	dir := filepath.Join(root, stamp)
	for i := 1; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return nil, fmt.Errorf("journal: %w", err)
		}
		dir = filepath.Join(root, stamp+"-"+strconv.Itoa(i))
	}
	j := &Journal{Dir: dir, Title: title, Finding: finding, Created: now.UTC(), State: StateApplying, Commands: commands}
	for i, p := range paths {
		b := Backup{Path: p}
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("cannot back up %s: %w", p, err)
		case !fi.Mode().IsRegular():
			os.RemoveAll(dir)
			return nil, fmt.Errorf("cannot back up %s: not a regular file", p)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("cannot back up %s: %w", p, err)
			}
			b.Existed, b.Mode, b.Copy = true, fi.Mode().Perm(), "file-"+strconv.Itoa(i)
			if err := os.WriteFile(filepath.Join(dir, b.Copy), data, 0o600); err != nil {
				os.RemoveAll(dir)
				return nil, fmt.Errorf("journal: %w", err)
			}
		}
		j.Files = append(j.Files, b)
	}
	if err := j.save(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return j, nil
}

// save writes the manifest atomically.
func (j *Journal) save() error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(j.Dir, manifestName), data, 0o600); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// setState records what became of the step.
func (j *Journal) setState(state string) error {
	j.State = state
	return j.save()
}

// Restore puts every file back as it was: the saved content and mode written atomically,
// a file that did not exist removed. It goes on past a failure and returns a
// *PartialError naming what it could not restore.
func (j *Journal) Restore() error {
	var restored, failed []string
	var first error
	for _, b := range j.Files {
		var err error
		if !b.Existed {
			if err = os.Remove(b.Path); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			var data []byte
			if data, err = os.ReadFile(filepath.Join(j.Dir, b.Copy)); err == nil {
				err = writeAtomic(b.Path, data, b.Mode)
			}
		}
		if err != nil {
			failed = append(failed, b.Path)
			if first == nil {
				first = err
			}
			continue
		}
		restored = append(restored, b.Path)
	}
	if first != nil {
		return &PartialError{Restored: restored, Failed: failed, Err: first}
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path and renames it over path, so
// a reader (NGINX reloading) sees the old file or the new one, never half of one.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".mtls-doctor-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// Journals lists the journals under root, newest first. Unreadable entries are skipped.
func Journals(root string) ([]*Journal, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []*Journal
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		data, err := os.ReadFile(filepath.Join(dir, manifestName))
		if err != nil {
			continue
		}
		var j Journal
		if json.Unmarshal(data, &j) != nil {
			continue
		}
		j.Dir = dir
		out = append(out, &j)
	}
	sort.SliceStable(out, func(a, b int) bool { return filepath.Base(out[a].Dir) > filepath.Base(out[b].Dir) })
	return out, nil
}

// Undo restores the newest applied step under root and marks it undone. It returns
// ErrNothingToUndo when there is none, and a *PartialError when some files could not be
// put back (the journal then stays "applied", so Undo can be tried again).
func Undo(root string) (*Journal, error) {
	js, err := Journals(root)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.State != StateApplied {
			continue
		}
		if err := j.Restore(); err != nil {
			return j, err
		}
		return j, j.setState(StateUndone)
	}
	return nil, ErrNothingToUndo
}
