package physical

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
)

// Small counts: these check the measurements work and are sane. Steadier
// figures want more operations per round, e.g. 2000 calls and 500 000
// records.

func TestUprobeHitCost(t *testing.T) {
	res, err := UprobeHitCost(t.Context(), 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Cost <= 0 || res.Cost >= time.Millisecond {
		t.Errorf("hit cost %v, want in (0, 1ms)", res.Cost)
	}
	if res.Rounds != rounds || res.Ops != 200 {
		t.Errorf("rounds %d, ops %d, want %d, 200", res.Rounds, res.Ops, rounds)
	}
}

func TestRingbufSubmitCost(t *testing.T) {
	if err := features.HaveMapType(ebpf.RingBuf); errors.Is(err, ebpf.ErrNotSupported) {
		t.Skip("kernel lacks BPF ring buffers")
	}
	for _, wakeup := range []bool{false, true} {
		res, err := RingbufSubmitCost(t.Context(), 20_000, wakeup)
		if err != nil {
			t.Fatalf("wakeup %v: %v", wakeup, err)
		}
		t.Log(res)
		if res.Cost <= 0 || res.Cost >= 100*time.Microsecond {
			t.Errorf("wakeup %v: submit cost %v, want in (0, 100µs)", wakeup, res.Cost)
		}
		if res.FailedReserves != 0 {
			t.Errorf("wakeup %v: %d failed reserves, want 0", wakeup, res.FailedReserves)
		}
	}
}

func TestRingbufSubmitCostBatches(t *testing.T) {
	// More records than one batch: the ring must be drained between test
	// runs, or reserves fail.
	res, err := RingbufSubmitCost(context.Background(), batchMax+1000, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.FailedReserves != 0 {
		t.Errorf("%d failed reserves, want 0", res.FailedReserves)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := UprobeHitCost(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("UprobeHitCost: %v, want context.Canceled", err)
	}
	if _, err := RingbufSubmitCost(ctx, 10, true); !errors.Is(err, context.Canceled) {
		t.Errorf("RingbufSubmitCost: %v, want context.Canceled", err)
	}
}
