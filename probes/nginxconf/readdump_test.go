package nginxconf

import (
	"bytes"
	"io"
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
