package probe

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts bpf_ktime_get_ns() timestamps (CLOCK_MONOTONIC) to wall
// time. It is the one place this conversion happens.
type Clock struct{ offset int64 }

// NewClock measures the monotonic-to-wall offset now. Wall-clock steps
// after this (NTP) are not followed: spans keep consistent durations.
func NewClock() Clock {
	var ts unix.Timespec
	before := time.Now()
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	after := time.Now()
	mid := before.UnixNano() + after.Sub(before).Nanoseconds()/2
	return Clock{offset: mid - ts.Nano()}
}

// Time converts a BPF monotonic timestamp.
func (c Clock) Time(ktimeNs uint64) time.Time {
	return time.Unix(0, int64(ktimeNs)+c.offset)
}
