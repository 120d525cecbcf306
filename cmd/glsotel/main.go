// Command glsotel is the agent: it gives Go programs OpenTelemetry traces
// through uprobes, with no change to the program.
//
//	glsotel run [flags] -- PROGRAM [ARGS...]
//	glsotel attach --pid PID | --exe PATH
//	glsotel inspect [--pid PID | PROGRAM]
//	glsotel version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation"
	dbsql "github.com/glsotel/glsotel/instrumentation/database/sql"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/internal/agent"
	"github.com/glsotel/glsotel/propagation"
)

const usage = `usage:
  glsotel run [flags] -- PROGRAM [ARGS...]   start PROGRAM with every probe attached
  glsotel attach --pid PID                    attach to a running Go process
  glsotel attach --exe PATH                   wait for PATH to run, attach, re-attach after restarts
  glsotel inspect [--pid PID | PROGRAM]       what this host allows (injection path) and what would attach
  glsotel version
`

// exitUsage is the status for bad input and host problems.
const exitUsage = 2

func main() {
	// One CPU for the agent unless GOMAXPROCS says otherwise. Its work is a
	// pipeline of goroutines handing spans to each other (ring reader,
	// uploader, gRPC); on one P a hand-off is a goroutine
	// switch, on several it wakes a thread (futex): 3.9 -> 2.8 µs of CPU
	// per span, bench/apps/svc under a steady load. It also bounds what the
	// agent can take from the service it watches.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	os.Exit(profiled(func() int { return run(os.Args[1:], os.Stderr) }))
}

// profiled runs f under the profiles the environment asks for:
// GLSOTEL_CPUPROFILE=FILE and GLSOTEL_MEMPROFILE=FILE (allocations, written
// at exit) profile the agent itself (go tool pprof FILE), to see where its
// CPU time and allocations per span go.
func profiled(f func() int) int {
	if path := os.Getenv("GLSOTEL_CPUPROFILE"); path != "" {
		out, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(out)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "glsotel: GLSOTEL_CPUPROFILE:", err)
			return exitUsage
		}
		defer out.Close()
		defer pprof.StopCPUProfile()
	}
	if path := os.Getenv("GLSOTEL_MEMPROFILE"); path != "" {
		out, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "glsotel: GLSOTEL_MEMPROFILE:", err)
			return exitUsage
		}
		defer out.Close()
		defer func() {
			runtime.GC() // the profile is as of the last GC: include everything
			pprof.Lookup("allocs").WriteTo(out, 0)
		}()
	}
	return f()
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	code := 0
	switch args[0] {
	case "run":
		code, err = cmdRun(args[1:], stderr)
	case "attach":
		code, err = cmdAttach(args[1:], stderr)
	case "inspect":
		err = cmdInspect(args[1:], os.Stdout, stderr)
	case "version":
		fmt.Fprintln(os.Stdout, "glsotel", version())
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
	default:
		err = &agent.UsageError{Err: fmt.Errorf("unknown command %q (want run, attach, inspect or version)", args[0])}
	}
	if err != nil {
		fmt.Fprintln(stderr, "glsotel:", err)
		return exitUsage
	}
	return code
}

func cmdRun(args []string, stderr io.Writer) (int, error) {
	fs := newFlags("run", stderr)
	stats := fs.Bool("stats", false, "print how often each BPF program ran (uprobe hits) and what became of the spans when the program exits")
	metrics := metricsFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if fs.NArg() == 0 {
		return 0, errors.New("run: name the program to start: glsotel run -- PROGRAM [ARGS...]")
	}
	rep := &glsmarker.Report{}
	cfg, err := config(rep, stderr)
	if err != nil {
		return 0, err
	}
	if err := checkMetricsAddr(*metrics); err != nil {
		return 0, err
	}
	cfg.RunCounts, cfg.MetricsAddr = *stats, *metrics
	res, err := agent.Run(cfg, fs.Arg(0), fs.Args()[1:])
	if err != nil {
		return 0, err
	}
	rep.WriteTree(stderr)
	writeStats(stderr, res)
	return res.ExitCode, nil
}

func cmdAttach(args []string, stderr io.Writer) (int, error) {
	fs := newFlags("attach", stderr)
	pid := fs.String("pid", os.Getenv("GLSOTEL_TARGET_PID"), "process id of the Go program to instrument (default $GLSOTEL_TARGET_PID)")
	exe := fs.String("exe", os.Getenv("GLSOTEL_TARGET_EXE"), "wait for a process running this executable, attach, and re-attach when it restarts (default $GLSOTEL_TARGET_EXE)")
	stats := fs.Bool("stats", false, "print how often each BPF program ran (uprobe hits) and what became of the spans when detaching")
	metrics := metricsFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if (*pid == "") == (*exe == "") {
		return 0, errors.New("attach: give one of --pid PID (GLSOTEL_TARGET_PID) or --exe PATH (GLSOTEL_TARGET_EXE)")
	}
	var n int
	if *pid != "" {
		var err error
		if n, err = strconv.Atoi(*pid); err != nil || n <= 0 {
			return 0, fmt.Errorf("attach: --pid / GLSOTEL_TARGET_PID %q is not a process id", *pid)
		}
	}
	rep := &glsmarker.Report{}
	cfg, err := config(rep, stderr)
	if err != nil {
		return 0, err
	}
	if err := checkMetricsAddr(*metrics); err != nil {
		return 0, err
	}
	cfg.RunCounts, cfg.MetricsAddr = *stats, *metrics
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; close(stop) }()
	if *exe != "" {
		return 0, agent.Watch(cfg, *exe, stop)
	}
	res, err := agent.Attach(cfg, n, stop)
	if err != nil {
		return 0, err
	}
	rep.WriteTree(stderr)
	writeStats(stderr, res)
	return 0, nil
}

func cmdInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", stderr)
	pid := fs.Int("pid", 0, "process id of a running Go program")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 || fs.NArg() == 1 && *pid != 0 {
		return errors.New("inspect: give at most one of --pid PID or PROGRAM")
	}
	path := fs.Arg(0)
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return &agent.UsageError{Err: fmt.Errorf("%s: no such program", path)}
		}
		path = p
	}
	cfg, err := config(&glsmarker.Report{}, stderr)
	if err != nil {
		return err
	}
	r, err := agent.Inspect(cfg, path, *pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kernel     %s\nlockdown   %s\ninjection  %s (%s)\n", r.Kernel, r.Lockdown, r.Injection, r.InjectionWhy)
	if r.Path == "" {
		return nil
	}
	syms := "symbols"
	if r.Stripped {
		syms = "stripped (offsets from the table)"
	}
	if r.DWARF {
		syms += ", DWARF"
	}
	fmt.Fprintf(stdout, "target     %s\ngo         %s, %s\n", r.Path, r.GoVersion, syms)
	for _, p := range r.Probes {
		status := "attaches"
		if p.Err != nil {
			status = "left out: " + p.Err.Error()
		}
		fmt.Fprintf(stdout, "probe      %-24s %s\n", p.Name, status)
	}
	return nil
}

// config wires the agent: OTEL_* variables (an invalid one is a usage
// error naming it), logging to stderr, markers into rep.
func config(rep *glsmarker.Report, stderr io.Writer) (agent.Config, error) {
	exp, err := exporter.ConfigFromEnv(os.Getenv)
	if err != nil {
		return agent.Config{}, &agent.UsageError{Err: err}
	}
	text, err := dbsql.ParseQueryText(os.Getenv("GLSOTEL_DB_QUERY_TEXT"))
	if err != nil {
		return agent.Config{}, &agent.UsageError{Err: err}
	}
	inject, err := propagation.ParseInjection(os.Getenv("GLSOTEL_INJECT"))
	if err != nil {
		return agent.Config{}, &agent.UsageError{Err: err}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // one short line per event; callers add time if they want it
			}
			return a
		},
	}))
	return agent.Config{Markers: rep.Add, Export: &exp, Probes: instrumentation.Settings{DBQueryText: text}, Inject: inject, Console: stderr, Logger: log}, nil
}

// writeStats prints --stats: "runs PROBE/PROGRAM N", "runtime_ns
// PROBE/PROGRAM NS" (time spent in the program, traps not included) and
// "inject PATH OUTCOME N" lines, sorted.
// metricsFlag is --metrics, for the commands that attach.
func metricsFlag(fs *flag.FlagSet) *string {
	return fs.String("metrics", os.Getenv("GLSOTEL_METRICS_ADDR"),
		"serve the agent's self-metrics (spans exported and lost, CPU, memory) at http://`HOST:PORT`/metrics (default $GLSOTEL_METRICS_ADDR; off when empty)")
}

// checkMetricsAddr rejects a --metrics value that is not HOST:PORT before
// anything starts (a busy port is found when the agent listens).
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--metrics / GLSOTEL_METRICS_ADDR %q: want HOST:PORT (%w)", addr, err)
	}
	return nil
}

func writeStats(w io.Writer, res agent.Result) {
	for _, name := range slices.Sorted(maps.Keys(res.RunCounts)) {
		fmt.Fprintf(w, "runs %s %d\n", name, res.RunCounts[name])
	}
	for _, name := range slices.Sorted(maps.Keys(res.RunTimes)) {
		fmt.Fprintf(w, "runtime_ns %s %d\n", name, res.RunTimes[name].Nanoseconds())
	}
	if res.RunCounts == nil {
		return
	}
	fmt.Fprintf(w, "spans exported %d\n", res.SpansExported)
	fmt.Fprintf(w, "spans lost ring_buffer_full %d\nspans lost queue_full %d\nspans lost export_failed %d\n",
		res.Loss.RingFull, res.Loss.QueueFull, res.Loss.Failed)
	for _, name := range slices.Sorted(maps.Keys(res.InjectOutcomes)) {
		fmt.Fprintf(w, "inject %s %s %d\n", res.Injection, name, res.InjectOutcomes[name])
	}
	for _, name := range slices.Sorted(maps.Keys(res.Counters)) {
		fmt.Fprintf(w, "counter %s %d\n", name, res.Counters[name])
	}
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
