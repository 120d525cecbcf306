package glsmarker

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// Report collects observations and prints them as a goroutine tree. Add is
// safe for concurrent use.
type Report struct {
	mu  sync.Mutex
	obs []Observation
}

// Add records one observation.
func (r *Report) Add(o Observation) {
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// Observations returns a copy of what was recorded, in arrival order.
func (r *Report) Observations() []Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.obs)
}

// WriteTree prints each goroutine under the goroutine that created it, with
// what it stored and what its GLS slot held, then a summary line.
func (r *Report) WriteTree(w io.Writer) {
	obs := r.Observations()
	if len(obs) == 0 {
		return
	}
	byG := map[uint64][]Observation{}
	parent := map[uint64]uint64{}
	for _, o := range obs {
		byG[o.Goid] = append(byG[o.Goid], o)
		parent[o.Goid] = o.ParentGoid
	}
	children := map[uint64][]uint64{}
	var roots []uint64
	for g, p := range parent {
		if _, ok := parent[p]; ok && p != g {
			children[p] = append(children[p], g)
		} else {
			roots = append(roots, g)
		}
	}
	slices.Sort(roots)
	var seen, ok int
	var walk func(g uint64, depth int)
	walk = func(g uint64, depth int) {
		var parts []string
		for _, o := range byG[g] {
			switch {
			case o.Kind == Set:
				parts = append(parts, fmt.Sprintf("stores %d", o.Value))
			default:
				seen++
				mark := "ok"
				if o.OK() {
					ok++
				} else {
					mark = fmt.Sprintf("MISMATCH, expected %d", o.Expect)
				}
				switch {
				case o.Value == 0:
					parts = append(parts, fmt.Sprintf("sees nothing [%s]", mark))
				case o.Inherited():
					parts = append(parts, fmt.Sprintf("sees %d inherited from goroutine %d [%s]", o.Value, o.OriginGoid, mark))
				default:
					parts = append(parts, fmt.Sprintf("sees %d, its own [%s]", o.Value, mark))
				}
			}
		}
		fmt.Fprintf(w, "%sgoroutine %d: %s\n", strings.Repeat("   ", depth), g, strings.Join(parts, "; "))
		kids := children[g]
		slices.Sort(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, g := range roots {
		walk(g, 0)
	}
	fmt.Fprintf(w, "%d observations, %d as expected\n", seen, ok)
}
