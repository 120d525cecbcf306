package probe

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// CountersMap holds what the programs count beside their events (losses,
// bounds met), per CPU, indexed by the C enum probe_counter
// (bpf/include/glsotel/common.h). Shared like EventsMap.
const CountersMap = "probe_counters"

// counterEnum is the C enum that names CountersMap's slots.
const counterEnum = "probe_counter"

// CounterHelp describes each counter, by the name Counters gives it: the
// self-metric glsotel_NAME_total carries it. A test checks that every
// value of the C enum has one.
var CounterHelp = map[string]string{
	"headers_truncated":  "Header maps larger than the scan's bound whose scanned part lacked a wanted header (traceparent, tracestate, baggage, User-Agent): the rest was not read.",
	"headers_unreadable": "Live header map slots or values the scan could not read from the program's memory.",
	"inject_no_room":     "Requests sent without trace headers because write_user found no room for them in the connection's write buffer.",
	"route_lost":         "Server spans sent without http.route because their router's record was evicted (more routed requests in flight than the map holds).",
}

// CounterNames reads the names of the counters from spec's BTF: the enum
// probe_counter's values, lowercased, without their COUNTER_ prefix,
// indexed by value. Nil when spec has no such enum (it counts nothing).
func CounterNames(spec *ebpf.CollectionSpec) ([]string, error) {
	if spec.Types == nil {
		return nil, nil
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName(counterEnum, &e); err != nil {
		return nil, nil
	}
	var names []string
	for _, v := range e.Values {
		name, ok := strings.CutPrefix(v.Name, "COUNTER_")
		if !ok {
			return nil, fmt.Errorf("enum %s: value %s lacks the COUNTER_ prefix", counterEnum, v.Name)
		}
		if name == "MAX" {
			continue
		}
		if v.Value != uint64(len(names)) {
			return nil, fmt.Errorf("enum %s: %s is %d, want %d (values run from 0 in order)", counterEnum, v.Name, v.Value, len(names))
		}
		names = append(names, strings.ToLower(name))
	}
	return names, nil
}

// Counters returns every counter by name (zero ones too). Safe to call
// concurrently with Run.
func (s *Session) Counters() (map[string]uint64, error) {
	m, ok := s.shared[CountersMap]
	out := make(map[string]uint64, len(s.counters))
	for _, name := range s.counters {
		out[name] = 0
	}
	if !ok {
		return out, nil
	}
	for i, name := range s.counters {
		var perCPU []uint64
		if err := m.Lookup(uint32(i), &perCPU); err != nil {
			return nil, fmt.Errorf("read %s[%s]: %w", CountersMap, name, err)
		}
		for _, v := range perCPU {
			out[name] += v
		}
	}
	return out, nil
}
