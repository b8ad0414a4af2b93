package diagnostics

import (
	"fmt"
	"time"
)

// day is the unit of certificate lifetimes in every output.
const day = 24 * time.Hour

// HumanDuration says d in the largest whole unit, counted toward zero so it agrees with
// DaysLeft: 90 minutes is "1 hour", 47 hours "1 day", 24 hours "1 day". Negative
// durations are described by their size.
func HumanDuration(d time.Duration) string {
	d = d.Abs()
	switch {
	case d >= day:
		return Plural(int(d/day), "day")
	case d >= time.Hour:
		return Plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return Plural(int(d/time.Minute), "minute")
	}
	return "less than a minute"
}

// Plural formats a count with its noun, adding "s" unless the count is one.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
