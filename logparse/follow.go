package logparse

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/nxadm/tail"
)

// Line is one line appended to a followed file.
type Line struct {
	// Path is the followed file.
	Path string
	// Text is the line without its newline, cut at 1 MiB.
	Text string
	// Err is set on the last value sent when following failed; the channel closes after it.
	Err error
}

// Follower streams the lines appended to a file. The implementation behind it is
// replaceable (a hand-rolled stat poller would do); callers depend only on this.
type Follower interface {
	Follow(ctx context.Context, path string) <-chan Line
}

// Follow streams the lines appended to path from now on until ctx is done, then closes
// the channel. It survives logrotate's rename+create and copytruncate and the file being
// deleted and created again; a file that does not exist yet is read from its start once
// it appears. It is PollFollower's Follow.
func Follow(ctx context.Context, path string) <-chan Line { return PollFollower{}.Follow(ctx, path) }

// PollFollower follows with github.com/nxadm/tail (v1.4.11) in poll mode, which polls the
// path every 250 ms: inotify misses events under rotation (see go-libs.md §2).
//
// nxadm/tail reopens a renamed or deleted file without reading what was appended to the
// old one since its last poll, so lines written just before a rotation, and those NGINX
// writes to the renamed file until it reopens its logs, would be lost. PollFollower keeps
// its own descriptor of the file being followed and, when the tail announces the reopen
// (through its logger, synchronously and before it reopens), reads the old file from the
// last delivered offset to its end first. What copytruncate cuts off between a poll and
// the truncation is gone from the file, as with every reader of that rotation.
type PollFollower struct {
	// FromStart delivers the lines already in the file first (a log that is small and
	// entirely of interest, such as the demo lab's); by default following starts at the end.
	FromStart bool
}

// Follow implements Follower.
func (p PollFollower) Follow(ctx context.Context, path string) <-chan Line {
	out := make(chan Line, 64)
	f := &follower{ctx: ctx, path: path, out: out, events: make(chan tailEvent)}
	cfg := tail.Config{
		Follow: true, ReOpen: true, Poll: true, MustExist: false, CompleteLines: true,
		Logger: hookLogger{f},
	}
	if st, err := os.Stat(path); err == nil {
		if p.FromStart {
			f.open(0)
		} else {
			// Start at the current end; remember it as the delivered offset.
			cfg.Location = &tail.SeekInfo{Offset: 0, Whence: io.SeekEnd}
			f.open(st.Size())
		}
	}
	t, err := tail.TailFile(path, cfg)
	if err != nil {
		out <- Line{Path: path, Err: err}
		close(out)
		f.closeOwn()
		return out
	}
	go f.run(t)
	return out
}

// tailEvent is a reopen announced by the tail's logger; done is closed once handled.
type tailEvent struct {
	kind string // "moved" (renamed or deleted) or "reopened"
	done chan struct{}
}

type follower struct {
	ctx    context.Context
	path   string
	out    chan<- Line
	events chan tailEvent

	own       *os.File // our descriptor of the file the tail reads
	delivered int64    // offset just past the last line delivered from own
}

func (f *follower) run(t *tail.Tail) {
	defer close(f.out)
	defer f.closeOwn()
	defer t.Stop() //nolint:errcheck // stopping; the error is t.Err, reported below
	for {
		select {
		case <-f.ctx.Done():
			return
		case ev := <-f.events:
			switch ev.kind {
			case "moved":
				f.drain()
			case "reopened":
				f.closeOwn()
				f.open(0)
			}
			close(ev.done)
		case l, ok := <-t.Lines:
			if !ok {
				if err := t.Err(); err != nil && !errors.Is(err, tail.ErrStop) {
					f.send(Line{Path: f.path, Err: err})
				}
				return
			}
			if l.Err != nil {
				continue // rate-limiter notices; none are configured
			}
			if f.own == nil {
				// The file appeared after Follow started: the tail reads it from its start.
				f.open(l.SeekInfo.Offset - int64(len(l.Text)) - 1)
			}
			f.delivered = l.SeekInfo.Offset
			if !f.send(Line{Path: f.path, Text: capLine(l.Text)}) {
				return
			}
		}
	}
}

// open takes our own descriptor of the path, delivered up to off.
func (f *follower) open(off int64) {
	fd, err := os.Open(f.path)
	if err != nil {
		return
	}
	f.own, f.delivered = fd, max(off, 0)
}

func (f *follower) closeOwn() {
	if f.own != nil {
		f.own.Close()
		f.own = nil
	}
}

// drain delivers what the old file holds past the last delivered line, including a last
// line without its newline (the file is finished), and lets the descriptor go.
func (f *follower) drain() {
	if f.own == nil {
		return
	}
	defer f.closeOwn()
	r := bufio.NewReader(io.NewSectionReader(f.own, f.delivered, 1<<62))
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if !f.send(Line{Path: f.path, Text: capLine(strings.TrimSuffix(line, "\n"))}) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (f *follower) send(l Line) bool {
	select {
	case f.out <- l:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// announce runs in the tail's goroutine: it hands the event to run and waits until it is
// handled, so the tail reopens only after the old file was drained.
func (f *follower) announce(kind string) {
	ev := tailEvent{kind: kind, done: make(chan struct{})}
	select {
	case f.events <- ev:
	case <-f.ctx.Done():
		return
	}
	select {
	case <-ev.done:
	case <-f.ctx.Done():
	}
}

// hookLogger receives nxadm/tail's log messages. Their text is fixed in v1.4.11
// (tail.go waitForChanges): "Re-opening moved/deleted file %s ..." before a reopen after
// rename or delete, "Successfully reopened %s" and "Successfully reopened truncated %s"
// after one.
type hookLogger struct{ f *follower }

func (h hookLogger) Printf(format string, v ...any) {
	switch {
	case strings.HasPrefix(format, "Re-opening moved/deleted file"):
		h.f.announce("moved")
	case strings.HasPrefix(format, "Successfully reopened"):
		h.f.announce("reopened")
	}
}

// The tail calls only Printf; the rest of its logger interface is silent, because a
// library must not exit or panic the program through a logger.
func (hookLogger) Print(...any)          {}
func (hookLogger) Println(...any)        {}
func (hookLogger) Fatal(...any)          {}
func (hookLogger) Fatalf(string, ...any) {}
func (hookLogger) Fatalln(...any)        {}
func (hookLogger) Panic(...any)          {}
func (hookLogger) Panicf(string, ...any) {}
func (hookLogger) Panicln(...any)        {}

// capLine cuts a followed line to the scan's line cap.
func capLine(s string) string {
	if len(s) > maxScanLine {
		return s[:maxScanLine]
	}
	return s
}
