package probe

import (
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// EnableStats turns on the kernel's BPF run counters (needed by
// Session.RunCounts) until the returned Closer is closed. It adds a little
// cost to every program run, so only tests and benchmarks use it.
func EnableStats() (io.Closer, error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, fmt.Errorf("enable BPF run statistics: %w", err)
	}
	return c, nil
}
