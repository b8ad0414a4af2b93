//go:build unix

package regularfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestOpenRefusesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]error{fifo: ErrNotRegular, dir: syscall.EISDIR, "/dev/zero": ErrNotRegular,
		filepath.Join(dir, "missing"): os.ErrNotExist}
	for path, want := range cases {
		done := make(chan error, 1)
		go func() {
			f, err := Open(path)
			if f != nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Errorf("Open(%s) = %v, want %v", path, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Open(%s) blocked", path)
		}
	}
	f, err := Open(regular)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b := make([]byte, 1); func() bool { n, _ := f.Read(b); return n != 1 || b[0] != 'x' }() {
		t.Error("the regular file did not read")
	}
}
