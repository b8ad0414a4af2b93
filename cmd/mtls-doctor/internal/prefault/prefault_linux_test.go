//go:build linux && (amd64 || arm64)

package prefault

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
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
func anonHugeKB(t *testing.T, addr uintptr) int { return smapsKB(t, addr, "AnonHugePages:") }

// smapsKB is a field (in kB) of the mapping holding addr, from /proc/self/smaps.
func smapsKB(t *testing.T, addr uintptr, field string) int {
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
		if v, ok := strings.CutPrefix(line, field); ok && inside {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// A file mapping is populated, every page at once, when its file is in the page cache,
// and left alone when it is not (populating would read it all from disk).
func TestPopulateCached(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "image")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0x90}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(mem)
	m := mapping{uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&mem[0])) + size}
	if rss := smapsKB(t, m.lo, "Rss:"); rss != 0 {
		t.Fatalf("Rss %d kB before anything was read", rss)
	}

	// Out of the page cache (clean pages, nothing mapped yet): not populated.
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	const fadvDontneed = 4 // POSIX_FADV_DONTNEED, include/uapi/linux/fadvise.h
	if _, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, size, fadvDontneed, 0, 0); e != 0 {
		t.Fatal(e)
	}
	if cached := cachedPerMille(m.lo, m.hi); cached < minCached {
		if populateCached(m) {
			t.Errorf("populated a mapping with %d/1000 of its pages in the page cache", cached)
		}
		if rss := smapsKB(t, m.lo, "Rss:"); rss != 0 {
			t.Errorf("Rss %d kB after declining to populate", rss)
		}
	} else {
		t.Logf("the page cache kept the file (%d/1000): the uncached case is not tested here", cached)
	}

	// In the page cache: every page is mapped.
	if _, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	if !populateCached(m) {
		t.Fatalf("a mapping of a cached file (%d/1000) was not populated", cachedPerMille(m.lo, m.hi))
	}
	if rss := smapsKB(t, m.lo, "Rss:"); rss != size>>10 {
		t.Errorf("Rss %d kB after populating, want %d", rss, size>>10)
	}
}

// The program's own image: its text is among the mappings found, and no mapping found is
// writable or another file's.
func TestImageMappingsOfThisProgram(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	pc := codeAddress()
	found := imageMappings(maps, pc)
	text := false
	for _, m := range found {
		text = text || m.lo <= pc && pc < m.hi
	}
	if !text || len(found) < 2 {
		t.Fatalf("mappings %v do not hold the text at %#x and its read-only data", found, pc)
	}
}

func TestImageMappings(t *testing.T) {
	maps := []byte(`00400000-00b4b000 r-xp 00000000 fe:00 9978483                            /usr/bin/mtls doctor
00b4b000-01288000 r--p 0074b000 fe:00 9978483                            /usr/bin/mtls doctor
01288000-0135d000 rw-p 00e88000 fe:00 9978483                            /usr/bin/mtls doctor
0135d000-035c4000 rw-p 00000000 00:00 0
7f0000000000-7f0000100000 r--p 00000000 fe:00 12                         /usr/lib/locale/C.utf8/LC_CTYPE
7ffd83e39000-7ffd83e5a000 rw-p 00000000 00:00 0                          [stack]
7ffd83f00000-7ffd83f02000 r-xp 00000000 00:00 0                          [vdso]
not a line at all
`)
	got := imageMappings(maps, 0x401000)
	want := []mapping{{0x400000, 0xb4b000}, {0xb4b000, 0x1288000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("imageMappings = %x, want %x", got, want)
	}
	for _, pc := range []uintptr{0x2000000, 0x7ffd83f00010, 0x10} { // anonymous, [vdso], unmapped
		if got := imageMappings(maps, pc); got != nil {
			t.Errorf("imageMappings(%#x) = %x, want none", pc, got)
		}
	}
}

// FuzzParseMapsLine: the hand-written reader (this package does without strings, whose
// initialisation would come first) agrees with one written with strings and strconv.
func FuzzParseMapsLine(f *testing.F) {
	f.Add("00400000-00b4b000 r-xp 00000000 fe:00 9978483                            /usr/bin/mtls doctor")
	f.Add("0135d000-035c4000 rw-p 00000000 00:00 0")
	f.Add("7ffd83e39000-7ffd83e5a000 rw-p 00000000 00:00 0                          [stack]")
	f.Add("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]")
	f.Fuzz(func(t *testing.T, line string) {
		got, ok := parseMapsLine([]byte(line))
		want, wantOK := referenceMapsLine(line)
		same := got.lo == want.lo && got.hi == want.hi && string(got.perms) == want.perms && string(got.path) == want.path
		if ok != wantOK || ok && !same {
			t.Fatalf("parseMapsLine(%q) = %x-%x %q %q, %v; want %+v, %v", line, got.lo, got.hi, got.perms, got.path, ok, want, wantOK)
		}
	})
}

// referenceLine is a maps line as referenceMapsLine reads it.
type referenceLine struct {
	lo, hi      uintptr
	perms, path string
}

func referenceMapsLine(line string) (referenceLine, bool) {
	rest := line
	var fields []string
	for range 5 {
		rest = strings.TrimLeft(rest, " ")
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		if end == 0 {
			return referenceLine{}, false
		}
		fields, rest = append(fields, rest[:end]), rest[end:]
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok || len(fields[1]) != 4 {
		return referenceLine{}, false
	}
	hexOK := func(s string) bool {
		return s != "" && len(s) <= 16 && strings.Trim(s, "0123456789abcdef") == ""
	}
	if !hexOK(lo) || !hexOK(hi) {
		return referenceLine{}, false
	}
	l, _ := strconv.ParseUint(lo, 16, 64)
	h, _ := strconv.ParseUint(hi, 16, 64)
	if h <= l {
		return referenceLine{}, false
	}
	return referenceLine{lo: uintptr(l), hi: uintptr(h), perms: fields[1], path: strings.TrimLeft(rest, " ")}, true
}

// readMaps reads what os.ReadFile reads, without the os package.
func TestReadMaps(t *testing.T) {
	var buf [32 << 10]byte
	got := readMaps(&buf)
	want, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	gotFirst, _ := cutLine(got)
	wantFirst, _ := cutLine(want)
	if len(got) == 0 || got[len(got)-1] != '\n' || string(gotFirst) != string(wantFirst) {
		t.Fatalf("readMaps: %d bytes, first line %q; os.ReadFile's first line %q", len(got), gotFirst, wantFirst)
	}
}
