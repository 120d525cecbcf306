package main

import (
	"context"
	"fmt"

	physicalpkg "github.com/glsotel/glsotel/bench/internal/physical"
)

// measurePhysical times one uprobe hit (empty program) and one ring buffer
// submit with and without BPF_RB_NO_WAKEUP, in this process.
func measurePhysical(ctx context.Context, opts options) (physical, error) {
	var p physical
	hit, err := physicalpkg.UprobeHitCost(ctx, opts.HitCalls)
	if err != nil {
		return p, fmt.Errorf("uprobe hit cost: %w", err)
	}
	p.UprobeHitNs = float64(hit.Cost.Nanoseconds())
	for _, wake := range []bool{true, false} {
		r, err := physicalpkg.RingbufSubmitCost(ctx, opts.Records, wake)
		if err != nil {
			return p, fmt.Errorf("ring buffer submit cost: %w", err)
		}
		if wake {
			p.SubmitWakeupNs, p.Wakeups, p.Ops = float64(r.Cost.Nanoseconds()), r.Wakeups, r.Ops
		} else {
			p.SubmitNoWakeupNs = float64(r.Cost.Nanoseconds())
		}
	}
	return p, nil
}
