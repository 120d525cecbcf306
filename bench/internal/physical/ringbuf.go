package physical

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/cilium/ebpf/ringbuf"
)

const (
	// ringSize is the ring buffer measured: 16 MiB, room for batches large
	// enough that one test run dwarfs the syscall around it.
	ringSize = 1 << 24
	// recordBytes is sizeof(struct record) in physical.bpf.c; each record
	// also takes an 8-byte header in the ring.
	recordBytes = 64
	// batchMax is the most submits per test run: half the ring, since a
	// test run interrupted by a signal is rerun whole after a partial run,
	// and both must fit before the reader drains them.
	batchMax = ringSize / (recordBytes + 8) / 2
)

// RingbufSubmitCost measures what emitting one small event (a 64-byte
// bpf_ringbuf_reserve + bpf_ringbuf_submit) costs a BPF program, with
// wakeup (flags 0: the kernel wakes a reader that has drained the ring) or
// without (BPF_RB_NO_WAKEUP). A ringbuf.Reader drains the ring concurrently,
// waiting in epoll when it is empty, as an agent's reader does.
//
// The submits run in the kernel through BPF_PROG_TEST_RUN, which times them
// itself; the same dispatch of an empty program is measured alternately and
// subtracted. records is the number of submits per round, run in batches
// the ring always has room for.
//
// With wakeup the figure is not a constant: the kernel wakes the reader only
// for a submit that finds it caught up, and each wakeup costs the producer
// microseconds on a VM, so Cost follows Result.Wakeups, which varies from
// round to round with how the reader keeps pace. A reader reading while
// submits go on also costs them some cache traffic.
//
// It blocks until done and must not run concurrently with UprobeHitCost or
// itself. ctx is checked between batches.
func RingbufSubmitCost(ctx context.Context, records int, wakeup bool) (Result, error) {
	if records <= 0 {
		return Result{}, fmt.Errorf("ring buffer submit cost: records must be positive, got %d", records)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("ring buffer submit cost: %w", err)
	}
	res := Result{Name: "ring buffer submit, BPF_RB_NO_WAKEUP", Ops: records}
	if wakeup {
		res.Name = "ring buffer submit, wakeup"
	}

	spec, err := loadSpec(ringSize)
	if err != nil {
		return res, err
	}
	var objs physicalObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return res, fmt.Errorf("load ring buffer programs: %w", err)
	}
	defer objs.Close()
	submit := objs.SubmitNoWakeup
	if wakeup {
		submit = objs.SubmitWakeup
	}

	rd, err := ringbuf.NewReader(objs.Events)
	if err != nil {
		return res, fmt.Errorf("open ring buffer reader: %w", err)
	}
	d := &drainer{rd: rd, flushed: make(chan struct{}, 1), done: make(chan error, 1)}
	go d.loop()
	defer d.stop()

	// skb test runs need at least an Ethernet header of input.
	in := make([]byte, 64)
	rs := make([]round, 0, rounds)
	for range rounds {
		// Submits that found the ring empty: with flags 0, the wakeups.
		var wakes0 uint64
		if err := objs.EmptyAtReserve.Get(&wakes0); err != nil {
			return res, fmt.Errorf("read wakeup count: %w", err)
		}
		var base, with float64 // ns in the round
		for left := records; left > 0; {
			if err := ctx.Err(); err != nil {
				return res, fmt.Errorf("ring buffer submit cost: %w", err)
			}
			n := min(left, batchMax)
			left -= n
			_, per, err := objs.TestRunEmpty.Benchmark(in, n, nil)
			if err != nil {
				return res, fmt.Errorf("test run empty program: %w", err)
			}
			base += float64(per) * float64(n)
			_, per, err = submit.Benchmark(in, n, nil)
			if err != nil {
				return res, fmt.Errorf("test run %s: %w", res.Name, err)
			}
			with += float64(per) * float64(n)
			if err := d.drain(ctx); err != nil {
				return res, err
			}
		}
		var wakes uint64
		if err := objs.EmptyAtReserve.Get(&wakes); err != nil {
			return res, fmt.Errorf("read wakeup count: %w", err)
		}
		r := round{baseline: base / float64(records), with: with / float64(records)}
		if wakeup {
			r.wakeups = float64(wakes - wakes0)
		}
		rs = append(rs, r)
	}
	summarize(&res, rs)

	if err := objs.FailedReserves.Get(&res.FailedReserves); err != nil {
		return res, fmt.Errorf("read failed reserve count: %w", err)
	}
	// A run interrupted by a signal is rerun, so there may be more.
	if want := uint64(rounds*records) - res.FailedReserves; d.read.Load() < want {
		return res, fmt.Errorf("ring buffer reader got %d records, want at least %d", d.read.Load(), want)
	}
	return res, nil
}

// drainer reads the ring buffer in its own goroutine, as an agent does.
type drainer struct {
	rd      *ringbuf.Reader
	read    atomic.Uint64 // records read
	flushed chan struct{} // one token per completed Flush
	done    chan error    // the loop's end
}

func (d *drainer) loop() {
	var rec ringbuf.Record
	for {
		err := d.rd.ReadInto(&rec)
		switch {
		case err == nil:
			d.read.Add(1)
		case errors.Is(err, ringbuf.ErrFlushed):
			d.flushed <- struct{}{}
		case errors.Is(err, os.ErrClosed):
			d.done <- nil
			return
		default:
			d.done <- fmt.Errorf("read ring buffer: %w", err)
			return
		}
	}
}

// drain returns once the reader has read every record submitted so far.
// Flush is what makes it read BPF_RB_NO_WAKEUP records: nothing else
// wakes it for them.
func (d *drainer) drain(ctx context.Context) error {
	if err := d.rd.Flush(); err != nil {
		return fmt.Errorf("flush ring buffer reader: %w", err)
	}
	select {
	case <-d.flushed:
		return nil
	case err := <-d.done:
		d.done <- err // for stop
		return fmt.Errorf("ring buffer reader ended: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("drain ring buffer: %w", ctx.Err())
	}
}

// stop closes the reader and waits for the loop to end.
func (d *drainer) stop() {
	d.rd.Close()
	for {
		select {
		case <-d.flushed:
		case <-d.done:
			return
		}
	}
}
