package propagation_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/internal/agent"
	"github.com/glsotel/glsotel/internal/testbuild"
)

const fixture = "../e2e/apps/gls"

// run starts the fixture under the agent with the marker probe and returns
// what the agent observed, the fixture's stdout lines as key -> value, and
// the program run counts.
func run(t testing.TB, bin string, args ...string) ([]glsmarker.Observation, map[string]string, map[string]uint64) {
	t.Helper()
	stdout, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	rep := &glsmarker.Report{}
	res, err := agent.Run(agent.Config{
		Markers:   rep.Add,
		RunCounts: true,
		Stdout:    stdout,
	}, bin, args)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s %v exited %d", bin, args, res.ExitCode)
	}
	if len(res.Probes) != 2 {
		t.Fatalf("probes attached: %v", res.Probes)
	}
	out, _ := os.ReadFile(stdout.Name())
	return rep.Observations(), parseKV(out), res.RunCounts
}

func observations(obs []glsmarker.Observation) (out []glsmarker.Observation) {
	for _, o := range obs {
		if o.Kind == glsmarker.Observe {
			out = append(out, o)
		}
	}
	return out
}

// TestGLS checks that every goroutine observes exactly its nearest
// ancestor's live value, for each scenario of the fixture, built by two Go
// releases (g.goid at different offsets), with and without symbols/DWARF.
func TestGLS(t *testing.T) {
	for _, v := range testbuild.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			bin := testbuild.Build(t, fixture, v.Toolchain, v.Stripped)
			for _, sc := range []struct {
				name string
				arg  []string
				want int // observations, or 0 to trust the fixture's count alone
			}{
				{"direct", nil, 2},
				{"nest20", []string{"nest", "20"}, 20},
				{"concurrent10000", []string{"concurrent", "10000"}, 10000},
				{"errgroup", nil, 50},
				{"own", nil, 5},
				{"stale", nil, 0},
				{"demo", nil, 0},
			} {
				t.Run(sc.name, func(t *testing.T) {
					args := sc.arg
					if args == nil {
						args = []string{sc.name}
					}
					all, kv, counts := run(t, bin, args...)
					obs := observations(all)
					n, _ := strconv.Atoi(kv["observations"])
					if len(obs) != n || (sc.want != 0 && n != sc.want) {
						t.Fatalf("agent saw %d observations, program made %d, want %d", len(obs), n, sc.want)
					}
					bad := 0
					for _, o := range obs {
						if !o.OK() {
							if bad++; bad <= 5 {
								t.Errorf("goroutine %d (parent %d) saw %d from goroutine %d, expected %d", o.Goid, o.ParentGoid, o.Value, o.OriginGoid, o.Expect)
							}
						}
					}
					if bad > 0 {
						t.Fatalf("%d of %d observations wrong", bad, len(obs))
					}
					checkScenario(t, sc.name, all, counts)
				})
			}
		})
	}
}

func checkScenario(t *testing.T, name string, all []glsmarker.Observation, counts map[string]uint64) {
	switch name {
	case "nest20":
		// Each level was started by the previous one: the value came from the
		// goroutine that stored it, 20 generations up.
		origin := all[0].Goid
		for _, o := range observations(all) {
			if o.OriginGoid != origin || !o.Inherited() {
				t.Errorf("goroutine %d: origin %d, want %d", o.Goid, o.OriginGoid, origin)
			}
		}
	case "concurrent10000":
		// One hit per goroutine creation: 10000 plus the runtime's own few.
		hits := counts["runtime/goroutines/uprobe_runtime_newproc1_ret"]
		if hits < 10000 || hits > 10050 {
			t.Errorf("newproc1 probe ran %d times for 10000 goroutines", hits)
		}
	case "own":
		// Every value seen came from the goroutine that stored it.
		setBy := map[uint64]uint64{}
		for _, o := range all {
			if o.Kind == glsmarker.Set {
				setBy[o.Value] = o.Goid
			}
		}
		for _, o := range observations(all) {
			if o.OriginGoid != setBy[o.Value] {
				t.Errorf("goroutine %d saw %d from goroutine %d, stored by goroutine %d", o.Goid, o.Value, o.OriginGoid, setBy[o.Value])
			}
		}
	}
}

// BenchmarkGoroutineCreation measures a `go` statement in a program that has
// a value to inherit, without the agent and under it, in the same run, and
// the uprobe hits per creation from BPF run counts.
func BenchmarkGoroutineCreation(b *testing.B) {
	bin := testbuild.Build(b, fixture, testbuild.Toolchains[0], false)
	const n = 20000
	var plain, traced, hits float64
	for i := 0; i < b.N; i++ {
		out, err := runPlain(bin, "spawn", strconv.Itoa(n))
		if err != nil {
			b.Fatal(err)
		}
		p, _ := strconv.ParseFloat(out["ns_per_go"], 64)
		_, kv, counts := run(b, bin, "spawn", strconv.Itoa(n))
		tr, _ := strconv.ParseFloat(kv["ns_per_go"], 64)
		plain += p
		traced += tr
		hits += float64(counts["runtime/goroutines/uprobe_runtime_newproc1_ret"]) / n
	}
	N := float64(b.N)
	b.ReportMetric(plain/N, "ns/go-without-agent")
	b.ReportMetric(traced/N, "ns/go-with-agent")
	b.ReportMetric(traced/plain, "ratio")
	b.ReportMetric(hits/N, "hits/creation")
}

func runPlain(bin string, args ...string) (map[string]string, error) {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s %v: %w", bin, args, err)
	}
	return parseKV(out), nil
}

// parseKV reads the fixture's "key value" output lines.
func parseKV(out []byte) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			kv[k] = v
		}
	}
	return kv
}
