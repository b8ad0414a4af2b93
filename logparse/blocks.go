package logparse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Block sizes of the history scan. Memory is bounded by the number of blocks in flight
// (Scan keeps at most 2 per worker plus 2) times blockBuf, whatever the size of the files.
const (
	// blockSize is how much is read at a time: small enough that the blocks in flight
	// stay in the CPU's cache between the read that fills them and the worker that
	// parses them (a scan of 1 MiB blocks spent a quarter of its time more, most of it
	// copying into cold memory).
	blockSize = 64 << 10
	// maxScanLine caps one line in a scan; the rest of a longer line is dropped (its
	// start, where the time and level are, is kept).
	maxScanLine = 1 << 20
)

// blockBuf is the capacity of a block buffer: a chunk (maxScanLine inside an over-long
// line), a carried line, and the rest of the read that found the end of an over-long
// line. Only what a block uses is ever touched.
const blockBuf = max(blockSize, maxScanLine) + maxScanLine + 8192

// block is a run of whole lines in file order.
type block struct {
	file int    // index into the scan's files
	mem  []byte // the buffer buf lies in, recycled once the block is parsed
	buf  []byte // whole lines separated by '\n' (no trailing partial line)
	// cut counts lines longer than maxScanLine that were shortened.
	cut int
}

// backward reads a file from the end towards the start and returns blocks of whole lines.
// Each block ends just before the first line of the block returned before it.
type backward struct {
	r     io.ReaderAt
	off   int64  // bytes [0, off) are still unread
	carry []byte // the head of the lines after off whose start is still unread
	head  []byte // the next carry, swapped with carry (no allocation per block)
	cut   bool   // carry was shortened
	done  bool
}

func newBackward(r io.ReaderAt, size int64) *backward {
	// A carry never holds more than the file: a small file needs small ones.
	c := int(min(size, blockSize))
	return &backward{r: r, off: size, carry: make([]byte, 0, c), head: make([]byte, 0, c)}
}

// next fills buf (which must have capacity blockBuf, or the file's size if smaller) with
// the block that precedes the previous one and returns it (a part of buf). It returns
// io.EOF once the start of the file was returned.
func (b *backward) next(buf []byte) ([]byte, int, error) {
	if b.done {
		return nil, 0, io.EOF
	}
	for {
		n := int64(blockSize)
		if len(b.carry) >= blockSize {
			// Inside a long line: read up to the cap at once, so that carrying the line's
			// start costs one copy per maxScanLine read, not one per block.
			n = maxScanLine
		}
		if n > b.off {
			n = b.off
		}
		buf = buf[:n]
		if n > 0 {
			if _, err := b.r.ReadAt(buf, b.off-n); err != nil && !errors.Is(err, io.EOF) {
				return nil, 0, err
			}
		}
		b.off -= n
		if b.off == 0 {
			// The start of the file: everything left is whole lines.
			b.done = true
			body, cuts := b.attach(buf, 0)
			return body, cuts, nil
		}
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			// Inside one line longer than a chunk: keep its leftmost maxScanLine bytes.
			joined := append(buf, b.carry...)
			if len(joined) > maxScanLine {
				joined, b.cut = joined[:maxScanLine], true
			}
			b.carry = append(b.carry[:0], joined...)
			continue
		}
		// buf[:nl] is the tail of a line that starts before this chunk: it becomes the
		// next carry once buf[nl+1:] + carry is the block.
		b.head = append(b.head[:0], buf[:nl]...)
		body, cuts := b.attach(buf, nl+1)
		b.carry, b.head = b.head, b.carry
		return body, cuts, nil
	}
}

// attach returns buf[from:] followed by the carry (in buf's memory, which has room for
// it), with the line that spans the two cut to maxScanLine; it reports whether that line
// was cut.
func (b *backward) attach(buf []byte, from int) ([]byte, int) {
	body := buf[from:]
	spanStart := bytes.LastIndexByte(body, '\n') + 1
	span := len(body) - spanStart + len(b.carry)
	cuts := 0
	if b.cut || span > maxScanLine {
		cuts = 1
	}
	body = append(body, b.carry...)
	if span > maxScanLine {
		body = body[:spanStart+maxScanLine]
	}
	b.carry, b.cut = b.carry[:0], false
	return body, cuts
}

// forward reads a stream (a .gz rotated file) from the start in blocks of whole lines.
type forward struct {
	r    *bufio.Reader
	done bool
}

func newForward(r io.Reader) *forward { return &forward{r: bufio.NewReaderSize(r, 64<<10)} }

// next fills buf (capacity blockBuf) with the next block of whole lines, each cut to
// maxScanLine; io.EOF after the last.
func (f *forward) next(buf []byte) ([]byte, int, error) {
	if f.done {
		return nil, 0, io.EOF
	}
	buf = buf[:0]
	cuts := 0
	for len(buf) < blockSize && !f.done {
		start, cut := len(buf), false
		for {
			frag, err := f.r.ReadSlice('\n')
			frag = bytes.TrimSuffix(frag, []byte("\n")) // added back below
			if room := maxScanLine - (len(buf) - start); len(frag) > room {
				if !cut {
					cut, cuts = true, cuts+1
				}
				buf = append(buf, frag[:max(room, 0)]...)
			} else {
				buf = append(buf, frag...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, 0, err
			}
			if errors.Is(err, io.EOF) {
				f.done = true
			}
			break
		}
		buf = append(buf, '\n')
	}
	return bytes.TrimSuffix(buf, []byte("\n")), cuts, nil
}
