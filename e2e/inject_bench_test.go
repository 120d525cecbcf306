package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/glsotel/glsotel/internal/otlptest"
)

// BenchmarkInjection measures what traceparent injection adds to a call
// between two instrumented processes: chain's front calls back once per
// request (back makes no calls of its own), both under glsotel, once with
// GLSOTEL_INJECT=off and once with the host's path, in interleaved rounds
// of sequential keep-alive requests (the machines drift). It reports p50
// and p99 per mode, the added p50 and the added uprobe hits per call; each
// b.N is one round of 500 requests per mode.
func BenchmarkInjection(b *testing.B) {
	path := injectPath(b)
	modes := []string{"off", path}
	fronts := map[string]*traced{}
	backs := map[string]*traced{}
	for _, m := range modes {
		fronts[m], backs[m] = startChain(b, otlptest.Start(b), m, "serve")
	}
	const perRound = 500
	lat := map[string][]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		for _, m := range modes {
			for j := range perRound {
				start := time.Now()
				if _, err := fetch(fronts[m].client, fmt.Sprintf("%s/front?id=r%d-%d&leaves=0", fronts[m].base, i, j)); err != nil {
					b.Fatal(err)
				}
				lat[m] = append(lat[m], time.Since(start))
			}
		}
	}
	b.StopTimer()
	calls := uint64(b.N * perRound)
	hits := map[string]float64{}
	for _, m := range modes {
		hits[m] = hitsPerCall(fronts[m].stop(b), calls)
		backs[m].stop(b)
	}
	p := func(m string, q float64) float64 {
		d := slices.Clone(lat[m])
		slices.Sort(d)
		return float64(d[int(q*float64(len(d)-1))].Microseconds())
	}
	for _, m := range modes {
		b.ReportMetric(p(m, 0.5), "p50-µs-"+m)
		b.ReportMetric(p(m, 0.99), "p99-µs-"+m)
	}
	b.ReportMetric(p(path, 0.5)-p("off", 0.5), "added-p50-µs")
	b.ReportMetric(hits[path]-hits["off"], "added-hits/call")
}
