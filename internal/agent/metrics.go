package agent

import (
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// Figures are the agent's own numbers, as its self-metrics serve them.
type Figures struct {
	SpansExported uint64
	Loss          exporter.Loss
	// EventsLost is, per probe, what did not fit in the ring buffer (also
	// in Loss.RingFull, summed).
	EventsLost map[string]uint64
	// Injection outcomes on the sk_msg path ("injected", …).
	Injection      string
	InjectOutcomes map[string]uint64
	// Counters are the programs' own counts (probe.Session.Counters).
	Counters map[string]uint64
	// The agent process itself.
	CPU          time.Duration // user + system
	RSS, PeakRSS uint64        // bytes
	AllocBytes   uint64        // allocated by the Go heap, cumulative
	AllocObjects uint64
}

// add sums g's per-session figures into f (not the process's own: CPU,
// memory and allocations are the agent's, filled in once).
func (f *Figures) add(g Figures) {
	f.SpansExported += g.SpansExported
	f.Loss.RingFull += g.Loss.RingFull
	f.Loss.QueueFull += g.Loss.QueueFull
	f.Loss.Failed += g.Loss.Failed
	f.EventsLost = addCounts(f.EventsLost, g.EventsLost)
	f.InjectOutcomes = addCounts(f.InjectOutcomes, g.InjectOutcomes)
	f.Counters = addCounts(f.Counters, g.Counters)
	if g.Injection != "" {
		f.Injection = g.Injection
	}
}

func addCounts(dst, src map[string]uint64) map[string]uint64 {
	if len(src) > 0 && dst == nil {
		dst = map[string]uint64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// writeMetrics writes f in the Prometheus text exposition format.
func writeMetrics(w io.Writer, f Figures) {
	counter := func(name, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	}
	gauge := func(name, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	counter("glsotel_spans_exported_total", "Spans delivered to the exporter's endpoint.")
	fmt.Fprintf(w, "glsotel_spans_exported_total %d\n", f.SpansExported)
	counter("glsotel_spans_lost_total", "Spans lost: ring_buffer_full (the agent fell behind the probes), queue_full (the exporter fell behind), export_failed (the endpoint failed).")
	fmt.Fprintf(w, "glsotel_spans_lost_total{reason=\"ring_buffer_full\"} %d\n", f.Loss.RingFull)
	fmt.Fprintf(w, "glsotel_spans_lost_total{reason=\"queue_full\"} %d\n", f.Loss.QueueFull)
	fmt.Fprintf(w, "glsotel_spans_lost_total{reason=\"export_failed\"} %d\n", f.Loss.Failed)
	counter("glsotel_events_lost_total", "BPF events that did not fit in the ring buffer, per probe.")
	for _, p := range slices.Sorted(maps.Keys(f.EventsLost)) {
		fmt.Fprintf(w, "glsotel_events_lost_total{probe=%s} %d\n", strconv.Quote(p), f.EventsLost[p])
	}
	if len(f.InjectOutcomes) > 0 {
		counter("glsotel_inject_total", "Outgoing requests armed for traceparent injection, by outcome.")
		for _, o := range slices.Sorted(maps.Keys(f.InjectOutcomes)) {
			fmt.Fprintf(w, "glsotel_inject_total{path=%s,outcome=%s} %d\n", strconv.Quote(f.Injection), strconv.Quote(o), f.InjectOutcomes[o])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Counters)) {
		m := "glsotel_" + name + "_total"
		counter(m, probe.CounterHelp[name])
		fmt.Fprintf(w, "%s %d\n", m, f.Counters[name])
	}
	counter("process_cpu_seconds_total", "CPU time of the agent process, user and system.")
	fmt.Fprintf(w, "process_cpu_seconds_total %g\n", f.CPU.Seconds())
	gauge("process_resident_memory_bytes", "Resident memory of the agent process.")
	fmt.Fprintf(w, "process_resident_memory_bytes %d\n", f.RSS)
	gauge("process_resident_memory_peak_bytes", "Peak resident memory of the agent process (VmHWM).")
	fmt.Fprintf(w, "process_resident_memory_peak_bytes %d\n", f.PeakRSS)
	counter("go_gc_heap_allocs_bytes_total", "Bytes the agent allocated on its Go heap.")
	fmt.Fprintf(w, "go_gc_heap_allocs_bytes_total %d\n", f.AllocBytes)
	counter("go_gc_heap_allocs_objects_total", "Objects the agent allocated on its Go heap.")
	fmt.Fprintf(w, "go_gc_heap_allocs_objects_total %d\n", f.AllocObjects)
}

// processFigures fills in the agent process's own CPU, memory and
// allocation figures.
func processFigures(f *Figures) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		f.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			key, v, _ := strings.Cut(line, ":")
			kib, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch key {
			case "VmRSS":
				f.RSS = kib << 10
			case "VmHWM":
				f.PeakRSS = kib << 10
			}
		}
	}
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	f.AllocBytes, f.AllocObjects = s[0].Value.Uint64(), s[1].Value.Uint64()
}

// serveMetrics serves figures() at http://addr/metrics until stop is
// called, and returns the address it listens on (addr may have port 0).
// A bad or busy address is an error here, not later.
func serveMetrics(addr string, figures func() Figures) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, &UsageError{fmt.Errorf("self-metrics address %q: %w", addr, err)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writeMetrics(w, figures())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // returns ErrServerClosed at stop
	}()
	return ln.Addr().String(), func() { srv.Close(); <-done }, nil
}
