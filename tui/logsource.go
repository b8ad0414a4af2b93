package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
	"github.com/mtls-doctor/mtls-doctor/internal/safetext"
	"github.com/mtls-doctor/mtls-doctor/logparse"
)

// ParseLogLine turns one raw line of the log at source into a LogLine: the time, level and
// message when the line is an NGINX error-log or agent line, and the logparse event kind
// when the line is about an mTLS connection. The assistant links the line to the finding
// of the check that claims that kind (Catalog.Claiming) when the line arrives.
func ParseLogLine(p *logparse.Parser, source, raw string) LogLine {
	ln := LogLine{Source: source, Text: logparse.Clip(raw)}
	ev, t, st := p.Parse(raw)
	ln.Time = t
	switch st {
	case logparse.LineClassified:
		ln.Event = string(ev.Kind)
	case logparse.LineOwnProbe:
		ln.OwnProbe = true
	}
	if e, ok := logparse.ParseErrorLine(raw, p.Location); ok {
		ln.Level, ln.Message = e.Level, e.Message
		if st != logparse.LineClassified {
			ln.Noise = logparse.Noise(e.Message)
		}
		if e.Action != "" {
			ln.Message += " while " + e.Action
		}
		ln.Time = e.Time
	} else if e, ok := logparse.ParseAgentLine(raw); ok {
		ln.Level, ln.Message = e.Level, e.Text()
		if !e.Time.IsZero() {
			ln.Time = e.Time
		}
	}
	// Shown as text: a line may hold escape sequences or a secret the application logged.
	ln.Source, ln.Text, ln.Message = safetext.Clean(source), safetext.Clean(ln.Text), safetext.Clean(ln.Message)
	ln.Level = safetext.EscapeLine(ln.Level)
	return ln
}

// RawLogSource adapts a stream of raw lines from the log at path into a LogSource:
// follow sends the lines (without newlines) until ctx is done. Lines are parsed and
// classified with logparse; loc is the zone of NGINX's zone-less times (nil: local).
func RawLogSource(path string, loc *time.Location, follow func(ctx context.Context, out chan<- string) error) LogSource {
	return LogSourceFunc(func(ctx context.Context, out chan<- LogLine) error {
		raw := make(chan string, 64)
		errc := make(chan error, 1)
		go func() {
			errc <- follow(ctx, raw)
			close(raw)
		}()
		p := &logparse.Parser{Location: loc}
		var secrets safetext.LineScrubber // a key logged across lines is removed from each
		for line := range raw {
			line = secrets.Scrub(line)
			select {
			case out <- ParseLogLine(p, path, line):
			case <-ctx.Done():
				for range raw { // let follow finish
				}
				return <-errc
			}
		}
		return <-errc
	})
}

// LogFileSource reads the lines already in path once, then ends: for a log that is not
// followed (the demo's recorded lines, a copied log). Lines longer than logparse's
// limit are cut.
func LogFileSource(path string, loc *time.Location) LogSource {
	return RawLogSource(path, loc, func(ctx context.Context, out chan<- string) error {
		f, err := regularfile.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case out <- sc.Text():
			case <-ctx.Done():
				return nil
			}
		}
		return sc.Err()
	})
}

// NoticeLogLine is the Logs screen's line for a followed file that was rotated, truncated
// or removed, noticed at now.
func NoticeLogLine(l logparse.Line, now time.Time) LogLine {
	path := safetext.EscapeLine(l.Path)
	return LogLine{Time: now, Source: path, Level: "notice", Notice: string(l.Notice),
		Text:    fmt.Sprintf("%s %s: %s", path, l.Notice, l.Notice.Describe()),
		Message: fmt.Sprintf("%s %s: %s", filepath.Base(path), l.Notice, l.Notice.Describe())}
}

// FollowLogFiles follows files from now on (across rotation, with logparse.Follow) and
// streams their lines, parsed with each file's type and formats. loc is the zone of
// NGINX's zone-less times (nil: local).
func FollowLogFiles(files []logparse.File, loc *time.Location) LogSource {
	return LogSourceFunc(func(ctx context.Context, out chan<- LogLine) error {
		if len(files) == 0 {
			return errors.New("no NGINX or agent log found to follow (name one with --logs)")
		}
		var errs []error
		for fl := range logparse.FollowFiles(ctx, files, loc) {
			if fl.Err != nil {
				errs = append(errs, fmt.Errorf("follow %s: %w", fl.Path, fl.Err))
				continue
			}
			ln := ParseLogLine(fl.Parser, fl.Path, fl.Text)
			if fl.Notice != "" {
				ln = NoticeLogLine(fl.Line, time.Now())
			}
			select {
			case out <- ln:
			case <-ctx.Done():
				return nil
			}
		}
		return errors.Join(errs...)
	})
}
