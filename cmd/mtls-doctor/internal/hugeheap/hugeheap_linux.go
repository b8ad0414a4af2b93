//go:build linux && (amd64 || arm64)

package hugeheap

import (
	"os"
	"strings"
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
	// minResident is how much of a region must be in use for its collapse to pay:
	// collapsing costs a 2 MiB page and a copy, and a region barely used is mostly
	// touched, if at all, by what allocates after main.
	minResident = 64

	madvHugepage = 14 // MADV_HUGEPAGE, include/uapi/asm-generic/mman-common.h
	madvCollapse = 25 // MADV_COLLAPSE, same header (Linux 6.1)
)

// sink keeps the probes of Advise on the heap.
var sink struct {
	small *[16]byte
	large *[64 << 10]byte
}

// Advise marks the heap's mapped chunks (within 16 MiB of its start) for huge pages and
// collapses each 2 MiB region in good part in use into one huge page. It returns how many
// regions it collapsed. Errors are ignored: the advice is only advice, and without it the
// program runs as before.
func Advise() int {
	if os.Getpagesize() != pageSize || thpDisabled(os.Getenv("GODEBUG")) {
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

// adviseFrom advises the window of heap chunks from lo (heapChunk-aligned).
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
		in := 0
		for _, b := range resident {
			in += int(b & 1)
		}
		if in >= minResident && in < len(resident) && madvise(r, hugePage, madvCollapse) == nil {
			collapsed++
		}
	}
	return collapsed
}

// thpDisabled reports whether GODEBUG holds disablethp=1.
func thpDisabled(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return true
		}
	}
	return false
}

func madvise(addr, length uintptr, advice int) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, addr, length, uintptr(advice)); e != 0 {
		return e
	}
	return nil
}

func mincore(addr, length uintptr, vec *[hugePage / pageSize]byte) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, addr, length, uintptr(unsafe.Pointer(vec))); e != 0 {
		return e
	}
	return nil
}
