package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	physicalpkg "github.com/glsotel/glsotel/bench/internal/physical"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// config is one way of running the service under test.
type config struct {
	Name   string // as printed
	agent  bool   // under glsotel run
	inproc bool   // otelhttp + manual DB spans in the service itself
	// traps: counting uprobes where glsotel attaches, and nothing else
	// (trapPoints): the physical limit, in the service.
	traps   bool
	sampler string // OTEL_TRACES_SAMPLER ("" : parentbased_always_on)
	// spansPerRequest is what a request should export: server, client and
	// database spans (0 when nothing is sampled).
	spansPerRequest int
}

// configs are measured side by side: (a) nothing, (b) the agent, (c)
// in-process instrumentation, (d) the agent sampling nothing, and the
// agent's traps alone.
var configs = []config{
	{Name: "none"},
	{Name: "traps only", traps: true},
	{Name: "glsotel", agent: true, spansPerRequest: 3},
	{Name: "otelhttp", inproc: true, spansPerRequest: 3},
	{Name: "glsotel always_off", agent: true, sampler: "always_off"},
}

// options set the size of a run.
type options struct {
	Root   string // repository root
	Rounds int    // interleaved rounds (each config once per round)
	// Latency is measured one request at a time (Sequential per config
	// and round): below saturation, what a request waits for is what it
	// costs. Throughput is measured with Concurrency requests in flight
	// (Requests per config and round): there, added CPU shows.
	Sequential  int
	Requests    int
	Concurrency int
	HitCalls    int // calls timed for the uprobe hit cost
	Records     int // ring buffer submits timed
	// Steady is how long the agent serves an open-loop load at half the
	// throughput it reached (0: not measured): no span may be lost there.
	Steady time.Duration
	// Idle is how long the agents' CPU is measured with no load, before
	// the warm-up (0: not measured).
	Idle time.Duration
	// Big: also measure the agent's memory loading a >100 MiB program.
	Big        bool
	CPUProfile string `json:"-"` // directory for the agents' CPU profiles ("": none)
}

// instance is one config's running service.
type instance struct {
	cfg     config
	cmd     *exec.Cmd
	base    string
	stderr  bytes.Buffer
	client  *http.Client
	lat     []time.Duration // sequential requests
	wall    time.Duration   // of the concurrent requests
	sent    int             // measured requests, both kinds
	warm    int             // warm-up requests (their spans are counted too)
	metrics string          // the agent's self-metrics address
	m0, m1  selfMetrics     // the agent's figures when the load starts and ends
	window  time.Duration   // from m0 to m1
	idleCPU float64         // the agent's CPU seconds per second with no load
	runs    map[string]uint64
	lost    map[string]uint64        // spans lost, by reason (--stats)
	bpfTime map[string]time.Duration // in the agent's programs, all runs, by "probe/program"
	spans   int                      // received by the receiver
	traps   *physicalpkg.Traps       // the traps only config's uprobes
}

func (in *instance) service() string {
	return "bench-" + strings.ReplaceAll(in.cfg.Name, " ", "-")
}

// start runs the service (under glsotel for agent configs), exporting to
// recv, calling upstream.
func (in *instance) start(glsotel, svc, upstream string, recv *receiver, profDir string) error {
	args := []string{svc, "serve", "127.0.0.1:0"}
	if upstream != "" {
		args = append(args, upstream)
	}
	if in.cfg.inproc {
		args = append(args, "--inproc")
	}
	if in.cfg.agent {
		var err error
		if in.metrics, err = freeAddr(); err != nil {
			return err
		}
		args = append([]string{glsotel, "run", "--stats", "--metrics", in.metrics, "--"}, args...)
	}
	sampler := in.cfg.sampler
	if sampler == "" {
		sampler = "parentbased_always_on"
	}
	in.cmd = exec.Command(args[0], args[1:]...)
	in.cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=false", "OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT="+recv.endpoint,
		"OTEL_TRACES_SAMPLER="+sampler, "OTEL_SERVICE_NAME="+in.service(), "OTEL_RESOURCE_ATTRIBUTES=")
	if in.cfg.agent && profDir != "" {
		in.cmd.Env = append(in.cmd.Env, "GLSOTEL_CPUPROFILE="+filepath.Join(profDir, in.service()+".pprof"),
			"GLSOTEL_MEMPROFILE="+filepath.Join(profDir, in.service()+".allocs.pprof"))
	}
	in.cmd.Stderr = &in.stderr
	addr, err := startListening(in.cmd)
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", in.cfg.Name, err, in.stderr.String())
	}
	in.base = "http://" + addr
	in.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	if in.cfg.traps {
		pts, err := trapPoints(svc)
		if err != nil {
			return fmt.Errorf("%s: %w", in.cfg.Name, err)
		}
		if in.traps, err = physicalpkg.AttachTraps(svc, in.cmd.Process.Pid, pts); err != nil {
			return fmt.Errorf("%s: %w", in.cfg.Name, err)
		}
	}
	return nil
}

// startListening starts cmd and waits for its "listening HOST:PORT" line.
func startListening(cmd *exec.Cmd) (string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return "", fmt.Errorf("did not start (%q, %v)", line, err)
	}
	go io.Copy(io.Discard, out)
	return addr, nil
}

var (
	lostLine    = regexp.MustCompile(`(?m)^spans lost (\S+) (\d+)$`)
	runsLine    = regexp.MustCompile(`(?m)^runs (\S+) (\d+)$`)
	runtimeLine = regexp.MustCompile(`(?m)^runtime_ns (\S+) (\d+)$`)
)

// stop ends the service (GET /quit) and, for the agent, reads its run
// counts once it has flushed.
func (in *instance) stop() error {
	get(context.Background(), in.client, in.base+"/quit")
	done := make(chan error, 1)
	go func() { done <- in.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", in.cfg.Name, err, in.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		in.cmd.Process.Kill()
		return fmt.Errorf("%s did not exit\n%s", in.cfg.Name, in.stderr.String())
	}
	in.runs, in.lost = map[string]uint64{}, map[string]uint64{}
	if in.traps != nil {
		n, err := in.traps.Hits()
		in.runs["traps/uprobe_count"] = n
		if err := errors.Join(err, in.traps.Close()); err != nil {
			return fmt.Errorf("%s: %w", in.cfg.Name, err)
		}
	}
	for _, m := range lostLine.FindAllStringSubmatch(in.stderr.String(), -1) {
		in.lost[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	for _, m := range runsLine.FindAllStringSubmatch(in.stderr.String(), -1) {
		in.runs[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	in.bpfTime = map[string]time.Duration{}
	for _, m := range runtimeLine.FindAllStringSubmatch(in.stderr.String(), -1) {
		ns, _ := strconv.ParseUint(m[2], 10, 64)
		in.bpfTime[m[1]] = time.Duration(ns)
	}
	return nil
}

// agentStats reads the agent's self-metrics (CPU, memory, allocations,
// spans); only for agent configs (the service's own costs are in its
// latency).
func (in *instance) agentStats() (selfMetrics, error) {
	if !in.cfg.agent {
		return selfMetrics{}, nil
	}
	m, err := scrapeAgent(in.metrics)
	if err != nil {
		return m, fmt.Errorf("%s: self-metrics: %w", in.cfg.Name, err)
	}
	return m, nil
}

// measureIdle sets each agent's idleCPU: its CPU over d while its service
// serves nothing (timers, polling). Start-up settles for 6 s first: the
// exporter connects to the collector at the batch processor's first tick
// (5 s), which would otherwise count.
func measureIdle(ins []*instance, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	time.Sleep(6 * time.Second)
	m0 := make([]selfMetrics, len(ins))
	for i, in := range ins {
		var err error
		if m0[i], err = in.agentStats(); err != nil {
			return err
		}
	}
	time.Sleep(d)
	for i, in := range ins {
		m1, err := in.agentStats()
		if err != nil {
			return err
		}
		in.idleCPU = (m1.cpuSeconds - m0[i].cpuSeconds) / d.Seconds()
	}
	return nil
}

// build compiles the agent and the service into dir.
func build(root, dir string) (glsotel, svc string, err error) {
	glsotel, svc = filepath.Join(dir, "glsotel"), filepath.Join(dir, "svc")
	for _, b := range []struct{ dir, out, pkg string }{
		{root, glsotel, "./cmd/glsotel"},
		{filepath.Join(root, "bench", "apps", "svc"), svc, "."},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return glsotel, svc, nil
}

// measure runs every config side by side: one warm-up, then opts.Rounds
// interleaved rounds, the order rotating each round to cancel drift.
func measure(ctx context.Context, opts options, hits []time.Duration, logf func(string, ...any)) ([]*instance, []time.Duration, *steadyRun, *bigBinary, error) {
	dir, err := os.MkdirTemp("", "glsotel-bench")
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer os.RemoveAll(dir)
	glsotel, svc, err := build(opts.Root, dir)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	recv, err := startReceiver()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer recv.stop()
	up := exec.Command(svc, "upstream", "127.0.0.1:0")
	upAddr, err := startListening(up)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("upstream: %w", err)
	}
	defer func() { up.Process.Kill(); up.Wait() }()

	if opts.CPUProfile != "" {
		if err := os.MkdirAll(opts.CPUProfile, 0o755); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("profile directory: %w", err)
		}
	}
	var ins []*instance
	defer func() {
		for _, in := range ins {
			if in.cmd.ProcessState == nil {
				in.cmd.Process.Kill()
				in.cmd.Wait()
			}
		}
	}()
	for _, c := range configs {
		in := &instance{cfg: c}
		if err := in.start(glsotel, svc, "http://"+upAddr, recv, opts.CPUProfile); err != nil {
			return nil, nil, nil, nil, err
		}
		ins = append(ins, in)
	}
	if err := measureIdle(ins, opts.Idle); err != nil {
		return nil, nil, nil, nil, err
	}
	// Warm-up: connections, caches (every distinct request once: in a
	// shorter one, the first round paid the agent's cache fills, ~1 µs and
	// 400 B per span of it), pools, first-call costs.
	for _, in := range ins {
		in.warm = min(opts.Requests, ids)
		if _, _, err := load(ctx, in.client, in.base, in.warm, opts.Concurrency); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("%s warm-up: %w", in.cfg.Name, err)
		}
	}
	for _, in := range ins {
		if in.m0, err = in.agentStats(); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	rounds := time.Now()
	for r := range opts.Rounds {
		for i := range ins {
			in := ins[(i+r)%len(ins)]
			lat, _, err := load(ctx, in.client, in.base, opts.Sequential, 1)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("%s round %d: %w", in.cfg.Name, r, err)
			}
			_, wall, err := load(ctx, in.client, in.base, opts.Requests, opts.Concurrency)
			if err != nil {
				return nil, nil, nil, nil, fmt.Errorf("%s round %d: %w", in.cfg.Name, r, err)
			}
			in.lat, in.wall, in.sent = append(in.lat, lat...), in.wall+wall, in.sent+opts.Sequential+opts.Requests
		}
		// The hit cost drifts with the host as much as the latencies do:
		// it is timed every round too, and the median is the figure.
		hit, err := physicalpkg.UprobeHitCost(ctx, opts.HitCalls)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("uprobe hit cost: %w", err)
		}
		hits = append(hits, hit.Cost)
		logf("round %d of %d done (uprobe hit %v)", r+1, opts.Rounds, hit.Cost)
	}
	for _, in := range ins {
		if in.m1, err = in.agentStats(); err != nil {
			return nil, nil, nil, nil, err
		}
		in.window = time.Since(rounds)
	}
	var errs []error
	for _, in := range ins {
		errs = append(errs, in.stop())
		in.spans = recv.count(in.service())
	}
	if err := errors.Join(errs...); err != nil || opts.Steady <= 0 {
		return ins, hits, nil, nil, err
	}
	var agent *instance
	for _, in := range ins {
		if in.cfg.Name == "glsotel" {
			agent = in
		}
	}
	rate := float64(opts.Rounds*opts.Requests) / agent.wall.Seconds() / 2
	logf("steady: %.0f requests/s for %v (half of what glsotel served)", rate, opts.Steady)
	st, err := steady(ctx, opts, rate, func(in *instance) error { return in.start(glsotel, svc, "http://"+upAddr, recv, "") }, recv)
	if err != nil || !opts.Big {
		return ins, hits, st, nil, err
	}
	bigBin, err := testbuild.Big(opts.Root, logf)
	if err != nil {
		return ins, hits, st, nil, fmt.Errorf("big binary: %w", err)
	}
	big, err := measureBig(glsotel, bigBin, recv)
	return ins, hits, st, big, err
}

// steadyRun is the agent under an open-loop load below saturation.
type steadyRun struct {
	Seconds   float64           `json:"seconds"`
	Rate      float64           `json:"requests_per_second"`
	Requests  int               `json:"requests"`
	Spans     int               `json:"spans_received"`
	WantSpans int               `json:"spans_wanted"`
	Lost      map[string]uint64 `json:"spans_lost"`
}

// steady runs a fresh agent instance at rate requests per second for
// opts.Steady, then stops it (flushing) and counts its spans.
func steady(ctx context.Context, opts options, rate float64, start func(*instance) error, recv *receiver) (*steadyRun, error) {
	in := &instance{cfg: config{Name: "glsotel steady", agent: true, spansPerRequest: 3}}
	if err := start(in); err != nil {
		return nil, err
	}
	defer func() {
		if in.cmd.ProcessState == nil {
			in.cmd.Process.Kill()
			in.cmd.Wait()
		}
	}()
	sent, err := steadyLoad(ctx, in.client, in.base, rate, opts.Steady)
	if err != nil {
		return nil, fmt.Errorf("steady load: %w", err)
	}
	if err := in.stop(); err != nil {
		return nil, err
	}
	return &steadyRun{Seconds: opts.Steady.Seconds(), Rate: rate, Requests: sent, Spans: recv.count(in.service()),
		WantSpans: sent * in.cfg.spansPerRequest, Lost: in.lost}, nil
}
