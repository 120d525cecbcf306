package instrumentation

import (
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
