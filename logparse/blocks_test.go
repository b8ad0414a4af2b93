package logparse

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBlocksMatchSplit reads random content backwards and forwards in blocks and checks
// the lines against a plain split: same lines, same order, lines longer than the cap cut
// to their first maxScanLine bytes.
func TestBlocksMatchSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 6 {
		var content []byte
		for len(content) < 5<<20 {
			n := rng.IntN(300)
			switch rng.IntN(40) {
			case 0:
				n = maxScanLine + rng.IntN(3<<20) // over the cap
			case 1:
				n = blockSize - 1 + rng.IntN(3) // around a block
			case 2:
				n = 0
			}
			line := bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, n)
			content = append(append(content, line...), '\n')
		}
		if round%2 == 1 {
			content = content[:len(content)-1] // no final newline
		}
		want := bytes.Split(content, []byte("\n"))
		if len(want[len(want)-1]) == 0 {
			want = want[:len(want)-1]
		}
		wantCut := 0
		for i, l := range want {
			if len(l) > maxScanLine {
				want[i], wantCut = l[:maxScanLine], wantCut+1
			}
		}

		var back [][][]byte
		br := newBackward(bytes.NewReader(content), int64(len(content)))
		cuts := 0
		for {
			body, c, err := br.next(make([]byte, 0, blockBuf))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			cuts += c
			back = append(back, splitLines(body))
		}
		slices.Reverse(back)
		if got := slices.Concat(back...); !equalLines(got, want) || cuts != wantCut {
			t.Errorf("round %d backward: %d lines (%d cut), want %d (%d cut)", round, len(got), cuts, len(want), wantCut)
		}

		fw := newForward(bytes.NewReader(content))
		var fwd [][]byte
		cuts = 0
		for {
			body, c, err := fw.next(make([]byte, 0, blockBuf))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			cuts += c
			fwd = append(fwd, splitLines(body)...)
		}
		if !equalLines(fwd, want) || cuts != wantCut {
			t.Errorf("round %d forward: %d lines (%d cut), want %d (%d cut)", round, len(fwd), cuts, len(want), wantCut)
		}
	}
}

// splitLines splits a block into its lines (a block holds whole lines, the last one
// without its newline).
func splitLines(body []byte) [][]byte {
	if len(body) == 0 {
		return nil
	}
	var out [][]byte
	for _, l := range bytes.Split(body, []byte("\n")) {
		out = append(out, bytes.Clone(l))
	}
	return out
}

func equalLines(a, b [][]byte) bool {
	// Empty lines may sit at block edges: compare the non-empty ones.
	clean := func(x [][]byte) [][]byte {
		return slices.DeleteFunc(slices.Clone(x), func(l []byte) bool { return len(l) == 0 })
	}
	a, b = clean(a), clean(b)
	return slices.EqualFunc(a, b, bytes.Equal)
}
