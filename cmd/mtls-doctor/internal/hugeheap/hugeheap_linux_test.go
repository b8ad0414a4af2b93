//go:build linux && (amd64 || arm64)

package hugeheap

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

func TestThpDisabled(t *testing.T) {
	for godebug, want := range map[string]bool{
		"": false, "disablethp=1": true, "gctrace=1,disablethp=1": true, "disablethp=0": false, "xdisablethp=1": false,
		"disablethp=1,disablethp=0": false, "disablethp=0,disablethp=1,": true, " disablethp=1": false, ",,disablethp=1": true,
	} {
		if got := thpDisabled(godebug); got != want {
			t.Errorf("thpDisabled(%q) = %v, want %v", godebug, got, want)
		}
	}
	t.Setenv("GODEBUG", "disablethp=1")
	if n := advise(); n != 0 {
		t.Errorf("advise with GODEBUG=disablethp=1 collapsed %d regions", n)
	}
}

// FuzzThpDisabled: the hand-written GODEBUG reader agrees with one written with strings.
func FuzzThpDisabled(f *testing.F) {
	f.Add("gctrace=1,disablethp=1")
	f.Add("disablethp=1,,disablethp=10")
	f.Fuzz(func(t *testing.T, godebug string) {
		want := false
		for _, field := range strings.Split(godebug, ",") {
			if v, ok := strings.CutPrefix(field, "disablethp="); ok {
				want = v == "1"
			}
		}
		if got := thpDisabled(godebug); got != want {
			t.Fatalf("thpDisabled(%q) = %v, want %v", godebug, got, want)
		}
	})
}

// A region of heap partly in use becomes one huge page where the kernel can make one,
// and what the program wrote there stays; elsewhere nothing changes.
func TestAdviseCollapses(t *testing.T) {
	big := make([]byte, 3*hugePage) // a large object: fresh pages, touched below
	for i := 0; i < hugePage/2; i++ {
		big[i] = byte(i*7 + 1) // 1 MiB in use: 256 pages, at least 128 in one region
	}
	start := uintptr(unsafe.Pointer(&big[0]))
	adviseFrom(start &^ (heapChunk - 1))
	for i := 0; i < hugePage/2; i++ {
		if big[i] != byte(i*7+1) {
			t.Fatalf("byte %d changed to %d", i, big[i])
		}
	}
	for i := hugePage / 2; i < len(big); i += pageSize {
		if big[i] != 0 {
			t.Fatalf("byte %d is %d, want 0", i, big[i])
		}
	}
	huge := anonHugeKB(t, start)
	if collapseSupported(t) && huge == 0 {
		t.Errorf("no huge page in the advised heap at %#x although this kernel collapses", start)
	}
	t.Logf("AnonHugePages at the object's mapping: %d kB", huge)
}

// collapseSupported tries MADV_COLLAPSE on a private mapping of its own: false where THP
// is off ("never") or the kernel predates Linux 6.1.
func collapseSupported(t *testing.T) bool {
	mem, err := syscall.Mmap(-1, 0, 2*hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	start := uintptr(unsafe.Pointer(&mem[0]))
	base := (start + hugePage - 1) &^ (hugePage - 1)
	mem[base-start] = 1
	if enabled, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); strings.Contains(string(enabled), "[never]") {
		return false
	}
	return madvise(base, hugePage, madvCollapse) == nil
}

// anonHugeKB is the AnonHugePages of the mapping holding addr, from /proc/self/smaps.
func anonHugeKB(t *testing.T, addr uintptr) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inside := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lohi, _, ok := strings.Cut(line, " "); ok && strings.Contains(lohi, "-") && !strings.HasSuffix(line, "kB") {
			lo, hi, _ := strings.Cut(lohi, "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			inside = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if v, ok := strings.CutPrefix(line, "AnonHugePages:"); ok && inside {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}
