package logparse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logWriter appends lines the way NGINX does: through one descriptor opened with
// O_APPEND, kept across a rename until reopen is called (NGINX's USR1).
type logWriter struct {
	t    testing.TB
	path string
	mu   sync.Mutex
	f    *os.File
	n    int
}

func newLogWriter(t testing.TB, path string) *logWriter {
	w := &logWriter{t: t, path: path}
	w.reopen()
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *logWriter) reopen() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Error(err)
		return
	}
	w.f = f
}

// write appends n numbered lines and returns them.
func (w *logWriter) write(n int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lines []string
	for range n {
		w.n++
		l := fmt.Sprintf("2026/11/22 16:00:00 [info] 1#1: *%d line %d", w.n, w.n)
		if _, err := io.WriteString(w.f, l+"\n"); err != nil {
			w.t.Error(err)
		}
		lines = append(lines, l)
	}
	return lines
}

// lineNumber is the number write put in l; 0 for other lines.
func lineNumber(l string) int {
	_, num, _ := strings.Cut(l, " line ")
	n, _ := strconv.Atoi(num)
	return n
}

// manual is a follow driven poll by poll, without a goroutine or a clock.
type manual struct {
	t *testing.T
	w *watch
}

func newManual(t *testing.T, path string, fromStart bool, lingerPolls int) *manual {
	t.Helper()
	w := &watch{ctx: context.Background(), path: path, out: make(chan Line, 4096), lingerPolls: lingerPolls}
	if err := w.start(fromStart); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.closeAll)
	return &manual{t: t, w: w}
}

// poll runs one poll and returns what it sent: lines as their text, notices as "<notice>".
func (m *manual) poll() []string {
	m.t.Helper()
	if err := m.w.poll(); err != nil {
		m.t.Fatalf("poll: %v", err)
	}
	var got []string
	for {
		select {
		case l := <-m.w.out:
			switch {
			case l.Err != nil:
				m.t.Fatalf("error line: %v", l.Err)
			case l.Notice != "":
				got = append(got, "<"+string(l.Notice)+">")
			default:
				got = append(got, l.Text)
			}
		default:
			return got
		}
	}
}

func (m *manual) expect(want ...string) {
	m.t.Helper()
	if got := m.poll(); !slices.Equal(got, want) {
		m.t.Fatalf("poll sent\n %q\nwant\n %q", got, want)
	}
}

func notice(n Notice) string { return "<" + string(n) + ">" }

func TestFollowStartsAtTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	w.write(3) // before Follow: not delivered
	m := newManual(t, path, false, 2)
	m.expect()
	m.expect(w.write(4)...)
	m.expect()
}

func TestFollowFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	m := newManual(t, path, true, 2)
	m.expect(w.write(3)...)
	m.expect(w.write(2)...)
}

// TestFollowRenameCreate is logrotate's default (create): the file is renamed, the writer
// still appends to the renamed file until it reopens, then writes to a new file. The
// renamed file is read until it has been idle for the linger time.
func TestFollowRenameCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	m := newManual(t, path, false, 3)
	m.expect(w.write(3)...)

	// Lines not yet polled, the rename, more lines to the renamed file: the path is
	// missing at this poll (logrotate has not created the new file yet).
	want := w.write(2)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	want = append(want, w.write(1)...)
	m.expect(append(want, notice(NoticeRotated))...)
	m.expect(w.write(2)...) // still to the renamed file

	w.reopen() // NGINX reopens its logs: the new file
	m.expect(w.write(3)...)

	// A second rotation seen in one poll: the old file's last lines, the notice, the new
	// file's lines.
	want = w.write(1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	want = append(want, w.write(1)...) // to the renamed file, before the new one exists
	w.reopen()
	want = append(want, notice(NoticeRotated))
	m.expect(append(want, w.write(2)...)...)
	if n := len(m.w.draining); n != 2 {
		t.Fatalf("%d renamed files still read, want 2 (neither idle yet)", n)
	}
	m.expect()
	m.expect()
	m.expect()
	if n := len(m.w.draining); n != 0 {
		t.Errorf("%d renamed files still open after being idle", n)
	}
}

// TestFollowCopyTruncate is logrotate's copytruncate: the file is copied and truncated in
// place while the writer keeps its descriptor (O_APPEND writes land at the new end). What
// was appended after the last poll is read from the copy beside the file.
func TestFollowCopyTruncate(t *testing.T) {
	for _, beside := range []bool{true, false} {
		t.Run(fmt.Sprintf("copy-beside=%v", beside), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "error.log")
			w := newLogWriter(t, path)
			m := newManual(t, path, false, 2)
			m.expect(w.write(5)...)
			unpolled := w.write(2)
			copyTo := path + ".1"
			if !beside {
				copyTo = filepath.Join(t.TempDir(), "error.log.1")
			}
			copyTruncate(t, path, copyTo)
			after := w.write(1)
			want := []string{notice(NoticeTruncated)}
			if beside {
				want = append(slices.Clone(unpolled), want...)
			} // else: the documented window, lost as for every reader of copytruncate
			m.expect(append(want, after...)...)
			m.expect(w.write(1)...)
		})
	}
}

// TestFollowTruncateRegrown: the file was truncated and has grown past the offset read
// before the next poll; the bytes before that offset changed, so it is read from 0.
func TestFollowTruncateRegrown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	m := newManual(t, path, false, 2)
	m.expect(w.write(2)...)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	m.expect(append([]string{notice(NoticeTruncated)}, w.write(5)...)...)
}

// TestFollowDeleteRecreate: the file is removed while the writer keeps writing to it;
// those lines are read through the open descriptor until it is idle, then the path is
// followed again once it is created.
func TestFollowDeleteRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	w := newLogWriter(t, path)
	m := newManual(t, path, false, 2)
	m.expect(w.write(3)...)

	want := w.write(1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want = append(want, w.write(1)...) // to the removed file, still open
	m.expect(append(want, notice(NoticeRemoved))...)
	for range 5 { // as long as the writer writes, however long
		m.expect(w.write(2)...)
	}
	w.reopen()
	m.expect(w.write(3)...)
	m.expect()
	m.expect()
	if len(m.w.draining) != 0 {
		t.Errorf("the removed file is still open after being idle")
	}
}

// TestFollowMissingFile: a file that does not exist yet is read from its start.
func TestFollowMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	m := newManual(t, path, false, 2)
	m.expect()
	w := newLogWriter(t, path)
	m.expect(w.write(3)...)
}

// TestFollowLongLine: a line past MaxFollowLine is cut and marked, the next one is whole,
// and memory stays bounded however long the line is.
func TestFollowLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	w := newLogWriter(t, path)
	m := newManual(t, path, false, 2)
	long := strings.Repeat("x", 3*MaxFollowLine+17)
	if _, err := io.WriteString(w.f, long[:MaxFollowLine+5]); err != nil {
		t.Fatal(err)
	}
	if err := m.w.poll(); err != nil {
		t.Fatal(err)
	}
	if len(m.w.cur.line) > MaxFollowLine {
		t.Fatalf("holds %d bytes of an unfinished line", len(m.w.cur.line))
	}
	if _, err := io.WriteString(w.f, long[MaxFollowLine+5:]+"\nshort\n"); err != nil {
		t.Fatal(err)
	}
	if err := m.w.poll(); err != nil {
		t.Fatal(err)
	}
	first, second := <-m.w.out, <-m.w.out
	if len(first.Text) != MaxFollowLine || !first.Truncated {
		t.Errorf("long line: %d bytes, truncated %v; want %d, true", len(first.Text), first.Truncated, MaxFollowLine)
	}
	if second.Text != "short" || second.Truncated {
		t.Errorf("next line %q (truncated %v), want \"short\"", second.Text, second.Truncated)
	}
}

// TestFollowRefusesFIFO: a FIFO is refused at once instead of blocking in open(2).
func TestFollowRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	l := firstLine(t, Follow(context.Background(), path))
	if l.Err == nil || !strings.Contains(l.Err.Error(), "not a regular file") {
		t.Errorf("got %+v, want a 'not a regular file' error", l)
	}
}

// TestFollowStatErrorEndsFollow: a stat error other than "not found" (the directory was
// replaced by a file) ends the follow with an error line and a closed channel; the
// process goes on (nxadm/tail called os.Exit(1) here).
func TestFollowStatErrorEndsFollow(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "nginx")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sub, "error.log")
	newLogWriter(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := PollFollower{Interval: 5 * time.Millisecond}.Follow(ctx, path)
	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var last Line
	for l := range channelUntil(t, ch, 10*time.Second) {
		last = l
	}
	if !errors.Is(last.Err, syscall.ENOTDIR) {
		t.Errorf("last line %+v, want an ENOTDIR error", last)
	}
}

// channelUntil passes ch on until it closes, failing the test if it stays open past limit.
func channelUntil(t *testing.T, ch <-chan Line, limit time.Duration) <-chan Line {
	t.Helper()
	out := make(chan Line)
	go func() {
		defer close(out)
		deadline := time.After(limit)
		for {
			select {
			case l, ok := <-ch:
				if !ok {
					return
				}
				out <- l
			case <-deadline:
				t.Errorf("channel still open after %s", limit)
				return
			}
		}
	}()
	return out
}

func firstLine(t *testing.T, ch <-chan Line) Line {
	t.Helper()
	select {
	case l := <-ch:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("nothing sent in 10s")
	}
	return Line{}
}

// TestFollowStops: cancelling closes the channel promptly.
func TestFollowStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "error.log")
	newLogWriter(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	ch := Follow(ctx, path)
	cancel()
	for range channelUntil(t, ch, 5*time.Second) {
	}
}

// copyTruncate does what logrotate's copytruncate does: copy, then truncate in place.
func copyTruncate(t testing.TB, path, copyTo string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(copyTo, data, 0o644); err != nil {
		t.Error(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Error(err)
	}
}

// TestFollowRotationUnderLoad rotates a log three ways while a writer appends at 10 and
// 100 lines/s, and checks that every line arrives exactly once and the rotation is
// announced. The writer is paced; the test waits on what arrives, not on the clock.
func TestFollowRotationUnderLoad(t *testing.T) {
	t.Parallel() // the writers are paced: overlap them with the other tests
	type mode struct {
		name   string
		notice Notice
		// rotate runs after a third of the lines, reopen (NGINX's USR1) after two thirds.
		rotate func(t testing.TB, path string)
		reopen bool
	}
	modes := []mode{
		{"rename-create", NoticeRotated, func(t testing.TB, path string) {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Error(err)
			}
		}, true},
		{"delete-keep-writing", NoticeRemoved, func(t testing.TB, path string) {
			if err := os.Remove(path); err != nil {
				t.Error(err)
			}
		}, false},
		{"copytruncate", NoticeTruncated, func(t testing.TB, path string) { copyTruncate(t, path, path+".1") }, false},
	}
	for _, md := range modes {
		for _, rate := range []int{10, 100} {
			t.Run(fmt.Sprintf("%s/%d-per-s", md.name, rate), func(t *testing.T) {
				t.Parallel()
				total := 2 * rate // two seconds of writing
				path := filepath.Join(t.TempDir(), "error.log")
				w := newLogWriter(t, path)
				ctx, cancel := context.WithCancel(context.Background())
				ch := PollFollower{Interval: 25 * time.Millisecond, Linger: time.Second}.Follow(ctx, path)
				defer func() {
					cancel()
					for range ch {
					}
				}()
				done := make(chan struct{})
				go func() {
					defer close(done)
					tick := time.NewTicker(time.Second / time.Duration(rate))
					defer tick.Stop()
					for i := 1; i <= total; i++ {
						<-tick.C
						switch i {
						case total / 3:
							md.rotate(t, path)
						case 2 * total / 3:
							if md.reopen {
								w.reopen()
							}
						}
						w.write(1)
					}
				}()
				seen := map[int]int{}
				var notices []Notice
				deadline := time.After(60 * time.Second)
				for len(seen) < total {
					select {
					case l, ok := <-ch:
						if !ok || l.Err != nil {
							t.Fatalf("follow ended: %+v", l)
						}
						if l.Notice != "" {
							notices = append(notices, l.Notice)
							continue
						}
						seen[lineNumber(l.Text)]++
					case <-deadline:
						t.Fatalf("after 60s %d of %d lines arrived", len(seen), total)
					}
				}
				<-done
				// A last line proves nothing more (no duplicate) was on its way.
				last := w.write(1)[0]
				for {
					l := firstLine(t, ch)
					if l.Text == last {
						break
					}
					if l.Notice != "" {
						notices = append(notices, l.Notice)
						continue
					}
					seen[lineNumber(l.Text)]++
				}
				for n := 1; n <= total; n++ {
					if seen[n] != 1 {
						t.Errorf("line %d arrived %d times", n, seen[n])
					}
				}
				if len(seen) != total {
					t.Errorf("%d distinct lines, want %d", len(seen), total)
				}
				if !slices.Contains(notices, md.notice) {
					t.Errorf("notices %q, want %q among them", notices, md.notice)
				}
			})
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
	want := map[string]Type{}
	for _, l := range ew.write(2) {
		want[l] = TypeNginxError
	}
	for _, l := range aw.write(2) {
		want[l+" "] = TypeAgent // distinct keys: the writers number their lines alike
	}
	got := map[string]Type{}
	deadline := time.After(10 * time.Second)
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

// FuzzFollowLines appends arbitrary bytes in arbitrary pieces, polling between them, and
// checks the lines sent are the file's lines, each cut at MaxFollowLine.
func FuzzFollowLines(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(3))
	f.Add([]byte(strings.Repeat("y", MaxFollowLine+3)+"\nz\n"), uint8(200))
	f.Add([]byte("\xff\xfe\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, piece uint8) {
		path := filepath.Join(t.TempDir(), "f.log")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		wf, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer wf.Close()
		m := newManual(t, path, true, 2)
		step := max(int(piece)*97+1, len(data)/32+1) // at most 32 polls
		var got []Line
		for rest := data; len(rest) > 0; {
			n := min(step, len(rest))
			if _, err := wf.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			if err := m.w.poll(); err != nil {
				t.Fatal(err)
			}
			for len(m.w.out) > 0 {
				got = append(got, <-m.w.out)
			}
		}
		var want []string
		if len(data) > 0 {
			want = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if !strings.HasSuffix(string(data), "\n") {
				want = want[:len(want)-1] // unfinished: still held
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines sent, want %d", len(got), len(want))
		}
		for i, w := range want {
			cut := len(w) > MaxFollowLine
			if cut {
				w = w[:MaxFollowLine]
			}
			if got[i].Text != w || got[i].Truncated != cut || got[i].Notice != "" || got[i].Err != nil {
				t.Fatalf("line %d: got %q (truncated %v), want %q (truncated %v)", i, got[i].Text, got[i].Truncated, w, cut)
			}
		}
	})
}
