package logparse

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mtls-doctor/mtls-doctor/internal/regularfile"
)

// File is one log to read.
type File struct {
	// Path is the live log; rotated siblings (Path.1, Path.2.gz, Path-20261122, …) are
	// found next to it.
	Path string
	// Type says how its lines are read.
	Type Type
	// Formats are the access-log formats to try (TypeNginxAccess, TypeAuto); nil means
	// DefaultFormats.
	Formats []*Format
	// Origin says why the file is read, for evidence: "error_log at
	// /etc/nginx/nginx.conf:7", "--logs", "default path".
	Origin string
	// Level is the error_log level configured for it ("" when unknown or not an error log).
	Level string
}

// OriginDefault is the Origin of a file read because it is a usual path, not because a
// configuration or the user named it: its absence is no news.
const OriginDefault = "default path"

// Options tune Scan.
type Options struct {
	// Now is the end of the window. Scan reads no clock: a zero Now with a Since reads
	// nothing but reports the files.
	Now time.Time
	// Since is the window's length; 0 means the whole files.
	Since time.Duration
	// Location is the zone of NGINX error-log times; nil means time.Local.
	Location *time.Location
	// Workers parse in parallel; 0 means GOMAXPROCS.
	Workers int
	// MaxRotated caps how many rotated siblings of each file are read (default 10).
	MaxRotated int
	// ProbeClients are the addresses this run's probe connected from
	// (probes.EndpointReport.LocalAddr and its NoCert attempt's): a stream connection from
	// one of them whose first line was written since Now's second is the probe's, as is
	// one from any of OwnProbePorts at any time.
	ProbeClients []string
}

// Slack is how far out of time order lines may be written (NGINX workers and buffered
// access logs): the backward scan reads this much past the window's start before it stops.
const Slack = 5 * time.Minute

// FileReport is what a scan did with one File.
type FileReport struct {
	File
	// Read lists the files read: Path and the rotated siblings that reached the window.
	Read []string
	// Skipped is why Path could not be read ("" when it was): missing or unreadable, with
	// what to do about it.
	Skipped string
	// Err is a read error that stopped the scan part-way.
	Err string
	// Bytes is how much was read.
	Bytes int64
	// Lines counts the lines in the window; Classified, Unclassified, OwnProbe and
	// Unparsed split them (unparsed lines have no time and are counted wherever they were
	// read). OwnProbe lines record mtls-doctor's own probe and are in no Summary.
	Lines, Classified, Unclassified, OwnProbe, Unparsed int
	// Cut counts lines longer than the scan's 1 MiB line cap, read shortened.
	Cut int
	// Oldest and Newest are the times of the first and last line in the window.
	Oldest, Newest time.Time
}

// Report is the result of a Scan.
type Report struct {
	// From and To bound the window; From is zero when the whole files were read.
	From, To time.Time
	// Files are in the order given.
	Files []FileReport
	// Summaries are the classified events grouped by kind, source and X509 code, in
	// Kinds order.
	Summaries []Summary
}

// Summary aggregates the events of one kind from one source (and one X509 code).
type Summary struct {
	Kind   Kind
	Source Source
	// X509Code and X509Text are OpenSSL's verify result, when the kind has one.
	X509Code int
	X509Text string
	// Upstream is the upstream server of an upstream-* summary (Event.Upstream): the
	// events of each upstream are summarised apart, so each link gets its own.
	Upstream string
	// Count is how many lines; FirstSeen and LastSeen the oldest and newest.
	Count               int
	FirstSeen, LastSeen time.Time
	// Clients are the distinct client addresses, most events first (at most
	// maxClients; ClientsTotal counts them all, up to the cap of tracked clients).
	Clients      []ClientCount
	ClientsTotal int
	// Detail is the deciding text of the newest event ("SSL alert number 42", the
	// agent's x509 error, …).
	Detail string
	// Examples are up to three verbatim lines, newest first.
	Examples []string
	// Files are the log files the events were read from.
	Files []string
}

// ClientCount is one client's share of a Summary.
type ClientCount struct {
	Client string
	Count  int
}

const (
	maxExamples = 3
	// maxClients caps the distinct clients tracked per summary, so a scan of a log under
	// attack from many addresses stays bounded.
	maxClients = 1000
)

// Scan reads the window of every file, newest data first, and summarises the classified
// events. A file that cannot be read is reported as skipped; Scan itself only fails when
// ctx is cancelled, and then returns what it had.
func Scan(ctx context.Context, files []File, o Options) *Report {
	rep := &Report{To: o.Now, Files: make([]FileReport, len(files))}
	var cutoff time.Time
	if o.Since > 0 {
		rep.From = o.Now.Add(-o.Since)
		cutoff = rep.From
	}
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxRot := o.MaxRotated
	if maxRot <= 0 {
		maxRot = 10
	}
	for i, f := range files {
		rep.Files[i].File = f
	}
	if o.Since > 0 && o.Now.IsZero() {
		for i := range rep.Files {
			rep.Files[i].Skipped = "no window end given"
		}
		return rep
	}

	// Buffers are made as the reader needs them, up to the bound, and no larger than the
	// file: a scan of a few small or empty files (the usual --check) then costs kilobytes,
	// not 2*workers+2 buffers of 2 MiB.
	free := make(chan []byte, 2*workers+2)
	work := make(chan block)
	results := make([]*worker, workers)
	var wg sync.WaitGroup
	for w := range workers {
		results[w] = newWorker(files, o, cutoff)
		wg.Add(1)
		go func(wk *worker) {
			defer wg.Done()
			for b := range work {
				wk.block(b)
				free <- b.mem[:0]
			}
		}(results[w])
	}

	rd := reader{ctx: ctx, work: work, free: free, maxBufs: cap(free), cutoff: cutoff, loc: o.Location, maxRot: maxRot}
	for i := range files {
		rd.file(i, &rep.Files[i])
	}
	close(work)
	wg.Wait()

	agg := newAggregator()
	settleProbeLines(results, rep.Files)
	for _, wk := range results {
		agg.merge(wk.agg)
		for i := range rep.Files {
			fr, st := &rep.Files[i], wk.stats[i]
			fr.Lines += st.lines
			fr.Classified += st.classified
			fr.Unclassified += st.unclassified
			fr.OwnProbe += st.ownProbe
			fr.Unparsed += st.unparsed
			fr.Cut += st.cut
			if !st.oldest.IsZero() && (fr.Oldest.IsZero() || st.oldest.Before(fr.Oldest)) {
				fr.Oldest = st.oldest
			}
			if st.newest.After(fr.Newest) {
				fr.Newest = st.newest
			}
		}
	}
	rep.Summaries = agg.summaries()
	return rep
}

// reader feeds blocks to the workers, file by file, newest data first.
type reader struct {
	ctx  context.Context
	work chan<- block
	free chan []byte
	// made counts the buffers made so far, at most maxBufs (free's capacity, so that
	// returning one never blocks). Only the reader's goroutine makes them.
	made, maxBufs int
	cutoff        time.Time
	loc           *time.Location
	maxRot        int
}

// file reads one File and its rotated siblings until the window's start is passed.
func (r *reader) file(i int, fr *FileReport) {
	for n, path := range r.siblings(fr.Path) {
		if r.ctx.Err() != nil {
			fr.Err = "cancelled"
			return
		}
		f, err := regularfile.Open(path) // a FIFO would block os.Open for ever
		if errors.Is(err, regularfile.ErrNotRegular) || errors.Is(err, syscall.EISDIR) {
			if n == 0 {
				fr.Skipped = path + " is not a regular file"
			}
			return
		}
		if err != nil {
			if n == 0 {
				fr.Skipped = unreadable(path, err)
			}
			return
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			if n == 0 {
				fr.Skipped = unreadable(path, err)
			}
			return
		}
		// A file last written before the window holds nothing in it, nor do older ones.
		if !r.cutoff.IsZero() && st.ModTime().Before(r.cutoff) {
			f.Close()
			return
		}
		fr.Read = append(fr.Read, path)
		p := &Parser{Type: fr.Type, Formats: fr.Formats, Location: r.loc}
		var more bool
		if strings.HasSuffix(path, ".gz") {
			more, err = r.gzip(i, f, p, fr)
		} else {
			more, err = r.backward(i, f, st.Size(), p, fr)
		}
		f.Close()
		if err != nil {
			fr.Err = fmt.Sprintf("%s: %v", path, err)
			return
		}
		if !more {
			return
		}
	}
}

// backward scans one plain file from its end. more reports whether the start of the file
// was still inside the window, so older siblings are worth reading.
func (r *reader) backward(i int, f *os.File, size int64, p *Parser, fr *FileReport) (more bool, err error) {
	br := newBackward(f, size)
	// No block of a file is longer than the file (it is read up to the size it had now).
	need := int(min(size, blockBuf))
	for {
		buf, err := r.take(need)
		if err != nil {
			return false, err
		}
		body, cuts, err := br.next(buf)
		if errors.Is(err, io.EOF) {
			r.free <- buf
			return true, nil
		}
		if err != nil {
			r.free <- buf
			return false, err
		}
		fr.Bytes += int64(len(body))
		old := r.beforeWindow(p, body)
		r.work <- block{file: i, mem: buf, buf: body, cut: cuts}
		if old {
			return false, nil
		}
		if br.done {
			return true, nil
		}
	}
}

// gzip scans a compressed rotated file from its start (gzip cannot be read backwards).
func (r *reader) gzip(i int, f *os.File, p *Parser, fr *FileReport) (more bool, err error) {
	zr, err := gzip.NewReader(f)
	if err != nil {
		return false, err
	}
	defer zr.Close()
	fw := newForward(zr)
	first := true
	for {
		buf, err := r.take(blockBuf)
		if err != nil {
			return false, err
		}
		body, cuts, err := fw.next(buf)
		if errors.Is(err, io.EOF) {
			r.free <- buf
			return more, nil
		}
		if err != nil {
			r.free <- buf
			return false, err
		}
		if first {
			// The oldest line decides whether still older files matter.
			more, first = !r.beforeWindow(p, body), false
		}
		fr.Bytes += int64(len(body))
		r.work <- block{file: i, mem: buf, buf: body, cut: cuts}
	}
}

// take returns a free block buffer of capacity need or more, making one while fewer than
// maxBufs exist, else waiting for a worker to return one. A returned buffer too small for
// need is replaced by a new one.
//
// need is below blockBuf for a file smaller than that: a --check reads a few small logs,
// and two buffers of blockBuf (2 MiB each, though only what a block uses is touched)
// would count 4 MiB towards the garbage collector's first goal and start a collection.
func (r *reader) take(need int) ([]byte, error) {
	fit := func(b []byte) []byte {
		if cap(b) < need {
			return make([]byte, 0, need)
		}
		return b
	}
	select {
	case b := <-r.free:
		return fit(b), nil
	default:
	}
	if r.made < r.maxBufs {
		r.made++
		return make([]byte, 0, need), nil
	}
	select {
	case b := <-r.free:
		return fit(b), nil
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
}

// beforeWindow reports whether the first timed line of body is older than the window's
// start by more than Slack: the lines before it can then be left unread.
func (r *reader) beforeWindow(p *Parser, body []byte) bool {
	if r.cutoff.IsZero() {
		return false
	}
	var ev Event
	for len(body) > 0 {
		line := body
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			body = nil
		}
		if t, st := p.parse(string(trimCR(line)), &ev); st != LineUnparsed && !t.IsZero() {
			return t.Before(r.cutoff.Add(-Slack))
		}
	}
	return false
}

var rotatedSuffix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:\.[0-9]+|-[0-9]{8,10})(?:\.gz)?$`) })

// siblings returns path and its rotated copies, newest first by modification time:
// logrotate's numbered (.1, .2.gz) and dateext (-20261122, -2026112216.gz) names.
func (r *reader) siblings(path string) []string {
	out := []string{path}
	dots, _ := filepath.Glob(globEscape(path) + ".*")
	dashes, _ := filepath.Glob(globEscape(path) + "-*")
	matches := append(dots, dashes...)
	type rot struct {
		path  string
		mtime time.Time
	}
	var rots []rot
	for _, m := range matches {
		if !rotatedSuffix().MatchString(strings.TrimPrefix(m, path)) {
			continue
		}
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
			rots = append(rots, rot{m, st.ModTime()})
		}
	}
	slices.SortStableFunc(rots, func(a, b rot) int { return b.mtime.Compare(a.mtime) })
	for i, x := range rots {
		if i == r.maxRot {
			break
		}
		out = append(out, x.path)
	}
	return out
}

func globEscape(p string) string {
	var b strings.Builder
	for _, c := range p {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// unreadable explains why a log cannot be opened, with what to do about it.
func unreadable(path string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path + " does not exist"
	case errors.Is(err, fs.ErrPermission):
		hint := "run as root"
		if st, serr := os.Stat(path); serr == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				if g, gerr := user.LookupGroupId(strconv.Itoa(int(sys.Gid))); gerr == nil {
					hint = "run as root or add your user to the " + g.Name + " group"
				}
			}
		}
		return "cannot read " + path + ": permission denied (" + hint + ")"
	}
	return "cannot read " + path + ": " + err.Error()
}

// markB is where the only 'b' of OwnProbeMark sits: a byte rarer in logs than its
// first, so that containsMark skips from one candidate to the next in long strides.
var markB = strings.IndexByte(OwnProbeMark, 'b')

// containsMark is bytes.Contains(block, OwnProbeMark), searching for the mark's 'b'.
func containsMark(block []byte) bool {
	for from := markB; from < len(block); {
		i := bytes.IndexByte(block[from:], 'b')
		if i < 0 {
			return false
		}
		at := from + i - markB
		if string(block[at:min(len(block), at+len(OwnProbeMark))]) == OwnProbeMark {
			return true
		}
		from += i + 1
	}
	return false
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// fileStats are one worker's counts for one file.
type fileStats struct {
	lines, classified, unclassified, ownProbe, unparsed, cut int
	oldest, newest                                           time.Time
}

// worker parses and classifies blocks; each has its own parsers and aggregator.
type worker struct {
	files   []File
	parsers []*Parser
	cutoff  time.Time
	stats   []fileStats
	agg     *aggregator
	// held are events of NGINX connections that may turn out to be the probe's
	// (settleProbeLines), at most maxHeld.
	held []heldEvent
}

// heldEvent is a classified line of one connection, kept until every worker has read
// its blocks: the connection's first line, which tells whether the probe made it, may be
// in a block another worker reads.
type heldEvent struct {
	file int
	conn connKey
	ev   Event // its strings are copies; Line is the line
}

// maxHeld bounds the events one worker holds back. Past it, events are counted at once:
// the probe's lines are the newest of a log, and blocks are read newest first, so what
// exceeds the bound is older than the probe's lines of this run.
const maxHeld = 1024

func newWorker(files []File, o Options, cutoff time.Time) *worker {
	w := &worker{files: files, cutoff: cutoff, stats: make([]fileStats, len(files)), agg: newAggregator()}
	var clients map[string]bool
	if len(o.ProbeClients) > 0 {
		clients = make(map[string]bool, len(o.ProbeClients))
		for _, c := range o.ProbeClients {
			clients[c] = true
		}
	}
	for _, f := range files {
		p := &Parser{Type: f.Type, Formats: f.Formats, Location: o.Location, scan: true}
		p.own.clients, p.own.since = clients, o.Now.Truncate(time.Second)
		w.parsers = append(w.parsers, p)
	}
	return w
}

// settleProbeLines counts the events the workers held back: as the probe's when any
// worker read the first line of their connection and found it the probe's, else into
// the worker's aggregator.
func settleProbeLines(workers []*worker, files []FileReport) {
	for _, wk := range workers {
		for _, h := range wk.held {
			own := false
			for _, other := range workers {
				if other.parsers[h.file].own.has(h.conn) {
					own = true
					break
				}
			}
			if own {
				files[h.file].OwnProbe++
				continue
			}
			files[h.file].Classified++
			line := h.ev.Line
			h.ev.Line = ""
			wk.agg.add(&h.ev, wk.files[h.file].Path, []byte(line))
		}
		wk.held = nil
	}
}

// hold keeps ev, whose strings alias the block being read, for settleProbeLines.
func (w *worker) hold(file int, conn connKey, ev *Event, line []byte) {
	c := *ev
	c.Client, c.Upstream, c.Server = strings.Clone(c.Client), strings.Clone(c.Upstream), strings.Clone(c.Server)
	// The example kept is cut at MaxLineBytes (Clip); a little more is kept so that the
	// cut still shows.
	c.X509Text, c.Detail, c.Line = strings.Clone(c.X509Text), strings.Clone(c.Detail), string(line[:min(len(line), MaxLineBytes+8)])
	w.held = append(w.held, heldEvent{file: file, conn: conn, ev: c})
}

func (w *worker) block(b block) {
	p, st := w.parsers[b.file], &w.stats[b.file]
	st.cut += b.cut
	body := b.buf
	// One vectorised search of the block replaces a search of each line for the mark of
	// mtls-doctor's own probe, which most logs never hold.
	p.markChecked = !containsMark(body)
	defer func() { p.markChecked = false }()
	var ev Event // filled by the lines that are events
	for len(body) > 0 {
		line := body
		if nl := bytes.IndexByte(body, '\n'); nl >= 0 {
			line, body = body[:nl], body[nl+1:]
		} else {
			body = nil
		}
		line = trimCR(line)
		if len(line) == 0 {
			continue
		}
		// The string aliases the block, which is recycled after this call: the aggregator
		// copies the little it keeps (clients, texts, three example lines).
		t, status := p.parse(unsafe.String(unsafe.SliceData(line), len(line)), &ev)
		if status == LineUnparsed || t.IsZero() {
			st.unparsed++
			continue
		}
		if t.Before(w.cutoff) {
			continue
		}
		st.lines++
		if st.oldest.IsZero() || t.Before(st.oldest) {
			st.oldest = t
		}
		if t.After(st.newest) {
			st.newest = t
		}
		switch status {
		case LineOwnProbe:
			st.ownProbe++
			continue
		case LineUnclassified:
			st.unclassified++
			continue
		}
		if p.conn != (connKey{}) && len(w.held) < maxHeld {
			w.hold(b.file, p.conn, &ev, line)
			continue
		}
		st.classified++
		w.agg.add(&ev, w.files[b.file].Path, line)
	}
}
