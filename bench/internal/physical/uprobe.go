package physical

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// target is the probed function. noinline keeps every call a call; nosplit
// drops the stack-check prologue, so an entry uprobe at offset 0 fires
// exactly once per call (morestack never re-runs the entry).
//
//go:noinline
//go:nosplit
func target(x uint64) uint64 {
	return x*0x9e3779b97f4a7c15 + 1
}

// sink keeps the calls' results alive.
var sink uint64

// callTarget calls target n times and returns the time per call in ns.
func callTarget(n int) float64 {
	// One untimed call first: it takes the page fault after a probe was
	// removed, and the first hit of a new probe, out of the figure.
	acc := target(0)
	start := time.Now()
	for i := range n {
		acc += target(uint64(i))
	}
	d := time.Since(start)
	sink += acc
	return float64(d) / float64(n)
}

// UprobeHitCost measures what one uprobe hit costs a Go program: calls of a
// small Go function in this process with no probe, and with a uprobe at its
// entry running an empty BPF program, in alternating rounds of calls calls
// each. Cost is the difference per call.
//
// It works in stripped binaries (go test strips its own): the probe goes at
// the function's address in this process, not at a symbol.
//
// It blocks until done: 8 attach/detach pairs, each detach waiting 0.1–0.2 s
// for the kernel on these VMs, plus 8 × calls hits of 11–17 µs. It locks the
// calling goroutine to its thread meanwhile, and must not run concurrently
// with RingbufSubmitCost or itself. ctx is checked between rounds.
func UprobeHitCost(ctx context.Context, calls int) (Result, error) {
	if calls <= 0 {
		return Result{}, fmt.Errorf("uprobe hit cost: calls must be positive, got %d", calls)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("uprobe hit cost: %w", err)
	}
	res := Result{Name: "uprobe hit, empty program", Ops: calls}

	// Where target is in the file mapped into this process: go test links
	// its binaries with -s (no symbol table), so the symbol cannot be looked
	// up there; the running code's own address needs no symbols, PIE or not.
	pc := reflect.ValueOf(target).Pointer()
	sym := runtime.FuncForPC(pc).Name()
	exe, off, err := mappedFileOffset(pc)
	if err != nil {
		return res, fmt.Errorf("locate %s: %w", sym, err)
	}
	ex, err := link.OpenExecutable(exe)
	if err != nil {
		return res, fmt.Errorf("open own executable %s: %w", exe, err)
	}

	objs, err := loadUprobes()
	if err != nil {
		return res, err
	}
	defer objs.Close()

	attach := func(prog *ebpf.Program) (link.Link, error) {
		l, err := ex.Uprobe(sym, prog, &link.UprobeOptions{Address: off, PID: os.Getpid()})
		if err != nil {
			return nil, fmt.Errorf("uprobe %s in %s: %w", sym, exe, err)
		}
		return l, nil
	}

	// One thread throughout: the kernel's per-thread uprobe state is set up
	// once, and the Go scheduler does not move the loop mid-round.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// Check the probe fires once per call, in this process only, before
	// trusting a difference of timings to be its cost.
	l, err := attach(objs.Count)
	if err != nil {
		return res, err
	}
	callTarget(calls)
	if err := l.Close(); err != nil {
		return res, fmt.Errorf("detach counting uprobe: %w", err)
	}
	var hits uint64
	if err := objs.Hits.Get(&hits); err != nil {
		return res, fmt.Errorf("read uprobe hit count: %w", err)
	}
	if want := uint64(calls) + 1; hits != want {
		return res, fmt.Errorf("uprobe on %s fired %d times for %d calls", sym, hits, want)
	}

	rs := make([]round, 0, rounds)
	for range rounds {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("uprobe hit cost: %w", err)
		}
		base := callTarget(calls)
		l, err := attach(objs.Empty)
		if err != nil {
			return res, err
		}
		with := callTarget(calls)
		if err := l.Close(); err != nil {
			return res, fmt.Errorf("detach empty uprobe: %w", err)
		}
		rs = append(rs, round{baseline: base, with: with})
	}
	summarize(&res, rs)
	return res, nil
}

// uprobes are the physical object's uprobe programs and their hit counter.
type uprobes struct {
	Empty *ebpf.Program  `ebpf:"uprobe_empty"`
	Count *ebpf.Program  `ebpf:"uprobe_count"`
	Hits  *ebpf.Variable `ebpf:"hits"`
}

// loadUprobes loads only the uprobe programs: the ring buffer is not
// created.
func loadUprobes() (*uprobes, error) {
	spec, err := loadPhysical()
	if err != nil {
		return nil, fmt.Errorf("load physical BPF spec: %w", err)
	}
	var objs uprobes
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, fmt.Errorf("load uprobe programs: %w", err)
	}
	return &objs, nil
}

func (u *uprobes) Close() error { return errors.Join(u.Empty.Close(), u.Count.Close()) }

// mappedFileOffset returns the file mapped at pc in this process and pc's
// offset in it, the address a uprobe takes.
func mappedFileOffset(pc uintptr) (string, uint64, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "", 0, fmt.Errorf("read memory map: %w", err)
	}
	for line := range strings.Lines(string(maps)) {
		// start-end perms offset dev inode path
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		start, end, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return "", 0, fmt.Errorf("parse memory map line %q: %w", line, err)
		}
		if uint64(pc) < lo || uint64(pc) >= hi {
			continue
		}
		path := strings.Join(f[5:], " ")
		if !strings.HasPrefix(path, "/") || strings.HasSuffix(path, " (deleted)") {
			return "", 0, fmt.Errorf("pc %#x is in mapping %q, not in a file", pc, path)
		}
		return path, uint64(pc) - lo + off, nil
	}
	return "", 0, fmt.Errorf("pc %#x is in no mapping", pc)
}
