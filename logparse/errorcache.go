package logparse

import (
	"strings"
	"time"
)

// restCache remembers how the last distinct NGINX error-log lines classified. A line's
// event depends only on the text after its header (the message, the " while " action
// and the fields): the time, the process and the connection number are all that differ
// between the lines of a failure that repeats — an agent that reconnects every few
// seconds gets the same line each time (src/core/ngx_log.c writes the header, the
// message is the same call with the same arguments). A hit costs a hash and one
// comparison instead of splitting the fields and classifying again.
type restCache struct {
	// slots are in pairs (two-way associative): two frequent texts whose hashes meet
	// do not evict each other on every line. newer says which of a pair was used last.
	slots        [restSlots]restEntry
	newer        [restSlots / 2]uint8
	hits, misses int
}

type restEntry struct {
	rest string // an owned copy of the text after the header
	ev   Event  // its event, whose strings alias rest; Time is unset
	ok   bool   // whether it classified
}

const (
	restSlots = 64
	// maxCachedRest bounds the text a slot copies; NGINX cuts its lines at 2048 bytes
	// (NGX_MAX_ERROR_STR in src/core/ngx_log.h), so this is most lines.
	maxCachedRest = 1024
	// A log whose messages do not repeat stops using the cache once its misses outrun
	// its hits by this much (plus twice the hits): a miss copies the text.
	restCacheGrace = 256
)

// classify is parseErrorBody then classifyError, from the cache when rest was seen.
// On a hit e keeps only its header fields.
func (c *restCache) classify(e *ErrorEntry, rest string, last int, ev *Event) bool {
	if len(rest) > maxCachedRest || c.misses > 2*c.hits+restCacheGrace {
		parseErrorBody(e, rest, last)
		return classifyError(e, ev)
	}
	pair := restHash(rest) % (restSlots / 2)
	for k := range 2 {
		if slot := &c.slots[2*pair+uint64(k)]; slot.rest == rest {
			c.hits++
			c.newer[pair] = uint8(k)
			if slot.ok {
				*ev = slot.ev
				ev.Time = e.Time
			}
			return slot.ok
		}
	}
	c.misses++
	k := 1 - c.newer[pair] // the one used less recently
	c.newer[pair] = k
	slot := &c.slots[2*pair+uint64(k)]
	own := strings.Clone(rest) // the line's memory is reused after the call
	parseErrorBody(e, own, last)
	ok := classifyError(e, ev)
	slot.rest, slot.ev, slot.ok = own, *ev, ok
	slot.ev.Time = time.Time{}
	return ok
}

// restHash mixes the length and 8 bytes from each end and the middle of s (s is never
// empty here, but any s works): lines of one failure differ from another's in the
// message, the client or the host's port, all near the ends.
func restHash(s string) uint64 {
	h := uint64(len(s)) * 0x9E3779B97F4A7C15
	if len(s) >= 8 {
		for _, i := range [...]int{0, len(s)/2 - 4, len(s) - 8} {
			h = (h ^ le64(s, i)) * 0xBF58476D1CE4E5B9
			h ^= h >> 31
		}
		return h
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0xBF58476D1CE4E5B9
	}
	return h ^ h>>31
}

// le64 reads s[i:i+8] as a little-endian number.
func le64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
