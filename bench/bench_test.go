package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glsotel/glsotel/propagation"
)

// TestSmoke runs the whole benchmark with tiny counts (make test), so that
// make bench cannot rot: every configuration serves, the agent's spans all
// arrive, and the table and JSON are written.
func TestSmoke(t *testing.T) {
	opts := options{Root: "..", Rounds: 1, Sequential: 20, Requests: 100, Concurrency: 4, HitCalls: 200, Records: 2000, Steady: 2 * time.Second, Idle: time.Second}
	res, err := runBench(context.Background(), opts, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.write(&table)
	t.Log("\n" + table.String())
	if res.Physical.UprobeHitNs <= 0 || res.Physical.SubmitNoWakeupNs <= 0 {
		t.Errorf("physical limit not measured: %+v", res.Physical)
	}
	hits := map[string]float64{}
	// The figure net of idling is not checked for sign: with these counts
	// one timer tick in the 1 s idle window outweighs the spans' CPU.
	for _, r := range res.Configs {
		hits[r.Config] = r.HitsPerRequest
		if r.Want > 0 && r.SpansPerRequest != float64(r.Want) {
			t.Errorf("%s: %.3f spans per request, want %d", r.Config, r.SpansPerRequest, r.Want)
		}
		// Server: ServeHTTP's entry and return, the ServeMux's route.
		if strings.HasPrefix(r.Config, "glsotel") && (r.HitsPerRequest < 7 || math.Abs(r.HitsByProbe["net/http/server"]-3) > 0.01) {
			t.Errorf("%s: hits per request %.2f %v", r.Config, r.HitsPerRequest, r.HitsByProbe)
		}
		// The injector's socket programs cost time but are no traps.
		if strings.HasPrefix(r.Config, "glsotel") && (r.BPFByProbe["net/http/server"] <= 0 || r.HitsByProbe[propagation.InjectorProbe] != 0) {
			t.Errorf("%s: BPF time per request %v, hits %v", r.Config, r.BPFByProbe, r.HitsByProbe)
		}
		if r.Config == "glsotel" && (r.AgentCPUUsPerSpan <= 0 || r.AgentNetCPUUsPerSpan > r.AgentCPUUsPerSpan || r.AgentAllocPerSpan <= 0 || r.AgentRSSKiB <= 0 || r.AgentIdleCPUMsPerS <= 0 || r.AgentPeakRSSKiB < r.AgentRSSKiB || r.SpansLost != 0) {
			t.Errorf("agent figures missing: %+v", r)
		}
	}
	// The traps only config must trap where the agent does, as often.
	if math.Abs(hits["traps only"]-hits["glsotel"]) > 0.1 {
		t.Errorf("traps only: %.2f hits per request, glsotel %.2f", hits["traps only"], hits["glsotel"])
	}
	if st := res.Steady; st == nil || st.Requests == 0 || st.Spans != st.WantSpans || len(st.Lost) == 0 {
		t.Errorf("steady run: %+v", st)
	} else {
		for reason, n := range st.Lost {
			if n != 0 {
				t.Errorf("steady run lost %d spans (%s)", n, reason)
			}
		}
	}
	out := filepath.Join(t.TempDir(), "results", "latest.json")
	if err := res.save(out); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), `"trap_ratio"`) {
		t.Errorf("JSON results: %v\n%s", err, b)
	}
}
