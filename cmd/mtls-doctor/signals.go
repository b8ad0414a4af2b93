package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
)

// exitSignals end the program. The first one cancels the run's context, so every command
// cleans up on its way out (the assistant restores the terminal, the demo removes its
// temporary PKI), and main exits with 128+N, as a shell reports a process ended by
// signal N.
var exitSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// forceExitAfter is how long that clean-up may take before main exits anyway; a second
// signal exits at once.
const forceExitAfter = 5 * time.Second

// signalExit owns the process's signal handling: nothing else installs a handler.
type signalExit struct {
	ch       chan os.Signal
	pipe     chan os.Signal
	received atomic.Int32 // number of the first exit signal, 0 while none arrived
	done     chan struct{}
}

// handleSignals starts watching the exit signals: the first cancels ctx; a second one,
// or a clean-up longer than forceExitAfter, calls force with 128+N. SIGPIPE is taken
// too, so that a write to a closed stdout (`mtls-doctor demo | head`) fails with EPIPE
// and the command returns through its clean-up, instead of the Go runtime ending the
// process on the spot (os/signal, "SIGPIPE"); the same signal comes from closed network
// connections, where the write error is all that matters.
func handleSignals(cancel context.CancelFunc, force func(code int)) *signalExit {
	s := &signalExit{ch: make(chan os.Signal, 2), pipe: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(s.ch, exitSignals...)
	signal.Notify(s.pipe, syscall.SIGPIPE)
	go func() {
		for {
			select {
			case <-s.pipe:
			case <-s.done:
				return
			}
		}
	}()
	go func() {
		var first syscall.Signal
		var deadline <-chan time.Time
		for {
			select {
			case sig := <-s.ch:
				n, _ := sig.(syscall.Signal)
				if first != 0 {
					force(128 + int(first))
					return
				}
				first = n
				s.received.Store(int32(n))
				cancel()
				deadline = time.After(forceExitAfter)
			case <-deadline:
				force(128 + int(first))
				return
			case <-s.done:
				return
			}
		}
	}()
	return s
}

// exitCode is code, or 128+N once exit signal N arrived.
func (s *signalExit) exitCode(code int) int {
	if n := s.received.Load(); n != 0 {
		return 128 + int(n)
	}
	return code
}

// stop ends the watch; signals get their default actions again.
func (s *signalExit) stop() {
	signal.Stop(s.ch)
	signal.Stop(s.pipe)
	close(s.done)
}

// terminalRestorer puts the terminal back the way it was at start, for an exit that
// cannot wait for the assistant to restore it: cooked mode, the normal screen, a visible
// cursor.
func terminalRestorer(in, out *os.File) func() {
	var state *term.State
	if term.IsTerminal(in.Fd()) {
		state, _ = term.GetState(in.Fd())
	}
	return func() {
		if state != nil {
			_ = term.Restore(in.Fd(), state)
		}
		if term.IsTerminal(out.Fd()) {
			_, _ = io.WriteString(out, ansi.ResetModeAltScreenSaveCursor+ansi.ShowCursor)
		}
	}
}
