// Package physical measures, in the running process, the costs an eBPF Go
// agent cannot go below whatever its design: one uprobe hit running an empty
// program, and one ring buffer submit of a small event. They are the floor
// the agent's own overhead is judged against.
//
// The measuring functions need root (CAP_BPF and CAP_PERFMON), block until
// done, and must not run concurrently with each other: each times the CPU it
// runs on, and two at once would measure each other.
package physical

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cilium/ebpf"
)

// rounds is how many times each figure is measured. Both sides of a
// difference are measured in every round (A/B/A/B), and the median of the
// rounds is reported, because these VMs are noisy.
const rounds = 7

// Result is one measurement: the time per operation without and with the
// mechanism measured, and the difference, which is its cost.
type Result struct {
	// Name says what was measured.
	Name string
	// Baseline is the median time per operation without the mechanism: a
	// call of an unprobed function, or a test run of an empty program.
	Baseline time.Duration
	// With is the median time per operation with it.
	With time.Duration
	// Cost is the median over rounds of With minus Baseline, each round's
	// pair measured back to back.
	Cost time.Duration
	// Ops is the number of operations per round in each mode.
	Ops int
	// Rounds is the number of rounds.
	Rounds int
	// Wakeups is, for ring buffer submits with wakeup, the median number
	// per round of submits that woke the reader; 0 otherwise.
	Wakeups int
	// FailedReserves counts ring buffer reserves that found no room; a
	// valid ring buffer measurement has none.
	FailedReserves uint64
}

func (r Result) String() string {
	s := fmt.Sprintf("%s: %v per op (%v with, %v baseline; median of %d rounds of %d ops)",
		r.Name, r.Cost, r.With, r.Baseline, r.Rounds, r.Ops)
	if r.Wakeups > 0 {
		s += fmt.Sprintf(", %d wakeups per round", r.Wakeups)
	}
	if r.FailedReserves > 0 {
		s += fmt.Sprintf(", %d failed reserves", r.FailedReserves)
	}
	return s
}

// round is one A/B pair: ns per operation, unrounded, since a call costs
// about a nanosecond; and the wakeups counted in the round.
type round struct{ baseline, with, wakeups float64 }

// summarize fills the figures of r from the rounds.
func summarize(r *Result, rs []round) {
	median := func(f func(round) float64) float64 {
		v := make([]float64, len(rs))
		for i, x := range rs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return math.Round(v[len(v)/2])
	}
	r.Rounds = len(rs)
	r.Baseline = time.Duration(median(func(x round) float64 { return x.baseline }))
	r.With = time.Duration(median(func(x round) float64 { return x.with }))
	r.Cost = time.Duration(median(func(x round) float64 { return x.with - x.baseline }))
	r.Wakeups = int(median(func(x round) float64 { return x.wakeups }))
}

// loadSpec is the generated spec with the ring buffer sized to ringSize
// bytes (a power of two).
func loadSpec(ringSize uint32) (*ebpf.CollectionSpec, error) {
	spec, err := loadPhysical()
	if err != nil {
		return nil, fmt.Errorf("load physical BPF spec: %w", err)
	}
	spec.Maps[physicalMapEvents].MaxEntries = ringSize
	return spec, nil
}
