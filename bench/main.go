// Command bench measures what glsotel costs a service, side by side in one
// run (the machines are noisy: read the ratios, not the times). It is
// `make bench`:
//
//  1. the physical limit: one uprobe hit on an empty program, one ring
//     buffer submit with and without BPF_RB_NO_WAKEUP;
//  2. bench/apps/svc (each request: one client call to a local upstream,
//     one SQLite query on a spawned goroutine) under a closed-loop load, in
//     four configurations interleaved round by round: no instrumentation,
//     glsotel, in-process otelhttp + manual database spans, glsotel with
//     the always_off sampler;
//  3. one table (stdout) and the same as JSON (-out).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	var opts options
	flag.StringVar(&opts.Root, "root", ".", "repository root")
	flag.IntVar(&opts.Rounds, "rounds", 6, "interleaved rounds")
	flag.IntVar(&opts.Sequential, "sequential", 500, "requests one at a time (latency) per configuration and round")
	flag.IntVar(&opts.Requests, "requests", 2000, "concurrent requests (throughput) per configuration and round")
	flag.IntVar(&opts.Concurrency, "concurrency", 8, "requests in flight for throughput (closed loop)")
	flag.IntVar(&opts.HitCalls, "hit-calls", 20000, "calls timed for the uprobe hit cost")
	flag.IntVar(&opts.Records, "records", 200000, "ring buffer submits timed")
	flag.DurationVar(&opts.Steady, "steady", time.Minute, "how long the agent serves half its saturation throughput, open loop (0: skip)")
	flag.DurationVar(&opts.Idle, "idle", 5*time.Second, "how long the agents' CPU is measured with no load (0: skip)")
	flag.BoolVar(&opts.Big, "big", true, "also measure the agent's memory while it loads a >100 MiB program (built once, cached)")
	flag.StringVar(&opts.CPUProfile, "cpuprofile", "", "profile each agent (CPU and allocations) into `DIR`/<config>[.allocs].pprof (go tool pprof)")
	out := flag.String("out", "bench/results/latest.json", "JSON results ('' for none)")
	flag.Parse()
	res, err := runBench(context.Background(), opts, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	res.write(os.Stdout)
	if *out != "" {
		if err := res.save(*out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// results is one run, as printed and saved.
type results struct {
	Time        time.Time  `json:"time"`
	Kernel      string     `json:"kernel"`
	GoVersion   string     `json:"go"`
	CPUs        int        `json:"cpus"`
	Options     options    `json:"options"`
	Physical    physical   `json:"physical"`
	Configs     []row      `json:"configs"`
	Steady      *steadyRun `json:"steady,omitempty"`
	Big         *bigBinary `json:"big_binary,omitempty"`
	WallSeconds float64    `json:"wall_seconds"`
}

// physical is the floor: what one trap and one event cost on this machine.
type physical struct {
	// UprobeHitNs is the median of UprobeHitsNs: timed before the rounds
	// and after each.
	UprobeHitNs      float64   `json:"uprobe_hit_ns"`
	UprobeHitsNs     []float64 `json:"uprobe_hits_ns"`
	SubmitWakeupNs   float64   `json:"ringbuf_submit_wakeup_ns"`
	SubmitNoWakeupNs float64   `json:"ringbuf_submit_no_wakeup_ns"`
	// Wakeups of Ops submits (one round) did wake the reader: each costs
	// the producer about a uprobe hit, so the wakeup figure swings with it.
	Wakeups int `json:"ringbuf_wakeups"`
	Ops     int `json:"ringbuf_ops"`
}

// row is one configuration's figures; Added* and ratios are against the
// uninstrumented service measured in the same rounds.
type row struct {
	Config          string             `json:"config"`
	Requests        int                `json:"requests"`
	P50Us           float64            `json:"p50_us"`
	P99Us           float64            `json:"p99_us"`
	AddedP50Us      float64            `json:"added_p50_us"`
	AddedP99Us      float64            `json:"added_p99_us"`
	ThroughputRPS   float64            `json:"throughput_rps"`
	ThroughputRatio float64            `json:"throughput_ratio"`
	HitsPerRequest  float64            `json:"hits_per_request,omitempty"`
	HitsByProbe     map[string]float64 `json:"hits_per_request_by_probe,omitempty"`
	// TrapRatio is (added p50) / (hits per request × one hit's cost): 1
	// means the agent costs nothing beyond the traps themselves.
	TrapRatio float64 `json:"trap_ratio,omitempty"`
	// BPFUsPerRequest is the time the agent's programs ran per request
	// (bpf_stats run time: the programs, not the traps around them), the
	// injector's socket programs included.
	BPFUsPerRequest float64            `json:"bpf_us_per_request,omitempty"`
	BPFByProbe      map[string]float64 `json:"bpf_us_per_request_by_probe,omitempty"`
	// AgentCPUUsPerSpan is all the agent's CPU from the first round to
	// the last, per span made meanwhile. Most of that time the agent idles
	// while other configs run: AgentNetCPUUsPerSpan leaves out its idle
	// rate (AgentIdleCPUMsPerS) over the rounds' wall time, so what is
	// left is the work spans cost.
	AgentCPUUsPerSpan    float64 `json:"agent_cpu_us_per_span,omitempty"`
	AgentNetCPUUsPerSpan float64 `json:"agent_cpu_us_per_span_net_of_idle,omitempty"`
	RoundsSeconds        float64 `json:"rounds_wall_seconds,omitempty"`
	// AgentIdleCPUMsPerS is the agent's CPU while its service serves
	// nothing, in ms per second.
	AgentIdleCPUMsPerS float64 `json:"agent_idle_cpu_ms_per_s,omitempty"`
	// AgentAllocPerSpan is the agent's Go heap allocation per span.
	AgentAllocPerSpan float64 `json:"agent_alloc_bytes_per_span,omitempty"`
	// AgentRSSKiB is the agent's resident memory when the load ends;
	// AgentPeakRSSKiB its peak (loading included).
	AgentRSSKiB     int64 `json:"agent_rss_kib,omitempty"`
	AgentPeakRSSKiB int64 `json:"agent_peak_rss_kib,omitempty"`
	// SpansLost is what the agent reported lost (any reason).
	SpansLost uint64 `json:"spans_lost"`
	// SpansPerRequest is spans received / requests sent; Want is what every
	// request should export.
	SpansPerRequest float64 `json:"spans_per_request"`
	Want            int     `json:"want_spans_per_request"`
}

func runBench(ctx context.Context, opts options, logf func(string, ...any)) (*results, error) {
	start := time.Now()
	res := &results{Time: start.UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Options: opts}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		res.Kernel = strings.TrimSpace(string(b))
	}
	var err error
	if res.Physical, err = measurePhysical(ctx, opts); err != nil {
		return nil, err
	}
	logf("physical: uprobe hit %.0f ns, ring buffer submit %.0f ns (wakeup) / %.0f ns (no wakeup)",
		res.Physical.UprobeHitNs, res.Physical.SubmitWakeupNs, res.Physical.SubmitNoWakeupNs)
	ins, hits, st, big, err := measure(ctx, opts, []time.Duration{time.Duration(res.Physical.UprobeHitNs)}, logf)
	if err != nil {
		return nil, err
	}
	res.Physical.UprobeHitsNs = make([]float64, len(hits))
	for i, h := range hits {
		res.Physical.UprobeHitsNs[i] = float64(h)
	}
	res.Physical.UprobeHitNs = float64(quantile(hits, 0.5))
	res.Steady, res.Big = st, big
	base := ins[0]
	bp50, bp99 := us(quantile(base.lat, 0.5)), us(quantile(base.lat, 0.99))
	btput := float64(opts.Rounds*opts.Requests) / base.wall.Seconds()
	for _, in := range ins {
		r := row{Config: in.cfg.Name, Requests: in.sent, Want: in.cfg.spansPerRequest}
		r.P50Us, r.P99Us = us(quantile(in.lat, 0.5)), us(quantile(in.lat, 0.99))
		r.AddedP50Us, r.AddedP99Us = r.P50Us-bp50, r.P99Us-bp99
		r.ThroughputRPS = float64(opts.Rounds*opts.Requests) / in.wall.Seconds()
		r.ThroughputRatio = r.ThroughputRPS / btput
		total := in.sent + in.warm
		r.SpansPerRequest = float64(in.spans) / float64(total)
		if in.cfg.agent || in.cfg.traps {
			r.HitsByProbe = map[string]float64{}
			for name, n := range in.runs {
				probe, prog := splitProgram(name)
				if !strings.HasPrefix(prog, "uprobe_") {
					continue // the injector's socket programs: time (below), no trap
				}
				r.HitsByProbe[probe] += float64(n) / float64(total+1)
				r.HitsPerRequest += float64(n) / float64(total+1)
			}
			if r.HitsPerRequest > 0 && res.Physical.UprobeHitNs > 0 {
				r.TrapRatio = r.AddedP50Us * 1000 / (r.HitsPerRequest * res.Physical.UprobeHitNs)
			}
		}
		if in.cfg.agent {
			r.BPFByProbe = map[string]float64{}
			for name, d := range in.bpfTime {
				probe, _ := splitProgram(name)
				r.BPFByProbe[probe] += us(d) / float64(total+1)
				r.BPFUsPerRequest += us(d) / float64(total+1)
			}
			// Spans made during the load: its requests times the spans a
			// request was seen to export (the exported counter lags by the
			// batch delay).
			if spans := float64(in.sent) * float64(in.spans) / float64(total+1); spans > 0 {
				cpu := in.m1.cpuSeconds - in.m0.cpuSeconds
				r.AgentCPUUsPerSpan = cpu * 1e6 / spans
				r.AgentNetCPUUsPerSpan = (cpu - in.idleCPU*in.window.Seconds()) * 1e6 / spans
				r.RoundsSeconds = in.window.Seconds()
				r.AgentAllocPerSpan = (in.m1.allocBytes - in.m0.allocBytes) / spans
			}
			r.AgentRSSKiB, r.AgentPeakRSSKiB = int64(in.m1.rss/1024), int64(in.m1.peakRSS/1024)
			r.AgentIdleCPUMsPerS = in.idleCPU * 1000
			for _, n := range in.lost {
				r.SpansLost += n
			}
		}
		res.Configs = append(res.Configs, r)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// writeByProbe prints "WHAT, CONFIG: probe N, probe N" for a figure by
// probe (nothing when there is none).
func writeByProbe(w io.Writer, what, config string, byProbe map[string]float64, format string) {
	if len(byProbe) == 0 {
		return
	}
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(byProbe)) {
		parts = append(parts, fmt.Sprintf("%s "+format, p, byProbe[p]))
	}
	fmt.Fprintf(w, "%s, %s: %s\n", what, config, strings.Join(parts, ", "))
}

// splitProgram splits a "probe/program" run statistics name.
func splitProgram(name string) (probe, prog string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return name, name
	}
	return name[:i], name[i+1:]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// write prints the table.
func (res *results) write(w io.Writer) {
	fmt.Fprintf(w, "glsotel overhead, %s, %d CPUs, %s; %d interleaved rounds; latency: %d requests one at a time, throughput: %d at concurrency %d (per config and round)\n",
		res.Kernel, res.CPUs, res.GoVersion, res.Options.Rounds, res.Options.Sequential, res.Options.Requests, res.Options.Concurrency)
	fmt.Fprintf(w, "physical limit: uprobe hit %.2f µs (median of %d timings, %.1f–%.1f); ring buffer submit %.0f ns (wakeup; %d of %d woke the reader), %.0f ns (BPF_RB_NO_WAKEUP)\n\n",
		res.Physical.UprobeHitNs/1000, len(res.Physical.UprobeHitsNs), slices.Min(res.Physical.UprobeHitsNs)/1000, slices.Max(res.Physical.UprobeHitsNs)/1000, res.Physical.SubmitWakeupNs, res.Physical.Wakeups, res.Physical.Ops, res.Physical.SubmitNoWakeupNs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tp50 µs\tp99 µs\t+p50 µs\t+p99 µs\tthroughput\thits/req\t+p50/(hits×hit)\tBPF µs/req\tagent CPU µs/span\talloc B/span\tRSS MiB (peak)\tspans/req (want)\tlost\t")
	for _, r := range res.Configs {
		dash := func(v float64, f string) string {
			if v == 0 {
				return "-"
			}
			return fmt.Sprintf(f, v)
		}
		rss := "-"
		if r.AgentPeakRSSKiB > 0 {
			rss = fmt.Sprintf("%.0f (%.0f)", float64(r.AgentRSSKiB)/1024, float64(r.AgentPeakRSSKiB)/1024)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%+.0f\t%+.0f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%.3f (%d)\t%d\t\n",
			r.Config, r.P50Us, r.P99Us, r.AddedP50Us, r.AddedP99Us, r.ThroughputRatio,
			dash(r.HitsPerRequest, "%.2f"), dash(r.TrapRatio, "%.2f"), dash(r.BPFUsPerRequest, "%.1f"), dash(r.AgentCPUUsPerSpan, "%.2f"),
			dash(r.AgentAllocPerSpan, "%.0f"), rss, r.SpansPerRequest, r.Want, r.SpansLost)
	}
	tw.Flush()
	var traps *row
	for i := range res.Configs {
		if res.Configs[i].Config == "traps only" {
			traps = &res.Configs[i]
		}
	}
	for _, r := range res.Configs {
		if traps != nil && r.BPFUsPerRequest > 0 {
			// The target's intent measured in place: added p50 over what
			// the same traps alone add to the same service.
			ratio := "-"
			if traps.AddedP50Us > 0 {
				ratio = fmt.Sprintf("%.2f", r.AddedP50Us/traps.AddedP50Us)
			}
			fmt.Fprintf(w, "beyond the traps, %s: %+.0f µs p50, %s× what the traps alone add (its programs ran %.1f µs per request)\n",
				r.Config, r.AddedP50Us-traps.AddedP50Us, ratio, r.BPFUsPerRequest)
		}
	}
	for _, r := range res.Configs {
		writeByProbe(w, "hits per request", r.Config, r.HitsByProbe, "%.2f")
	}
	for _, r := range res.Configs {
		writeByProbe(w, "BPF µs per request", r.Config, r.BPFByProbe, "%.1f")
	}
	for _, r := range res.Configs {
		if r.AgentIdleCPUMsPerS > 0 {
			fmt.Fprintf(w, "idle, %s: the agent used %.2f ms of CPU per second while its service served nothing (%v)\n",
				r.Config, r.AgentIdleCPUMsPerS, res.Options.Idle)
		}
		if r.AgentCPUUsPerSpan > 0 && r.AgentIdleCPUMsPerS > 0 {
			fmt.Fprintf(w, "agent CPU per span, %s: %.2f µs net of idling (%.2f µs in all, %.2f of it the idle rate over the rounds' %.0f s)\n",
				r.Config, r.AgentNetCPUUsPerSpan, r.AgentCPUUsPerSpan, r.AgentCPUUsPerSpan-r.AgentNetCPUUsPerSpan, r.RoundsSeconds)
		}
	}
	if st := res.Steady; st != nil {
		var lost uint64
		for _, n := range st.Lost {
			lost += n
		}
		fmt.Fprintf(w, "steady, glsotel at half its saturation throughput: %.0f requests/s open loop for %.0f s: %d requests, %d of %d spans received, %d lost\n",
			st.Rate, st.Seconds, st.Requests, st.Spans, st.WantSpans, lost)
	}
	if b := res.Big; b != nil {
		fmt.Fprintf(w, "large binary, glsotel attached to a %.0f MiB program: agent RSS %.0f MiB, peak %.0f MiB (loading included)\n",
			b.SizeMiB, float64(b.RSSKiB)/1024, float64(b.PeakRSSKiB)/1024)
	}
}

// save writes the results as JSON at path.
func (res *results) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
