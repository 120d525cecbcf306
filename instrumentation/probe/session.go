package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/glsotel/glsotel/offsets"
)

// EventsMap is the ring buffer every probe writes to, DropsMap counts per
// event kind what did not fit in it, and IdleMap tells the programs that
// the reader sleeps until woken (bpf/include/glsotel/common.h).
const (
	EventsMap = "events"
	DropsMap  = "event_drops"
	IdleMap   = "events_reader_idle"
)

// Session is a set of probes loaded for one target binary and attached to
// one process. Its methods are safe to call from one goroutine at a time,
// except Stop, which may be called concurrently with Run.
type Session struct {
	log      *slog.Logger
	shared   map[string]*ebpf.Map
	colls    []*ebpf.Collection
	links    []link.Link
	progs    map[string]*ebpf.Program // "probe/program" -> program
	handlers map[uint32]func(*Target, []byte)
	kinds    map[uint32]string // event kind -> probe
	target   *Target
	reader   *ringbuf.Reader
	active   []string
	counters []string // CountersMap's slots, by index
	mem      *os.File
}

// Options tune Load.
type Options struct {
	// Logger receives warnings about probes left out (default: discard).
	Logger *slog.Logger
	// SharedMaps are the map names every object shares one instance of
	// (beside the events ring buffer), e.g. the GLS maps.
	SharedMaps []string
	// Consts are set in every object that declares them (e.g. the
	// sampler), by name.
	Consts map[string]any
	// Maps are maps the caller made and owns (e.g. the sk_msg injector's),
	// given by name to every object that declares them. The session never
	// closes them.
	Maps map[string]*ebpf.Map
}

// Load loads every usable probe for bin and attaches it to process pid.
// A probe that cannot be used follows its FailureMode. The caller must
// Close the session.
func Load(bin *offsets.Binary, pid int, probes []*Probe, opts Options) (_ *Session, err error) {
	s := &Session{
		log:      opts.Logger,
		shared:   map[string]*ebpf.Map{},
		progs:    map[string]*ebpf.Program{},
		handlers: map[uint32]func(*Target, []byte){},
		kinds:    map[uint32]string{},
		target:   &Target{Bin: bin, Clock: NewClock()},
	}
	if mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid)); err == nil {
		s.mem, s.target.Mem = mem, mem
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if bias, err := loadBias(bin, pid); err != nil {
		s.log.Warn("load bias unknown, assuming 0: error, panic and driver types will be unknown", "err", err)
	} else {
		s.target.Bias = bias
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	ex, err := link.OpenExecutable(bin.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin.Path, err)
	}
	// One DWARF scan for every field of every probe: each scan reads all
	// of .debug_info. What is missing is reported per probe below.
	var all []offsets.Field
	for _, p := range probes {
		all = slices.Concat(all, p.Fields, p.Optional, p.ReadFields)
	}
	bin.Fields(all)
	for _, p := range probes {
		if err := s.load(bin, ex, pid, p, opts); err != nil {
			switch {
			case p.Failure == FailError || !errors.Is(err, errUnusable):
				return nil, fmt.Errorf("probe %s: %w", p.Name, err)
			case errors.Is(err, errAbsent):
				s.log.Debug("probe left out", "probe", p.Name, "reason", err)
			case p.Failure == FailWarn:
				s.log.Warn("probe left out", "probe", p.Name, "reason", err)
			}
			continue
		}
		s.active = append(s.active, p.Name)
	}
	events, ok := s.shared[EventsMap]
	if !ok {
		return nil, fmt.Errorf("%s: no probe could be attached", bin.Path)
	}
	if s.reader, err = ringbuf.NewReader(events); err != nil {
		return nil, fmt.Errorf("open events ring buffer: %w", err)
	}
	return s, nil
}

// loadBias reads where process pid has its executable, bin.
func loadBias(bin *offsets.Binary, pid int) (uint64, error) {
	if !bin.PIE() {
		return 0, nil
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	bias, err := bin.LoadBias(maps, exe)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return bias, nil
}

// errUnusable marks a probe that does not fit the target (as opposed to an
// agent or kernel failure, which is always an error).
var errUnusable = errors.New("probe does not fit the target")

// errAbsent marks a probe whose library the target does not use at all:
// left out quietly, whatever its FailureMode.
var errAbsent = fmt.Errorf("%w: library not linked", errUnusable)

// Fits says whether p can be attached to bin, without loading anything:
// nil, or an error naming what is missing (a library the target does not
// link at all reads "library not linked").
func Fits(bin *offsets.Binary, p *Probe) error {
	_, _, err := resolve(bin, p)
	return err
}

// resolve finds p's functions and field offsets in bin.
func resolve(bin *offsets.Binary, p *Probe) ([]offsets.Func, map[offsets.Field]uint64, error) {
	min := p.MinGo
	if min == (offsets.Version{}) {
		min = offsets.MinGo
	}
	if bin.GoVersion.Less(min) {
		return nil, nil, fmt.Errorf("%w: needs %s or newer, %s is %s", errUnusable, min, bin.Path, bin.GoVersion)
	}
	// Resolve every hooked function before loading anything.
	funcs := make([]offsets.Func, len(p.Hooks))
	found := 0
	var missing error
	for i, h := range p.Hooks {
		fn, err := bin.Func(h.Symbol)
		switch {
		case errors.Is(err, offsets.ErrNoSymbol) && h.Optional:
			continue
		case errors.Is(err, offsets.ErrNoSymbol):
			missing = err
			continue
		case err != nil:
			return nil, nil, err
		}
		funcs[i] = fn
		found++
	}
	if found == 0 {
		return nil, nil, fmt.Errorf("%w: none of its %d functions is in the binary", errAbsent, len(p.Hooks))
	}
	if missing != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUnusable, missing)
	}
	offs, err := fieldOffsets(bin, p)
	if err != nil {
		return nil, nil, err
	}
	return funcs, offs, nil
}

func (s *Session) load(bin *offsets.Binary, ex *link.Executable, pid int, p *Probe, opts Options) error {
	funcs, offs, err := resolve(bin, p)
	if err != nil {
		return err
	}
	spec, err := p.Spec()
	if err != nil {
		return fmt.Errorf("load spec: %w", err)
	}
	if err := injectOffsets(spec, p, offs); err != nil {
		return err
	}
	if p.Consts != nil {
		if err := setConsts(spec, p.Consts(bin)); err != nil {
			return err
		}
	}
	if err := setConsts(spec, opts.Consts); err != nil {
		return err
	}
	repl := map[string]*ebpf.Map{}
	for name, m := range opts.Maps {
		if _, ok := spec.Maps[name]; ok {
			repl[name] = m
		}
	}
	names, err := CounterNames(spec)
	if err != nil {
		return err
	}
	if s.counters == nil {
		s.counters = names
	} else if names != nil && !slices.Equal(names, s.counters) {
		return fmt.Errorf("enum %s differs between BPF objects: %v and %v (make generate)", counterEnum, names, s.counters)
	}
	for _, name := range slices.Concat([]string{EventsMap, DropsMap, IdleMap, CountersMap}, opts.SharedMaps, p.Shared) {
		ms, ok := spec.Maps[name]
		if !ok {
			continue
		}
		if _, ok := s.shared[name]; !ok {
			m, err := ebpf.NewMap(ms)
			if err != nil {
				return fmt.Errorf("create map %s: %w", name, err)
			}
			s.shared[name] = m
		}
		repl[name] = s.shared[name]
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil {
		return fmt.Errorf("load BPF objects: %w", err)
	}
	s.colls = append(s.colls, coll)

	for i, h := range p.Hooks {
		fn := funcs[i]
		if fn.Name == "" {
			continue // an optional hook the target lacks
		}
		attach := func(prog string, off uint64) error {
			pr, ok := coll.Programs[prog]
			if !ok {
				return fmt.Errorf("program %s not in BPF object", prog)
			}
			l, err := ex.Uprobe(h.Symbol, pr, &link.UprobeOptions{Address: fn.FileOffset, Offset: off, PID: pid})
			if err != nil {
				return fmt.Errorf("attach %s to %s+%#x: %w", prog, h.Symbol, off, err)
			}
			s.links = append(s.links, l)
			s.progs[p.Name+"/"+prog] = pr
			return nil
		}
		if h.Entry != "" {
			if err := attach(h.Entry, fn.AfterPrologue); err != nil {
				return err
			}
		}
		if h.Return != "" {
			for _, ret := range fn.Returns {
				if err := attach(h.Return, ret); err != nil {
					return err
				}
			}
		}
	}
	for _, k := range p.Kinds {
		s.handlers[k] = p.Handle
		s.kinds[k] = p.Name
	}
	return nil
}

// fieldOffsets resolves a probe's fields; a missing required one makes the
// probe unusable on this target, a missing optional one is 0.
func fieldOffsets(bin *offsets.Binary, p *Probe) (map[offsets.Field]uint64, error) {
	all := append(slices.Clone(p.Fields), p.Optional...)
	offs, err := bin.Fields(all)
	if err == nil || !errors.Is(err, offsets.ErrNoField) {
		return offs, err
	}
	// Something is missing: required fields name it, optional ones are 0.
	if offs, err = bin.Fields(p.Fields); err != nil {
		if errors.Is(err, offsets.ErrNoField) {
			return nil, fmt.Errorf("%w: %w", errUnusable, err)
		}
		return nil, err
	}
	for _, f := range p.Optional {
		got, err := bin.Fields([]offsets.Field{f})
		if err != nil && !errors.Is(err, offsets.ErrNoField) {
			return nil, err
		}
		offs[f] = got[f]
	}
	return offs, nil
}

// setConsts sets the named consts the spec declares (others are skipped:
// not every object needs every const).
func setConsts(spec *ebpf.CollectionSpec, consts map[string]any) error {
	for name, val := range consts {
		v, ok := spec.Variables[name]
		if !ok {
			continue
		}
		if err := v.Set(val); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// injectOffsets sets every off_* const of spec; one the probe did not
// declare is a programming error, reported by name.
func injectOffsets(spec *ebpf.CollectionSpec, p *Probe, offs map[offsets.Field]uint64) error {
	declared := map[string]offsets.Field{}
	for _, f := range append(p.Fields, p.Optional...) {
		declared[ConstName(f)] = f
	}
	for name, v := range spec.Variables {
		if !strings.HasPrefix(name, "off_") {
			continue
		}
		f, ok := declared[name]
		if !ok {
			return fmt.Errorf("BPF const %s is not declared in the probe's Fields", name)
		}
		if err := v.Set(offs[f]); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	return nil
}

// Active lists the probes attached.
func (s *Session) Active() []string { return s.active }

// pollInterval is how often Run looks at the ring buffer while events
// flow: programs submit without waking it (common.h, events_flags), unless
// it fills up. Each look is an epoll_wait timeout, which costs ~100 µs of
// CPU on our VMs; spans wait longer than this in the batch processor.
const pollInterval = 250 * time.Millisecond

// idleTimeout bounds Run's sleep once a look found nothing: the next event
// wakes it (events_reader_idle), so this only limits how late an event can
// be whose program read the flag just before Run set it.
const idleTimeout = 10 * time.Second

// Run dispatches events to the probes' handlers until Stop is called and
// every event submitted before it has been handled. It blocks.
func (s *Session) Run() error {
	var rec ringbuf.Record
	s.reader.SetDeadline(time.Now().Add(pollInterval))
	read, asleep := 0, false // events since the last look; sleeping until woken
	for n := 0; ; n++ {
		// A full ring can keep this loop from ever blocking: let the
		// goroutines it feeds (the exporter's queue) run on a one-CPU agent.
		if n%512 == 511 {
			runtime.Gosched()
		}
		if err := s.reader.ReadInto(&rec); err != nil {
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				asleep = read == 0 && s.sleep()
				read = 0
				wait := pollInterval
				if asleep {
					wait = idleTimeout
				}
				s.reader.SetDeadline(time.Now().Add(wait))
				continue
			case errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed):
				return nil
			}
			return fmt.Errorf("read events: %w", err)
		}
		if read++; asleep {
			asleep = false
			s.reader.SetDeadline(time.Now().Add(pollInterval))
		}
		if len(rec.RawSample) < 4 {
			continue
		}
		if h := s.handlers[binary.LittleEndian.Uint32(rec.RawSample)]; h != nil {
			h(s.target, rec.RawSample)
		}
	}
}

// sleep asks the programs to wake the reader with their next event. It
// reports whether the reader may sleep: false when events are already
// waiting (they came before the request, without a wakeup) or the request
// failed.
func (s *Session) sleep() bool {
	if err := s.shared[IdleMap].Update(uint32(0), uint32(1), ebpf.UpdateAny); err != nil {
		return false
	}
	return s.reader.AvailableBytes() == 0
}

// Stop makes Run return once the events already submitted are handled.
func (s *Session) Stop() error { return s.reader.Flush() }

// RunCounts returns how often each attached program ran ("probe/program")
// and the time it ran for in all, which needs BPF statistics enabled
// (EnableStats).
func (s *Session) RunCounts() (map[string]uint64, map[string]time.Duration, error) {
	runs, times := map[string]uint64{}, map[string]time.Duration{}
	for name, p := range s.progs {
		st, err := p.Stats()
		if err != nil {
			return nil, nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		runs[name], times[name] = st.RunCount, st.Runtime
	}
	return runs, times, nil
}

// Drops returns how many events each probe lost so far because the ring
// buffer was full (the agent fell behind), by probe name; probes that lost
// none are left out. Safe to call concurrently with Run.
func (s *Session) Drops() (map[string]uint64, error) {
	m, ok := s.shared[DropsMap]
	if !ok {
		return nil, nil
	}
	out := map[string]uint64{}
	for k, name := range s.kinds {
		var perCPU []uint64
		if err := m.Lookup(k, &perCPU); err != nil {
			return nil, fmt.Errorf("read %s[%d]: %w", DropsMap, k, err)
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		if n > 0 {
			out[name] += n
		}
	}
	return out, nil
}

// Close detaches every probe and frees the BPF objects.
func (s *Session) Close() error {
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	for _, c := range s.colls {
		c.Close()
	}
	for _, m := range s.shared {
		errs = append(errs, m.Close())
	}
	if s.mem != nil {
		errs = append(errs, s.mem.Close())
	}
	s.links, s.colls, s.shared, s.reader, s.mem = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}
