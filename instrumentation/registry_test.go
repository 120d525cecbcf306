package instrumentation

import (
	"slices"
	"testing"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/propagation"
)

// TestProbesMatchTheirBPFObjects checks every declaration, with each
// injection path (they add hooks, fields and a probe).
func TestProbesMatchTheirBPFObjects(t *testing.T) {
	out := Outputs{Markers: func(glsmarker.Observation) {}, Spans: func(exporter.Span) {}}
	for _, inject := range []propagation.Injection{propagation.InjectOff, propagation.InjectSockMsg, propagation.InjectWriteUser} {
		for _, p := range Probes(out, Settings{Inject: inject}) {
			if err := probe.Check(p); err != nil {
				t.Errorf("%s: %v", inject, err)
			}
		}
	}
}

// TestCountersNamed: the programs' counters are named from their C enum,
// the same in every object that has them, each with its help text
// (probe.Check), and the HTTP probes have the header scan's.
func TestCountersNamed(t *testing.T) {
	out := Outputs{Markers: func(glsmarker.Observation) {}, Spans: func(exporter.Span) {}}
	var first []string
	for _, p := range Probes(out, Settings{Inject: propagation.InjectSockMsg}) {
		spec, err := p.Spec()
		if err != nil {
			t.Fatal(err)
		}
		names, err := probe.CounterNames(spec)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if first == nil {
			first = names
		} else if !slices.Equal(names, first) {
			t.Errorf("%s: counters %v, others %v", p.Name, names, first)
		}
	}
	if !slices.Contains(first, "headers_truncated") || !slices.Contains(first, "headers_unreadable") {
		t.Errorf("counters %v lack the header scan's", first)
	}
}
