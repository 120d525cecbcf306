// Package agent runs the agent's lifecycle: open the target, load and
// attach the probes, read events, detach and flush.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/process"
	"github.com/glsotel/glsotel/propagation"
)

// Config is what an agent runs with.
type Config struct {
	// Markers receives GLS marker observations (nil: not hooked).
	Markers func(glsmarker.Observation)
	// Export configures span export (nil: no span probes are loaded).
	Export *exporter.Config
	// Probes tunes what the probes record.
	Probes instrumentation.Settings
	// Inject is GLSOTEL_INJECT as parsed by propagation.ParseInjection
	// ("" is auto): how outgoing requests get traceparent.
	Inject string
	// Console receives the console exporter's trace trees (default: the
	// agent's stderr, so they never mix with the program's stdout).
	Console io.Writer
	Logger  *slog.Logger
	// RunCounts asks for per-program BPF run counts in the Result (enables
	// kernel BPF statistics while the agent runs).
	RunCounts bool
	// MetricsAddr, when set, serves the agent's self-metrics (Prometheus
	// text format) at http://MetricsAddr/metrics.
	MetricsAddr string
	// Stdin, Stdout, Stderr of a started program (default: the agent's).
	Stdin          *os.File
	Stdout, Stderr *os.File

	// figures, under Watch, collects each session's self-metrics for
	// one endpoint in place of one per session.
	figures *figureSet
}

// Result describes a finished target.
type Result struct {
	ExitCode  int
	Probes    []string                 // probes that were attached
	RunCounts map[string]uint64        // "probe/program" -> runs, when asked for
	RunTimes  map[string]time.Duration // "probe/program" -> time run, in all
	// Injection is the traceparent injection path that was active, and
	// InjectOutcomes what became of the requests armed on the sk_msg path
	// (with RunCounts).
	Injection      propagation.Injection
	InjectOutcomes map[string]uint64
	// Counters are the programs' own counts (probe.Session.Counters).
	Counters map[string]uint64
	// SpansExported and Loss: what became of the spans.
	SpansExported uint64
	Loss          exporter.Loss
}

// UsageError is bad input from the user (no such program, not a Go binary,
// Go too old): the CLI prints it as one line and exits 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// OpenTarget opens and checks the executable at path.
func OpenTarget(path string) (*offsets.Binary, error) {
	bin, err := offsets.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &UsageError{fmt.Errorf("%s: no such file", path)}
		}
		return nil, &UsageError{err}
	}
	if bin.GoVersion.Less(offsets.MinGo) {
		bin.Close()
		return nil, &UsageError{fmt.Errorf("%s was built with %s; glsotel needs %s or newer", path, bin.GoVersion, offsets.MinGo)}
	}
	return bin, nil
}

// openChecked opens the target and checks this host can instrument it.
func openChecked(path string) (*offsets.Binary, error) {
	bin, err := OpenTarget(path)
	if err != nil {
		return nil, err
	}
	if err := process.Preflight(); err != nil {
		bin.Close()
		return nil, &UsageError{err} // the host cannot change: ends Watch too
	}
	return bin, nil
}

// Run starts program with args, attaches every probe before its main.main
// runs, forwards signals to it, and returns when it has exited and every
// event has been handled.
func Run(cfg Config, program string, args []string) (Result, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return Result{}, &UsageError{fmt.Errorf("%s: no such program", program)}
	}
	bin, err := openChecked(path)
	if err != nil {
		return Result{}, err
	}
	defer bin.Close()

	cmd := exec.Command(path, args...)
	cmd.Args[0] = program
	cmd.Stdin, cmd.Stdout, cmd.Stderr = or(cfg.Stdin, os.Stdin), or(cfg.Stdout, os.Stdout), or(cfg.Stderr, os.Stderr)
	child, err := process.StartStopped(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("start %s: %w", program, err)
	}
	sess, stop, err := start(cfg, bin, child.Pid())
	if err != nil {
		cmd.Process.Kill()
		child.Resume()
		cmd.Wait()
		return Result{}, err
	}
	defer sess.Close()

	stopForwarding := forwardSignals(cmd.Process)
	defer stopForwarding()

	if err := child.Resume(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return Result{}, err
	}
	werr := cmd.Wait()
	res := Result{Probes: sess.Active()}
	if cmd.ProcessState != nil {
		res.ExitCode = process.ExitCode(cmd.ProcessState)
	} else if werr != nil {
		return res, fmt.Errorf("wait for %s: %w", program, werr)
	}
	err = stop(&res)
	return res, err
}

// start loads and attaches the probes to pid and starts reading events. stop
// (call it once) waits for pending events and fills in res's run counts and
// injection figures.
func start(cfg Config, bin *offsets.Binary, pid int) (*probe.Session, func(*Result) error, error) {
	// undo holds what start has set up so far, to take down in reverse
	// order when a later step fails.
	var undo []func() error
	fail := func(err error) (*probe.Session, func(*Result) error, error) {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		return nil, nil, err
	}
	out := instrumentation.Outputs{Markers: cfg.Markers}
	var consts map[string]any
	var exp *exporter.Exporter
	if cfg.Export != nil {
		sampler, err := propagation.ParseSampler(cfg.Export.Sampler, cfg.Export.SamplerArg)
		if err != nil {
			return nil, nil, &UsageError{err}
		}
		consts = sampler.Consts()
		maps.Copy(consts, propagation.PropagatorConsts(cfg.Export.Propagators))
		exp, err = exporter.New(context.Background(), *cfg.Export,
			exporter.Target{Pid: pid, Executable: bin.Path, GoVersion: bin.GoVersion.String()}, console(cfg.Console), exporter.WithLogger(logger(cfg)))
		if err != nil {
			return nil, nil, fmt.Errorf("exporter: %w", err)
		}
		out.Spans = exp.Export
	}
	shutdown := func() error {
		if exp == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Export.BatchExportTimeout)
		defer cancel()
		return exp.Shutdown(ctx)
	}
	undo = append(undo, shutdown)
	set := cfg.Probes
	var inj *propagation.SockMsgInjector
	if exp != nil {
		var err error
		if set.Inject, inj, err = startInjection(cfg, pid); err != nil {
			return fail(err)
		}
	}
	closeInjector := func() error {
		if inj == nil {
			return nil
		}
		return inj.Close()
	}
	undo = append(undo, closeInjector)
	var statsOff func() error
	if cfg.RunCounts {
		c, err := probe.EnableStats()
		if err != nil {
			return fail(err)
		}
		statsOff = c.Close
		undo = append(undo, statsOff)
	}
	opts := probe.Options{Logger: cfg.Logger, SharedMaps: propagation.SharedMaps, Consts: consts}
	if inj != nil {
		opts.Maps = map[string]*ebpf.Map{propagation.ArmedMap: inj.Armed()}
	}
	// Loading is the agent's memory peak: the target's symbols and DWARF,
	// and the garbage of scanning them. Collect more often meanwhile, and
	// give it all back before the steady state.
	gc := debug.SetGCPercent(loadGCPercent)
	sess, err := probe.Load(bin, pid, instrumentation.Probes(out, set), opts)
	bin.FreeDWARF()
	debug.SetGCPercent(gc)
	debug.FreeOSMemory()
	if err != nil {
		return fail(fmt.Errorf("%s (%s): %w", bin.Path, bin.GoVersion, err))
	}
	undo = append(undo, sess.Close)
	figures := func() Figures {
		var f Figures
		f.EventsLost, _ = sess.Drops()
		f.Counters, _ = sess.Counters()
		if exp != nil {
			f.SpansExported, f.Loss = exp.Exported(), exp.Loss()
		}
		f.Injection = set.Inject.String()
		if inj != nil {
			f.InjectOutcomes = inj.Outcomes()
		}
		return f
	}
	if exp != nil {
		exp.CountRingFull(func() uint64 {
			lost, _ := sess.Drops()
			var n uint64
			for _, v := range lost {
				n += v
			}
			return n
		})
	}
	stopMetrics := func() {}
	if cfg.figures != nil {
		cfg.figures.add(pid, figures)
	} else if cfg.MetricsAddr != "" {
		var addr string
		own := func() Figures { f := figures(); processFigures(&f); return f }
		if addr, stopMetrics, err = serveMetrics(cfg.MetricsAddr, own); err != nil {
			return fail(err)
		}
		logger(cfg).Info("self-metrics", "url", "http://"+addr+"/metrics")
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("attached", "pid", pid, "exe", bin.Path, "go", bin.GoVersion.String(), "probes", strings.Join(sess.Active(), ","))
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run() }()
	stop := func(res *Result) error {
		stopMetrics()
		res.Injection = set.Inject
		var err error
		if statsOff != nil {
			res.RunCounts, res.RunTimes, err = sess.RunCounts()
			if inj != nil && err == nil {
				// Its programs run in the target's socket calls: part of
				// what the agent costs it, though not a trap.
				var runs map[string]uint64
				var times map[string]time.Duration
				if runs, times, err = inj.RunCounts(); err == nil {
					maps.Copy(res.RunCounts, runs)
					maps.Copy(res.RunTimes, times)
				}
			}
			statsOff()
		}
		if inj != nil {
			res.InjectOutcomes = inj.Outcomes()
		}
		err = errors.Join(err, sess.Stop(), <-done)
		if c, cerr := sess.Counters(); cerr == nil {
			res.Counters = c
		} else {
			err = errors.Join(err, cerr)
		}
		err = errors.Join(err, closeInjector())
		err = errors.Join(err, shutdown())
		if exp != nil {
			res.SpansExported, res.Loss = exp.Exported(), exp.Loss()
		}
		if cfg.figures != nil {
			cfg.figures.end(pid)
		}
		return err
	}
	return sess, stop, nil
}

// loadGCPercent is GOGC while probes load: the heap then is mostly
// short-lived DWARF entries, so a tight target bounds the peak for a few
// more collections.
const loadGCPercent = 20

// chooseInjection picks the injection path for cfg on this host, and says
// why: OTEL_PROPAGATORS without tracecontext means none, else
// GLSOTEL_INJECT (auto by default) as the kernel allows. A path asked for
// by name that the kernel refuses is an error.
func chooseInjection(cfg Config) (propagation.Injection, string, error) {
	if cfg.Export == nil {
		return propagation.InjectOff, "no export configured", nil
	}
	if !slices.Contains(cfg.Export.Propagators, "tracecontext") {
		return propagation.InjectOff, "OTEL_PROPAGATORS has no tracecontext", nil
	}
	mode, why, err := propagation.ChooseInjection(injectWanted(cfg))
	if err != nil {
		return propagation.InjectOff, "", &UsageError{err}
	}
	return mode, why, nil
}

func injectWanted(cfg Config) string {
	if cfg.Inject == "" {
		return propagation.InjectAuto
	}
	return cfg.Inject
}

// startInjection picks the injection path, logs it, and for sk_msg starts
// the injector for pid. auto falls back to no injection with a warning
// when the injector cannot start; a path asked for by name is an error.
func startInjection(cfg Config, pid int) (propagation.Injection, *propagation.SockMsgInjector, error) {
	log := logger(cfg)
	mode, why, err := chooseInjection(cfg)
	if err != nil {
		return propagation.InjectOff, nil, err
	}
	var inj *propagation.SockMsgInjector
	if mode == propagation.InjectSockMsg {
		if inj, err = propagation.StartSockMsgInjector(pid); err != nil {
			if injectWanted(cfg) != propagation.InjectAuto {
				return propagation.InjectOff, nil, err
			}
			log.Warn("traceparent injection", "path", "off", "reason", err)
			return propagation.InjectOff, nil, nil
		}
		if c := inj.Cgroup(); c.Exact {
			log.Info("sk_msg injector", "cgroup", c.Dir, "found", c.How)
		} else {
			log.Warn("sk_msg injector: the target's cgroup was not found", "cgroup", c.Dir, "reason", c.How)
		}
	}
	log.Info("traceparent injection", "path", mode.String(), "reason", why)
	return mode, inj, nil
}

// Attach attaches to the running process pid and reads events until the
// process exits or stop is closed.
func Attach(cfg Config, pid int, stop <-chan struct{}) (Result, error) {
	path, err := process.Executable(pid)
	if err != nil {
		return Result{}, &UsageError{err}
	}
	bin, err := openChecked(path)
	if err != nil {
		return Result{}, err
	}
	defer bin.Close()
	sess, finish, err := start(cfg, bin, pid)
	if err != nil {
		return Result{}, err
	}
	defer sess.Close()
	exited := process.WaitExit(pid)
	select {
	case <-exited:
	case <-stop:
	}
	res := Result{Probes: sess.Active()}
	err = finish(&res)
	return res, err
}

// forwardSignals relays the signals a supervisor sends to the program.
// Keyboard signals (Ctrl-C, Ctrl-\) from a terminal whose foreground group
// we share already reach the program: relaying them would deliver them
// twice, so the agent only survives them to flush.
func forwardSignals(p *os.Process) (stop func()) {
	keyboard := process.InForegroundGroup()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sigs {
			if keyboard && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
				continue
			}
			p.Signal(s)
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(sigs)
	}
}

func or(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func console(w io.Writer) io.Writer {
	if w != nil {
		return w
	}
	return os.Stderr
}

// watchInterval is how often Watch looks for processes of the target.
var watchInterval = 200 * time.Millisecond

// Watch traces every process running the executable at path until stop is
// closed: those running now and those that start later, each with its own
// session (and exporter resource: its own process.pid), so a sidecar
// survives its target's restarts and covers all its replicas. A process is
// attached once it has been seen twice, watchInterval apart: short-lived
// runs of the same executable (a healthcheck, a CLI subcommand) are not
// worth loading probes for. path may be
// as the target sees it (process.FindExecutables). One self-metrics
// endpoint sums the sessions. A usage error (bad configuration) ends
// Watch; a process that cannot be attached is logged and left alone.
func Watch(cfg Config, path string, stop <-chan struct{}) error {
	log := logger(cfg)
	if err := process.Preflight(); err != nil {
		return &UsageError{err} // a host that cannot trace: say so now, not at the first process
	}
	if _, err := os.Stat(path); err == nil {
		bin, err := OpenTarget(path) // fail early on a file that can never be traced
		if err != nil {
			return err
		}
		bin.Close()
	} else if !filepath.IsAbs(path) {
		return &UsageError{fmt.Errorf("%s: no such file (a path as the target sees it must be absolute)", path)}
	} else {
		log.Info("no such file here: matching it as the target's processes see it", "exe", path)
	}
	if cfg.MetricsAddr != "" {
		set := &figureSet{live: map[int]func() Figures{}}
		addr, stopMetrics, err := serveMetrics(cfg.MetricsAddr, set.sum)
		if err != nil {
			return err
		}
		defer stopMetrics()
		log.Info("self-metrics", "url", "http://"+addr+"/metrics")
		cfg.figures = set
	}
	quit := make(chan struct{})
	var quitOnce sync.Once
	end := func() { quitOnce.Do(func() { close(quit) }) }
	go func() {
		select {
		case <-stop:
			end()
		case <-quit:
		}
	}()
	var (
		mu      sync.Mutex
		tracked = map[int]bool{} // pid -> being traced (false: could not attach)
		wg      sync.WaitGroup
		fatal   error
	)
	defer wg.Wait()
	defer end()
	waiting := false
	var seen []int // at the last look
	for {
		pids, err := process.FindExecutables(path)
		if err != nil {
			return &UsageError{err}
		}
		mu.Lock()
		for pid, live := range tracked {
			if !live && !slices.Contains(pids, pid) {
				delete(tracked, pid) // gone: the pid may come back as a new process
			}
		}
		for _, pid := range pids {
			if _, ok := tracked[pid]; ok || !slices.Contains(seen, pid) {
				continue // traced, or new: attach when it is still there at the next look
			}
			tracked[pid] = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := Attach(cfg, pid, quit)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					delete(tracked, pid)
					select {
					case <-quit:
					default:
						log.Info("target exited", "pid", pid)
					}
				case !process.Alive(pid):
					delete(tracked, pid) // it exited while we attached
				case errors.As(err, new(*UsageError)):
					if fatal == nil {
						fatal = err
					}
					end()
				default:
					tracked[pid] = false
					log.Error("cannot trace this process; leaving it alone", "pid", pid, "err", err)
				}
			}()
		}
		seen = pids
		idle := len(tracked) == 0 && len(pids) == 0
		if idle && !waiting {
			log.Info("waiting for the target to start", "exe", path)
		}
		waiting = idle
		mu.Unlock()
		select {
		case <-quit:
			wg.Wait()
			return fatal
		case <-time.After(watchInterval):
		}
	}
}

// figureSet sums the figures of Watch's sessions for its one self-metrics
// endpoint: the live sessions' and what the ended ones left, so counters
// never go down when a process exits.
type figureSet struct {
	mu    sync.Mutex
	live  map[int]func() Figures
	ended Figures
}

func (s *figureSet) add(pid int, f func() Figures) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[pid] = f
}

// end takes pid's last figures (call it before its session's maps close).
func (s *figureSet) end(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.live[pid]; f != nil {
		s.ended.add(f())
		delete(s.live, pid)
	}
}

func (s *figureSet) sum() Figures {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t Figures
	t.add(s.ended)
	for _, f := range s.live {
		t.add(f())
	}
	processFigures(&t)
	return t
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}
