//go:build unix

package nginxconf

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadEndless: a main file (or include) that never ends — --nginx-config /dev/zero —
// is read only up to the parse budget. os.ReadFile read /dev/zero until the OOM killer
// ended mtls-doctor; a FIFO fed with up to 64 MiB stands in for it, and the writer counts
// what the reader took.
func TestLoadEndless(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "nginx.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFO:", err)
	}
	written := make(chan int, 1)
	go func() {
		n := 0
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			chunk := make([]byte, 1<<20)
			for n < 64<<20 {
				k, err := w.Write(chunk)
				n += k
				if err != nil {
					break
				}
			}
			w.Close()
		}
		written <- n
	}()
	cfg, err := Load(fifo, Options{})
	if err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("Load(endless) = %v, %v; want an error naming the 16 MiB limit", cfg, err)
	}
	select {
	case n := <-written:
		if n >= 32<<20 {
			t.Errorf("Load read %d MiB of an endless file; want it to stop after 16", n>>20)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the writer did not finish")
	}
}
