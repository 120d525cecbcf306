package instrumentation

import (
	"testing"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

func TestProbesMatchTheirBPFObjects(t *testing.T) {
	for _, p := range Probes(Outputs{Markers: func(glsmarker.Observation) {}, Spans: func(exporter.Span) {}}, Settings{}) {
		if err := probe.Check(p); err != nil {
			t.Error(err)
		}
	}
}
