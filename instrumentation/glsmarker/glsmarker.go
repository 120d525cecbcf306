// Package glsmarker hooks GLS marker functions in a target's main package,
// letting a program (the demo, the GLS tests) store, end and observe
// goroutine-local values with no change to what it does:
//
//	//go:noinline
//	func glsSet(v uint64) {}            // this goroutine's value is now v
//	//go:noinline
//	func glsEnd(v, parent uint64) {}    // v ended; it was set under parent (0: none)
//	//go:noinline
//	func glsObserve(expect uint64) {}   // report the value seen (0: none)
//
// Targets without the markers are left alone (FailSkip).
package glsmarker

import (
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/propagation"
)

// Kind tells a value being set from one being observed.
type Kind int

const (
	Set Kind = iota + 1
	Observe
)

// Observation is one marker call as the agent saw it.
type Observation struct {
	Kind       Kind
	Goid       uint64
	ParentGoid uint64
	// Value is the value set, or the value the goroutine's GLS slot held
	// (0: none).
	Value uint64
	// OriginGoid is the goroutine that stored Value (Goid itself: its own).
	OriginGoid uint64
	// Expect is what the program expected to observe.
	Expect uint64
}

// Inherited reports whether an observed value came from an ancestor.
func (o Observation) Inherited() bool { return o.Value != 0 && o.OriginGoid != o.Goid }

// OK reports whether the observation matches the program's expectation.
func (o Observation) OK() bool { return o.Value == o.Expect }

// convert turns a BPF event into an Observation.
func convert(ev markerMarkerEvent) Observation {
	k := Observe
	if ev.Kind == markerEventKindEVENT_KIND_GLS_SET {
		k = Set
	}
	return Observation{Kind: k, Goid: ev.Goid, ParentGoid: ev.ParentGoid, Value: ev.Value, OriginGoid: ev.OriginGoid, Expect: ev.Expect}
}

// New declares the marker probe; sink receives every observation on the
// agent's event goroutine.
func New(sink func(Observation)) *probe.Probe {
	return &probe.Probe{
		Name: "main/glsmarker",
		Spec: loadMarker,
		Hooks: []probe.Hook{
			{Symbol: "main.glsSet", Entry: "uprobe_main_glsSet"},
			{Symbol: "main.glsEnd", Entry: "uprobe_main_glsEnd"},
			{Symbol: "main.glsObserve", Entry: "uprobe_main_glsObserve"},
		},
		Fields:  propagation.Fields,
		Failure: probe.FailSkip,
		Kinds:   []uint32{uint32(markerEventKindEVENT_KIND_GLS_SET), uint32(markerEventKindEVENT_KIND_GLS_OBSERVE)},
		Handle: func(_ *probe.Target, raw []byte) {
			if ev := probe.View[markerMarkerEvent](raw); ev != nil {
				sink(convert(*ev))
			}
		},
	}
}
