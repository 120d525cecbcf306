package agent

import (
	"os"
	"strings"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/process"
	"github.com/glsotel/glsotel/propagation"
)

// Report is what `glsotel inspect` shows: the host's abilities and, for a
// target, what the agent would attach to it.
type Report struct {
	Kernel, Lockdown string
	// Injection is the traceparent injection path the agent would take
	// (GLSOTEL_INJECT and OTEL_PROPAGATORS applied), and why.
	Injection, InjectionWhy string
	// The target (empty Path: none given).
	Path, GoVersion string
	Stripped, DWARF bool
	Probes          []ProbeStatus
}

// ProbeStatus is one probe's fit for the target: Err nil when it would
// attach.
type ProbeStatus struct {
	Name string
	Err  error
}

// Inspect reports on the host and, when path or pid is given, on that
// target, loading and attaching nothing (the write_user check loads one
// program and closes it).
func Inspect(cfg Config, path string, pid int) (Report, error) {
	var r Report
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		r.Kernel = strings.TrimSpace(string(b))
	}
	if mode, err := propagation.Lockdown(); err != nil {
		r.Lockdown = err.Error()
	} else {
		r.Lockdown = mode
	}
	inject, why, err := chooseInjection(cfg)
	if err != nil {
		why = err.Error()
	}
	r.Injection, r.InjectionWhy = inject.String(), why
	if pid > 0 {
		p, err := process.Executable(pid)
		if err != nil {
			return r, &UsageError{err}
		}
		path = p
	}
	if path == "" {
		return r, nil
	}
	bin, err := OpenTarget(path)
	if err != nil {
		return r, err
	}
	defer bin.Close()
	r.Path, r.GoVersion, r.Stripped, r.DWARF = bin.Path, bin.GoVersion.String(), bin.Stripped(), bin.HasDWARF()
	set := cfg.Probes
	set.Inject = inject
	out := instrumentation.Outputs{Spans: func(exporter.Span) {}}
	for _, p := range instrumentation.Probes(out, set) {
		r.Probes = append(r.Probes, ProbeStatus{Name: p.Name, Err: probe.Fits(bin, p)})
	}
	return r, nil
}
