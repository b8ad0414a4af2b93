package logparse

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// logWriter appends lines the way NGINX does: through one descriptor opened with
// O_APPEND, kept across a rename until reopen is called (NGINX's USR1).
type logWriter struct {
	t    *testing.T
	path string
	f    *os.File
	n    int
}

func newLogWriter(t *testing.T, path string) *logWriter {
	w := &logWriter{t: t, path: path}
	w.reopen()
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *logWriter) reopen() {
	w.t.Helper()
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

// write appends n numbered lines and returns them.
func (w *logWriter) write(n int) []string {
	w.t.Helper()
	var lines []string
	for range n {
		w.n++
		l := fmt.Sprintf("2026/11/22 16:00:00 [info] 1#1: *%d line %d", w.n, w.n)
		if _, err := io.WriteString(w.f, l+"\n"); err != nil {
			w.t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

// expect reads until want arrived (or the deadline), then waits two more poll periods
// to catch duplicates, and compares the whole sequence.
func expect(t *testing.T, ch <-chan Line, got *[]string, want []string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	settle := (<-chan time.Time)(nil)
	for {
		if len(*got) >= len(want) && settle == nil {
			settle = time.After(600 * time.Millisecond)
		}
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed; got %q", *got)
			}
			if l.Err != nil {
				t.Fatalf("follow error: %v", l.Err)
			}
			*got = append(*got, l.Text)
		case <-settle:
			if !slices.Equal(*got, want) {
				t.Fatalf("lines lost or duplicated:\n got  %q\n want %q", *got, want)
			}
			return
		case <-deadline:
			t.Fatalf("timed out:\n got  %q\n want %q", *got, want)
		}
	}
}

// waitPoll gives the poller time to notice a change (it polls every 250 ms).
func waitPoll() { time.Sleep(300 * time.Millisecond) }

func startFollow(t *testing.T, path string) <-chan Line {
	ctx, cancel := context.WithCancel(context.Background())
	ch := Follow(ctx, path)
	t.Cleanup(func() {
		cancel()
		for range ch { // the channel closes once the follower has stopped
		}
	})
	waitPoll() // let the tail open and seek to the end
	return ch
}

func TestFollowStartsAtTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	w.write(3) // before Follow: not delivered
	ch := startFollow(t, path)
	var got []string
	expect(t, ch, &got, w.write(4))
}

func TestFollowFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	before := w.write(3)
	ctx, cancel := context.WithCancel(context.Background())
	ch := PollFollower{FromStart: true}.Follow(ctx, path)
	t.Cleanup(func() {
		cancel()
		for range ch {
		}
	})
	var got []string
	expect(t, ch, &got, before)
	expect(t, ch, &got, append(before, w.write(2)...))
}

// TestFollowRenameCreate is logrotate's default (create): the file is renamed, the writer
// still writes to the renamed file until it reopens, then writes to a new file.
func TestFollowRenameCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	ch := startFollow(t, path)
	var got []string
	want := w.write(3)
	expect(t, ch, &got, want)

	// Lines not yet polled, then the rename, then lines to the renamed file.
	want = append(want, w.write(2)...)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	want = append(want, w.write(2)...)
	w.reopen() // creates the new file
	want = append(want, w.write(3)...)
	expect(t, ch, &got, want)

	// And a second rotation.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.reopen()
	want = append(want, w.write(2)...)
	expect(t, ch, &got, want)
}

// TestFollowCopyTruncate is logrotate's copytruncate: the file is copied and truncated in
// place while the writer keeps its descriptor (O_APPEND writes land at the new end).
func TestFollowCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	ch := startFollow(t, path)
	var got []string
	want := w.write(5)
	expect(t, ch, &got, want)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	waitPoll() // copytruncate cannot tell the reader where the cut was: let it see size 0
	want = append(want, w.write(2)...)
	expect(t, ch, &got, want)
}

// TestFollowDeleteRecreate: the file is deleted (the writer still holds it and writes one
// more line) and created again.
func TestFollowDeleteRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	ch := startFollow(t, path)
	var got []string
	want := w.write(3)
	expect(t, ch, &got, want)

	want = append(want, w.write(1)...)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want = append(want, w.write(1)...) // to the deleted file, still open
	waitPoll()
	waitPoll() // the follower waits for the path to come back
	w.reopen()
	want = append(want, w.write(3)...)
	expect(t, ch, &got, want)
}

// TestFollowMissingFile: a file that does not exist yet is read from its start.
func TestFollowMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	ch := startFollow(t, path)
	w := newLogWriter(t, path)
	var got []string
	expect(t, ch, &got, w.write(3))
}

// TestFollowStops: cancelling closes the channel promptly.
func TestFollowStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	newLogWriter(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	ch := Follow(ctx, path)
	cancel()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after cancel")
		}
	}
}

// TestFollowFilesMerges: lines from two files arrive on one channel, each with its own
// file's parser.
func TestFollowFilesMerges(t *testing.T) {
	dir := t.TempDir()
	errPath, agentPath := filepath.Join(dir, "error.log"), filepath.Join(dir, "agent.log")
	ew, aw := newLogWriter(t, errPath), newLogWriter(t, agentPath)
	ctx, cancel := context.WithCancel(context.Background())
	ch := FollowFiles(ctx, []File{{Path: errPath, Type: TypeNginxError}, {Path: agentPath, Type: TypeAgent}}, time.UTC)
	defer func() {
		cancel()
		for range ch {
		}
	}()
	waitPoll()
	want := map[string]Type{}
	for _, l := range ew.write(2) {
		want[l] = TypeNginxError
	}
	for _, l := range aw.write(2) {
		want[l+" "] = TypeAgent // distinct keys: the writers number their lines alike
	}
	got := map[string]Type{}
	deadline := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case fl := <-ch:
			if fl.Err != nil {
				t.Fatal(fl.Err)
			}
			key := fl.Text
			if fl.Path == agentPath {
				key += " "
			}
			got[key] = fl.Parser.Type
		case <-deadline:
			t.Fatalf("got %v, want 4 lines", got)
		}
	}
	for k, typ := range want {
		if got[k] != typ {
			t.Errorf("line %q: parser type %v, want %v", k, got[k], typ)
		}
	}
}
