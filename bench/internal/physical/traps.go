package physical

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"
)

// Point is one place a uprobe goes: Offset bytes into the function whose
// file offset is Address (Symbol names it in errors).
type Point struct {
	Symbol          string
	Address, Offset uint64
}

// Traps is a counting uprobe at each of a program's Points, for one
// process: the traps an agent's probes take, without the agent's work.
type Traps struct {
	objs  *uprobes
	links []link.Link
}

// AttachTraps puts a uprobe whose program only counts at each point of the
// executable at path, firing for pid only. Close removes them.
func AttachTraps(path string, pid int, points []Point) (*Traps, error) {
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	objs, err := loadUprobes()
	if err != nil {
		return nil, err
	}
	t := &Traps{objs: objs}
	for _, p := range points {
		l, err := ex.Uprobe(p.Symbol, objs.Count, &link.UprobeOptions{Address: p.Address, Offset: p.Offset, PID: pid})
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("uprobe %s+%#x in %s: %w", p.Symbol, p.Offset, path, err)
		}
		t.links = append(t.links, l)
	}
	return t, nil
}

// Hits returns how often the traps fired so far.
func (t *Traps) Hits() (uint64, error) {
	var n uint64
	if err := t.objs.Hits.Get(&n); err != nil {
		return 0, fmt.Errorf("read trap count: %w", err)
	}
	return n, nil
}

// Close removes the uprobes.
func (t *Traps) Close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	return errors.Join(append(errs, t.objs.Close())...)
}
