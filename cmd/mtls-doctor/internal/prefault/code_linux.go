//go:build linux && (amd64 || arm64)

package prefault

import (
	"syscall"
	"unsafe"
)

const (
	madvPopulateRead = 22 // MADV_POPULATE_READ, include/uapi/asm-generic/mman-common.h (Linux 5.14)
	// minCached is the share of a mapping's pages (in 1/1000) that must be in the page
	// cache for it to be populated: below it, populating would read the rest from disk.
	minCached = 900
)

// mapCode populates the page tables of the program's read-only mappings (code, read-only
// data, the symbol table the runtime reads) whose file is in the page cache, and returns
// how many it populated. Errors leave the mappings as they were, to fault as usual.
func mapCode() int {
	maps := readMaps(&mapsBuf)
	n := 0
	for _, m := range imageMappings(maps, codeAddress()) {
		if populateCached(m) {
			n++
		}
	}
	return n
}

// populateCached populates m's page tables if its file is in the page cache, and reports
// whether it did.
func populateCached(m mapping) bool {
	return cachedPerMille(m.lo, m.hi) >= minCached && madvise(m.lo, m.hi-m.lo, madvPopulateRead) == nil
}

// mapsBuf holds /proc/self/maps: a Go program's is 2-4 KiB. A longer one is cut, which
// loses nothing here: the executable's mappings are the lowest and come first.
var mapsBuf [32 << 10]byte

// readMaps reads /proc/self/maps into buf with bare system calls: os.ReadFile's first call
// costs ten times as much here (0.2-0.4 ms against 0.03 ms, the os package's file set-up
// and a growing buffer), at the start of every run.
func readMaps(buf *[32 << 10]byte) []byte {
	fd, err := syscall.Open("/proc/self/maps", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if m <= 0 || err != nil {
			break
		}
		n += m
	}
	return buf[:n]
}

// codeAddress is an address in the program's text: the entry of a function of this package.
func codeAddress() uintptr {
	f := mapCode
	return **(**uintptr)(unsafe.Pointer(&f)) // a func value points at its code pointer
}

// cachedPerMille is how many of the pages in [lo, hi) are in the page cache, in 1/1000.
func cachedPerMille(lo, hi uintptr) int {
	var vec [hugePage / pageSize]byte
	in, all := 0, 0
	for a := lo; a < hi; a += hugePage {
		n := min(hi-a, hugePage)
		if mincore(a, n, &vec) != nil {
			return 0
		}
		pages := int((n + pageSize - 1) / pageSize)
		in += residentPages(vec[:pages])
		all += pages
	}
	if all == 0 {
		return 0
	}
	return in * 1000 / all
}

// mapping is an address range of /proc/self/maps.
type mapping struct{ lo, hi uintptr }

// imageMappings returns, from the text of /proc/self/maps, the read-only mappings (r-x or
// r--) of the file that maps pc. Writable mappings are left out: a write copies the page
// anyway.
func imageMappings(maps []byte, pc uintptr) []mapping {
	var image []byte
	for rest := maps; len(rest) > 0; {
		var line []byte
		line, rest = cutLine(rest)
		if l, ok := parseMapsLine(line); ok && l.lo <= pc && pc < l.hi {
			image = l.path
			break
		}
	}
	if len(image) == 0 || image[0] != '/' { // anonymous or special ([vdso]): not a file
		return nil
	}
	var out []mapping
	for rest := maps; len(rest) > 0; {
		var line []byte
		line, rest = cutLine(rest)
		if l, ok := parseMapsLine(line); ok && l.perms[0] == 'r' && l.perms[1] == '-' && string(l.path) == string(image) {
			out = append(out, mapping{l.lo, l.hi})
		}
	}
	return out
}

// cutLine returns the first line of b and what follows its newline.
func cutLine(b []byte) (line, rest []byte) {
	if i := indexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// mapsLine is one line of /proc/PID/maps: "lo-hi perms offset dev inode   path"
// (proc(5)); path is empty for an anonymous mapping.
type mapsLine struct {
	lo, hi uintptr
	perms  []byte
	path   []byte
}

// parseMapsLine reads a line of /proc/PID/maps; ok is false for anything else.
func parseMapsLine(line []byte) (l mapsLine, ok bool) {
	var fields [5][]byte
	rest := line
	for i := range fields {
		rest = trimSpaces(rest)
		end := indexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		fields[i], rest = rest[:end], rest[end:]
		if len(fields[i]) == 0 {
			return l, false
		}
	}
	dash := indexByte(fields[0], '-')
	if dash < 0 || len(fields[1]) != 4 {
		return l, false
	}
	lo, okLo := parseHex(fields[0][:dash])
	hi, okHi := parseHex(fields[0][dash+1:])
	if !okLo || !okHi || hi <= lo {
		return l, false
	}
	return mapsLine{lo: lo, hi: hi, perms: fields[1], path: trimSpaces(rest)}, true
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// parseHex reads a lower-case hexadecimal address as /proc prints it.
func parseHex(s []byte) (uintptr, bool) {
	if len(s) == 0 || len(s) > 2*int(unsafe.Sizeof(uintptr(0))) {
		return 0, false
	}
	var v uintptr
	for _, c := range s {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uintptr(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uintptr(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// indexByte is bytes.IndexByte: this package does without bytes and strings, whose
// initialisation (unicode's) Go would run before this package's.
func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
