package nginxconf

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// endless yields head, then the byte fill for ever, and counts what was read.
type endless struct {
	head []byte
	fill byte
	read int
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.read += len(p)
	return len(p), nil
}

// `--nginx-config - < /dev/zero` read 64 MiB twice over (273 MB peak) before refusing:
// input that names no file in its first 64 KiB is refused there.
func TestReadDumpRefusesNonDumpEarly(t *testing.T) {
	zero := &endless{}
	_, err := ReadDump(zero)
	if err == nil || !strings.Contains(err.Error(), "not nginx -T output") {
		t.Fatalf("ReadDump(/dev/zero) error = %v, want not nginx -T output", err)
	}
	if zero.read > dumpHeadSize {
		t.Errorf("read %d bytes of an endless non-dump, want at most %d", zero.read, dumpHeadSize)
	}
}

// Endless output that starts like a dump stops at the size limit, read in chunks.
func TestReadDumpLimit(t *testing.T) {
	in := &endless{head: []byte("# configuration file /etc/nginx/nginx.conf:\n"), fill: '#'}
	_, err := ReadDump(in)
	if err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Fatalf("ReadDump(endless dump) error = %v, want the 64 MiB limit", err)
	}
	if in.read > maxDumpSize+1 {
		t.Errorf("read %d bytes, want at most the limit + 1 (%d)", in.read, maxDumpSize+1)
	}
}

// Whatever way it arrives — short, longer than the first read, in a Buffer — the bytes
// come back whole, and a Buffer's are used in place.
func TestReadDumpWhole(t *testing.T) {
	var dump bytes.Buffer
	dump.WriteString("nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n# configuration file /etc/nginx/nginx.conf:\nevents {}\n")
	for dump.Len() < 3*dumpHeadSize {
		dump.WriteString("# a comment line to make the dump longer than its head\n")
	}
	for _, size := range []int{100, dumpHeadSize - 1, dumpHeadSize, dump.Len()} {
		want := dump.Bytes()[:size]
		got, err := ReadDump(io.MultiReader(bytes.NewReader(want[:size/2]), bytes.NewReader(want[size/2:])))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("size %d: got %d bytes, %v; want them all back", size, len(got), err)
		}
	}
	got, err := ReadDump(&dump)
	if err != nil || len(got) != dump.Len() || &got[0] != &dump.Bytes()[0] {
		t.Errorf("ReadDump(*bytes.Buffer) copied or failed: %v", err)
	}
	cfg, err := ParseDumpBytes(got, Options{})
	if err != nil || cfg.Main != "/etc/nginx/nginx.conf" || len(cfg.Find("events")) != 1 {
		t.Errorf("ParseDumpBytes = %+v, %v", cfg, err)
	}
}

// statReader is a reader that says it is a regular file of size bytes, whatever it holds.
type statReader struct {
	*bytes.Reader
	size int64
}

func (s statReader) Stat() (fs.FileInfo, error) { return fakeInfo{size: s.size}, nil }

type fakeInfo struct {
	fs.FileInfo
	size int64
}

func (f fakeInfo) Size() int64       { return f.size }
func (f fakeInfo) Mode() fs.FileMode { return 0o644 }

// Standard input redirected from a file is read into one buffer of the file's size (a
// 10,000-server dump is megabytes: no chunks and no join); from the offset it is at, and
// whole even when the file holds more than its size said (it grew meanwhile).
func TestReadDumpRegularFile(t *testing.T) {
	var dump bytes.Buffer
	dump.WriteString("# configuration file /etc/nginx/nginx.conf:\nevents {}\n")
	for dump.Len() < 3*dumpHeadSize {
		dump.WriteString("# a comment line to make the dump longer than its head\n")
	}
	path := filepath.Join(t.TempDir(), "dump.txt")
	if err := os.WriteFile(path, append([]byte("skipped"), dump.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(int64(len("skipped")), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDump(f)
	if err != nil || !bytes.Equal(got, dump.Bytes()) {
		t.Fatalf("ReadDump(file) = %d bytes, %v; want the %d after the offset", len(got), err, dump.Len())
	}
	if cap(got) != dump.Len()+1 {
		t.Errorf("ReadDump(file) buffer holds %d bytes for %d: not one buffer of the file's size", cap(got), dump.Len())
	}
	for _, size := range []int64{10, dumpHeadSize + 10, int64(dump.Len()) - 1} {
		got, err := ReadDump(statReader{bytes.NewReader(dump.Bytes()), size})
		if err != nil || !bytes.Equal(got, dump.Bytes()) {
			t.Errorf("a file that said %d bytes: got %d, %v; want all %d", size, len(got), err, dump.Len())
		}
	}
}
