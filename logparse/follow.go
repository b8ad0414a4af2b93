package logparse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
)

// MaxFollowLine caps one followed line. NGINX cuts its error-log lines at 2 KB
// (NGX_MAX_ERROR_STR in src/core/ngx_log.h), access-log lines are as long as their
// variables make them; the rest of a longer line is dropped and the line marked Truncated.
const MaxFollowLine = 64 << 10

// Default timings of PollFollower.
const (
	// DefaultPollInterval is how often the path and the open files are looked at.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultLinger is how long a renamed or removed file is still read after it last grew:
	// NGINX writes to the renamed file until it reopens its logs (USR1, sent by logrotate's
	// postrotate), and a writer that never reopens keeps writing to a removed file.
	DefaultLinger = time.Minute
)

// maxDraining bounds the renamed or removed files read at once; the oldest goes first.
const maxDraining = 4

// Notice says what happened to a followed path.
type Notice string

// The notices Follow sends.
const (
	// NoticeRotated: the path names a new file. The old one is still read until it is
	// idle, and the new one is read from its start.
	NoticeRotated Notice = "rotated"
	// NoticeTruncated: the file shrank (copytruncate) and is read again from its start.
	// What was appended between the last poll and the truncation is recovered from the
	// copy when one lies beside the file (error.log.1, error.log-20261122); otherwise it
	// is lost, as for every reader of that rotation.
	NoticeTruncated Notice = "truncated"
	// NoticeRemoved: the path no longer exists. The open file is still read until it is
	// idle, and the path is followed again once it is created.
	NoticeRemoved Notice = "removed"
)

// Describe says in a few words what the follower does after n ("reading it again from
// its start").
func (n Notice) Describe() string {
	switch n {
	case NoticeRotated:
		return "reading the old file until it is idle, and the new file from its start"
	case NoticeTruncated:
		return "reading it again from its start"
	case NoticeRemoved:
		return "reading the open file until it is idle, then waiting for the path to come back"
	}
	return string(n)
}

// Line is one line appended to a followed file, or a notice about the file.
type Line struct {
	// Path is the followed file.
	Path string
	// Text is the line without its newline, cut at MaxFollowLine bytes.
	Text string
	// Truncated says Text was cut at MaxFollowLine.
	Truncated bool
	// Notice is set, and Text empty, when the value reports what happened to the path.
	Notice Notice
	// Err is set on the last value sent when following failed; the channel closes after it.
	Err error
}

// Follower streams the lines appended to a file. Callers depend only on this.
type Follower interface {
	Follow(ctx context.Context, path string) <-chan Line
}

// Follow streams the lines appended to path from now on until ctx is done, then closes
// the channel. It is PollFollower's Follow with the default timings.
func Follow(ctx context.Context, path string) <-chan Line { return PollFollower{}.Follow(ctx, path) }

// PollFollower follows a file by polling it (inotify misses events across rotation and
// is not available on every file system). It survives logrotate's rename+create (reading
// the renamed file for as long as the writer still appends to it), copytruncate, and the
// file being removed and created again; a file that does not exist yet is read from its
// start once it appears. It never ends the process: an error ends the follow with a Line
// that carries it.
//
// It replaced github.com/nxadm/tail v1.4.11, whose poll mode reopens a renamed or deleted
// file without reading what the writer still appends to the old one, reads each line
// whole into memory (tail.go readLine), and calls os.Exit(1) on a stat error other than
// "not found" (watch/polling.go, util.Fatal).
type PollFollower struct {
	// FromStart delivers the lines already in the file first (a log that is small and
	// entirely of interest, such as the demo lab's); by default following starts at the end.
	FromStart bool
	// Interval is the polling period; 0 means DefaultPollInterval.
	Interval time.Duration
	// Linger is how long a renamed or removed file is read after it last grew; 0 means
	// DefaultLinger.
	Linger time.Duration
}

// Follow implements Follower. The file is opened before Follow returns, so every line
// appended after that is delivered.
func (p PollFollower) Follow(ctx context.Context, path string) <-chan Line {
	interval := orDefault(p.Interval, DefaultPollInterval)
	w := &watch{ctx: ctx, path: path, out: make(chan Line, 64),
		lingerPolls: int(max(1, orDefault(p.Linger, DefaultLinger)/interval))}
	if err := w.start(p.FromStart); err != nil {
		w.out <- Line{Path: path, Err: err}
		close(w.out)
		return w.out
	}
	go w.run(interval)
	return w.out
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// watch is the state of one Follow.
type watch struct {
	ctx         context.Context
	path        string
	out         chan Line
	lingerPolls int

	cur      *tracked   // the file the path names, nil while it does not exist
	draining []*tracked // renamed or removed files still read until idle
	buf      []byte
}

// tracked is an open file and how far it was read.
type tracked struct {
	f    *os.File
	info os.FileInfo // at open, to tell whether the path still names this file
	off  int64       // next byte to read
	// line holds the start of a line whose newline has not been read yet; cut says the
	// line went past MaxFollowLine and the rest up to its newline is being dropped.
	line []byte
	cut  bool
	// mark is the last bytes before off: when they change, the file was truncated and has
	// grown past off again since the last poll.
	mark []byte
	idle int // polls since a draining file last grew
}

// markLen is how many bytes before the read offset are remembered to notice truncation.
const markLen = 64

func (w *watch) start(fromStart bool) error {
	t, err := openTracked(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // read from its start once it appears
	}
	if err != nil {
		return err
	}
	if !fromStart {
		t.off = t.info.Size()
		t.mark = readMark(t.f, t.off)
	}
	w.cur = t
	return nil
}

func (w *watch) run(interval time.Duration) {
	defer close(w.out)
	defer w.closeAll()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := w.poll(); err != nil {
			if w.ctx.Err() == nil {
				w.send(Line{Path: w.path, Err: err})
			}
			return
		}
		select {
		case <-w.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// errStopped ends poll when ctx is done while a line waits to be sent.
var errStopped = errors.New("stopped")

// poll reads what was appended to every open file and notices rotation, truncation and
// removal. The renamed or removed files are read first: their lines were written before
// those of the file that replaced them.
func (w *watch) poll() error {
	for i := 0; i < len(w.draining); i++ {
		t := w.draining[i]
		grew, err := w.read(t)
		if err != nil {
			return err
		}
		if grew {
			t.idle = 0
		} else if t.idle++; t.idle >= w.lingerPolls {
			if !w.flush(t) {
				return errStopped
			}
			t.f.Close()
			w.draining = slices.Delete(w.draining, i, i+1)
			i--
		}
	}
	if w.cur != nil {
		if err := w.readCurrent(); err != nil {
			return err
		}
	}
	fi, err := os.Stat(w.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if w.cur != nil {
			notice := NoticeRemoved
			if linked(w.cur.f) {
				notice = NoticeRotated // renamed; the new file is not there yet
			}
			w.retire()
			if !w.send(Line{Path: w.path, Notice: notice}) {
				return errStopped
			}
		}
		return nil
	case err != nil:
		return err
	case w.cur != nil && os.SameFile(fi, w.cur.info):
		return nil
	}
	t, err := openTracked(w.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // gone again between the stat and the open: next poll
	}
	if err != nil {
		return err
	}
	if w.cur != nil {
		w.retire()
		if !w.send(Line{Path: w.path, Notice: NoticeRotated}) {
			t.f.Close()
			return errStopped
		}
	}
	w.cur = t
	_, err = w.read(t)
	return err
}

// readCurrent notices a truncation of the current file, then reads what was appended.
func (w *watch) readCurrent() error {
	t := w.cur
	fi, err := t.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", w.path, err)
	}
	if fi.Size() < t.off || !bytes.Equal(readMark(t.f, t.off), t.mark) {
		if !w.recoverCopy(t) || !w.flush(t) || !w.send(Line{Path: w.path, Notice: NoticeTruncated}) {
			return errStopped
		}
		t.off, t.mark = 0, nil
	}
	_, err = w.read(t)
	return err
}

// recoverCopy delivers what copytruncate copied past the offset read so far, from the
// copy beside the file: the sibling whose bytes before that offset are the ones last read.
// It reports false only when ctx ended.
func (w *watch) recoverCopy(t *tracked) bool {
	if t.off == 0 || len(t.mark) == 0 {
		return true
	}
	dir, base := filepath.Split(w.path)
	entries, err := os.ReadDir(dirOrDot(dir))
	if err != nil {
		return true
	}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || len(name) == len(base) || strings.HasSuffix(name, ".gz") ||
			!e.Type().IsRegular() || checked == maxCopyCandidates {
			continue
		}
		checked++
		f, err := regularfile.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if !bytes.Equal(readMark(f, t.off), t.mark) {
			f.Close()
			continue
		}
		c := &tracked{f: f, off: t.off, line: t.line, cut: t.cut}
		_, err = w.read(c)
		f.Close()
		t.line, t.cut = c.line, c.cut
		return !errors.Is(err, errStopped)
	}
	return true
}

// maxCopyCandidates bounds the siblings looked at for a copytruncate copy.
const maxCopyCandidates = 32

func dirOrDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// retire moves the current file to the draining ones.
func (w *watch) retire() {
	w.draining = append(w.draining, w.cur)
	w.cur = nil
	if len(w.draining) > maxDraining {
		old := w.draining[0]
		w.flush(old)
		old.f.Close()
		w.draining = w.draining[1:]
	}
}

// read delivers the whole lines appended to t since the last read and reports whether
// it grew.
func (w *watch) read(t *tracked) (bool, error) {
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	grew := false
	for {
		n, err := t.f.ReadAt(w.buf, t.off)
		if n > 0 {
			grew = true
			data := w.buf[:n]
			t.off += int64(n)
			t.mark = appendMark(t.mark, data)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					t.add(data)
					break
				}
				t.add(data[:i])
				data = data[i+1:]
				if !w.emit(t) {
					return grew, errStopped
				}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return grew, nil
		}
		if err != nil {
			return grew, fmt.Errorf("read %s: %w", w.path, err)
		}
	}
}

// add appends part of a line, up to MaxFollowLine.
func (t *tracked) add(b []byte) {
	if t.cut {
		return
	}
	if room := MaxFollowLine - len(t.line); len(b) > room {
		b, t.cut = b[:room], true
	}
	t.line = append(t.line, b...)
}

// flush sends an unfinished last line when the file is left (truncated, or idle after a
// rename or removal) and reports false when ctx ended.
func (w *watch) flush(t *tracked) bool {
	if len(t.line) == 0 && !t.cut {
		return true
	}
	return w.emit(t)
}

// emit sends the line collected so far and reports false when ctx ended.
func (w *watch) emit(t *tracked) bool {
	l := Line{Path: w.path, Text: string(t.line), Truncated: t.cut}
	t.line, t.cut = t.line[:0], false
	return w.send(l)
}

func (w *watch) send(l Line) bool {
	select {
	case w.out <- l:
		return true
	case <-w.ctx.Done():
		return false
	}
}

func (w *watch) closeAll() {
	if w.cur != nil {
		w.cur.f.Close()
	}
	for _, t := range w.draining {
		t.f.Close()
	}
}

// openTracked opens path for following.
func openTracked(path string) (*tracked, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &tracked{f: f, info: fi}, nil
}

// readMark returns the markLen bytes before off (fewer near the start of the file).
func readMark(f *os.File, off int64) []byte {
	n := min(off, markLen)
	if n <= 0 {
		return nil
	}
	b := make([]byte, n)
	if k, _ := f.ReadAt(b, off-n); int64(k) < n {
		return b[:0:0] // the file is shorter now: differs from any remembered mark
	}
	return b
}

// appendMark keeps the last markLen bytes of mark followed by data.
func appendMark(mark, data []byte) []byte {
	if len(data) >= markLen {
		return append(mark[:0], data[len(data)-markLen:]...)
	}
	mark = append(mark, data...)
	if len(mark) > markLen {
		mark = append(mark[:0], mark[len(mark)-markLen:]...)
	}
	return mark
}
