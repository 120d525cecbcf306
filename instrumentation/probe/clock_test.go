package probe

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestClock(t *testing.T) {
	c := NewClock()
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	if d := time.Since(c.Time(uint64(ts.Nano()))); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("converted monotonic now is %v off wall now", d)
	}
}
