//go:build linux && (amd64 || arm64)

package prefault

import (
	"os"
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
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
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
		for _, b := range vec[:pages] {
			in += int(b & 1)
		}
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
	var image string
	var readOnly []mapping
	var files []string
	for len(maps) > 0 {
		line := maps
		if i := indexByte(maps, '\n'); i >= 0 {
			line, maps = maps[:i], maps[i+1:]
		} else {
			maps = nil
		}
		l, ok := parseMapsLine(line)
		if !ok {
			continue
		}
		if l.lo <= pc && pc < l.hi {
			image = l.path
		}
		if l.perms[0] == 'r' && l.perms[1] == '-' {
			readOnly = append(readOnly, mapping{l.lo, l.hi})
			files = append(files, l.path)
		}
	}
	if image == "" || image[0] != '/' { // anonymous or special ([vdso]): not a file
		return nil
	}
	var out []mapping
	for i, m := range readOnly {
		if files[i] == image {
			out = append(out, m)
		}
	}
	return out
}

// mapsLine is one line of /proc/PID/maps: "lo-hi perms offset dev inode   path"
// (proc(5)); path is empty for an anonymous mapping.
type mapsLine struct {
	lo, hi uintptr
	perms  string
	path   string
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
	return mapsLine{lo: lo, hi: hi, perms: string(fields[1]), path: string(trimSpaces(rest))}, true
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

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
