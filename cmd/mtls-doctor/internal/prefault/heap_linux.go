//go:build linux && (amd64 || arm64)

package prefault

import (
	"os"
	"syscall"
	"unsafe"
)

const (
	hugePage = 2 << 20 // PMD size with 4 KiB pages on amd64 and arm64
	pageSize = 4 << 10
	// heapChunk is the unit in which the runtime maps heap memory (pallocChunkBytes,
	// runtime/mpagealloc.go): each chunk is advised as a whole.
	heapChunk = 4 << 20
	// window bounds the heap looked at, from the chunk of its lowest known address.
	window = 4 * heapChunk
	// minResident is how much of a region must be in use for its collapse to pay
	// (a 2 MiB page and a copy): at this package's initialisation the heap's regions
	// hold 30-120 pages, and collapsing an empty one would only cost.
	minResident = 8

	madvHugepage = 14 // MADV_HUGEPAGE, include/uapi/asm-generic/mman-common.h
	madvCollapse = 25 // MADV_COLLAPSE, same header (Linux 6.1)
)

// sink keeps the probes of advise on the heap.
var sink struct {
	small *[16]byte
	large *[64 << 10]byte
}

// init maps the code (mapCode) and advises the heap (advise) as early as this package can
// run: it imports only os and syscall, so Go initialises it right after them, before the
// packages whose initialisation runs code all over the binary and allocates (crypto,
// encoding, YAML, the terminal libraries).
func init() {
	if enabled() {
		mapCode()
		advise()
	}
}

// enabled reports whether this package may act: 4 KiB pages, and no GODEBUG=disablethp=1.
func enabled() bool { return os.Getpagesize() == pageSize && !thpDisabled(os.Getenv("GODEBUG")) }

// advise marks the heap's mapped chunks (within 16 MiB of its start) for huge pages and
// collapses each 2 MiB region in use into one huge page. It returns how many regions it
// collapsed. Errors are ignored: the advice is only advice, and without it the program
// runs as before.
func advise() int {
	if !enabled() {
		return 0
	}
	// Where the heap lies: an early allocation (os.Args, made while the runtime
	// started), a small and a large new object (a large one takes the lowest free run
	// of pages, near the heap's end) and this goroutine's stack (heap memory too).
	var local byte
	sink.small, sink.large = new([16]byte), new([64 << 10]byte)
	addrs := [...]uintptr{
		uintptr(unsafe.Pointer(unsafe.SliceData(os.Args))),
		uintptr(unsafe.Pointer(sink.small)),
		uintptr(unsafe.Pointer(sink.large)),
		uintptr(unsafe.Pointer(&local)),
	}
	lo, hi := addrs[0], addrs[0]
	for _, a := range addrs[1:] {
		lo, hi = min(lo, a), max(hi, a)
	}
	lo &^= heapChunk - 1
	if lo == 0 || hi-lo >= window {
		return 0 // not one compact heap: leave it alone
	}
	return adviseFrom(lo)
}

// adviseFrom advises the window of heap chunks from lo (heapChunk-aligned). A chunk the
// runtime has only reserved takes the advice too but loses it when the runtime maps it
// (mmap with MAP_FIXED replaces the mapping); advising again after main starts was
// measured and did not pay (fewer faults, no faster).
func adviseFrom(lo uintptr) int {
	collapsed := 0
	var resident [hugePage / pageSize]byte
	for r := lo; r < lo+window; r += hugePage {
		// mincore fails on memory not mapped (yet): past the heap's end, or a gap.
		if mincore(r, hugePage, &resident) != nil {
			continue
		}
		if r%heapChunk == 0 {
			_ = madvise(r, heapChunk, madvHugepage)
		}
		in := residentPages(resident[:])
		if in >= minResident && in < len(resident) && madvise(r, hugePage, madvCollapse) == nil {
			collapsed++
		}
	}
	return collapsed
}

// thpDisabled reports whether GODEBUG sets disablethp=1, read as the runtime reads it
// (runtime/runtime1.go, parsegodebug): comma-separated key=value fields, no spaces
// trimmed, the last setting of a key wins. It does without package strings, whose
// initialisation (unicode's tables) would make this package's start later: Go
// initialises a package once all it imports are.
func thpDisabled(godebug string) bool {
	const key = "disablethp="
	disabled := false
	for godebug != "" {
		field := godebug
		godebug = ""
		for i := 0; i < len(field); i++ {
			if field[i] == ',' {
				field, godebug = field[:i], field[i+1:]
				break
			}
		}
		if len(field) >= len(key) && field[:len(key)] == key {
			disabled = field[len(key):] == "1"
		}
	}
	return disabled
}

func madvise(addr, length uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

// residentPages counts the pages a mincore vector marks resident.
func residentPages(vec []byte) int {
	n := 0
	for _, b := range vec {
		n += int(b & 1)
	}
	return n
}

func mincore(addr, length uintptr, vec *[hugePage / pageSize]byte) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, addr, length, uintptr(unsafe.Pointer(vec))); e != 0 {
		return e
	}
	return nil
}
