package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// loadedModel is the assistant at 120x40 after a full run against the lab, with 10,000
// log lines buffered (the recorded NGINX lines, numbered so no two are alike).
func loadedModel(b *testing.B, scenario string) Model {
	b.Helper()
	tl := startLab(b, scenario)
	m := New(tl.options())
	m, _ = m.update(tea.WindowSizeMsg{Width: 120, Height: 40})
	r := tl.engine.Run(context.Background(), nil, nil, nil)
	m.gen++
	m.run = &engineRun{gen: m.gen, cancel: func() {}, finished: map[string]bool{}}
	m, _ = m.update(engineDoneMsg{gen: m.gen, report: r})
	real := realLines(b)
	batch := make([]LogLine, 0, logCapacity)
	for i := 0; len(batch) < logCapacity; i++ {
		ln := real[i%len(real)]
		ln.Text = fmt.Sprintf("%s #%d", ln.Text, i)
		batch = append(batch, ln)
	}
	m.logs.add(batch)
	if m.logs.visible() != logCapacity {
		b.Fatalf("%d lines buffered", m.logs.visible())
	}
	return m
}

// BenchmarkView renders each screen at 120x40 with 10,000 log lines buffered.
// The target is 5 ms per frame.
func BenchmarkView(b *testing.B) {
	m := loadedModel(b, "agent-cert-expired")
	m.selected = "agent-cert-expired"
	m.fix.ensureWalk(&m)
	for _, sc := range []screen{screenOverview, screenFinding, screenFix, screenCerts, screenLogs, screenHelp} {
		m.screen = sc
		b.Run(screenName(sc), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := m.View(); v.Content == "" {
					b.Fatal("empty frame")
				}
			}
		})
	}
}

// BenchmarkLogFilter re-filters 10,000 buffered lines, as each typed filter key does.
func BenchmarkLogFilter(b *testing.B) {
	m := loadedModel(b, "healthy")
	b.ReportAllocs()
	for b.Loop() {
		m.logs.setFilter("certificate has exp")
	}
}

// BenchmarkFirstFrame is the time from starting the program to its first frame on the
// terminal, with the engine starting against the lab in the background.
func BenchmarkFirstFrame(b *testing.B) {
	tl := startLab(b, "agent-cert-expired")
	for b.Loop() {
		pr, pw := io.Pipe()
		opts := tl.options()
		opts.Output = pw
		p := tea.NewProgram(New(opts), append(programOptions(context.Background(), opts),
			tea.WithInput(nil), tea.WithWindowSize(120, 40), tea.WithoutSignals())...)
		done := make(chan struct{})
		go func() {
			p.Run()
			pw.Close()
			close(done)
		}()
		buf := make([]byte, 64<<10)
		var seen strings.Builder
		for !strings.Contains(seen.String(), "Overview") {
			n, err := pr.Read(buf)
			if err != nil {
				b.Fatal("no frame: ", err)
			}
			seen.Write(buf[:n])
		}
		b.StopTimer()
		go io.Copy(io.Discard, pr) // the renderer blocks on the pipe until it is read
		p.Quit()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Fatal("program did not quit")
		}
		b.StartTimer()
	}
}
