package logparse

import (
	"context"
	"sync"
	"time"
)

// FollowedLine is a line appended to one of several followed files, with the parser for
// that file's type and formats.
type FollowedLine struct {
	Line
	Parser *Parser
}

// FollowFiles follows every file from now on (across rotation, with Follow) and merges
// their lines into one channel, closed once ctx is done and every follower has stopped.
// loc is the zone of NGINX's zone-less times (nil: local). The parsers are not safe for
// concurrent use: one goroutine should read the channel.
func FollowFiles(ctx context.Context, files []File, loc *time.Location) <-chan FollowedLine {
	merged := make(chan FollowedLine)
	var wg sync.WaitGroup
	for _, f := range files {
		p := &Parser{Type: f.Type, Formats: f.Formats, Location: loc}
		ch := Follow(ctx, f.Path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range ch {
				select {
				case merged <- FollowedLine{l, p}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(merged) }()
	return merged
}
