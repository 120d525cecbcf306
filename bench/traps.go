package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"

	physicalpkg "github.com/glsotel/glsotel/bench/internal/physical"
	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// trapPoints are the places glsotel attaches to in the program at path:
// each hooked function's entry (past the stack check) and every RET of the
// probes that fit it, with the injection path the agent takes on this host
// (GLSOTEL_INJECT applied). The "traps only" config puts counting uprobes
// there: what the traps cost the service in place, without the agent.
func trapPoints(path string) ([]physicalpkg.Point, error) {
	bin, err := offsets.Open(path)
	if err != nil {
		return nil, err
	}
	defer bin.Close()
	mode, _, err := propagation.ChooseInjection(cmp.Or(os.Getenv("GLSOTEL_INJECT"), propagation.InjectAuto))
	if err != nil {
		return nil, err
	}
	out := instrumentation.Outputs{Spans: func(exporter.Span) {}}
	var pts []physicalpkg.Point
	for _, p := range instrumentation.Probes(out, instrumentation.Settings{Inject: mode}) {
		if probe.Fits(bin, p) != nil {
			continue // the agent skips it too
		}
		for _, h := range p.Hooks {
			fn, err := bin.Func(h.Symbol)
			if errors.Is(err, offsets.ErrNoSymbol) && h.Optional {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("probe %s: %w", p.Name, err)
			}
			if h.Entry != "" {
				pts = append(pts, physicalpkg.Point{Symbol: h.Symbol, Address: fn.FileOffset, Offset: fn.AfterPrologue})
			}
			if h.Return != "" {
				for _, ret := range fn.Returns {
					pts = append(pts, physicalpkg.Point{Symbol: h.Symbol, Address: fn.FileOffset, Offset: ret})
				}
			}
		}
	}
	return pts, nil
}
