package propagation_test

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/propagation/internal/harness"
)

const tgid = 4242

func entry(span uint64, origin uint64) harness.Entry {
	var e harness.Entry
	binary.LittleEndian.PutUint64(e.Sc.SpanId[:], span)
	binary.LittleEndian.PutUint64(e.Sc.TraceId[8:], span)
	e.Sc.Flags = 1
	e.OriginGoid = origin
	return e
}

func spanOf(e harness.Entry) uint64 { return binary.LittleEndian.Uint64(e.Sc.SpanId[:]) }

// TestLookupContext runs gls.h's lookup_context under BPF_PROG_TEST_RUN:
// the stale rule (ended spans fall back to their live ancestor, at most 8
// levels), and the rewrite or removal of the goroutine's slot.
func TestLookupContext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		slot  uint64            // span in goroutine 7's slot (0: no slot)
		ended map[uint64]uint64 // ended span -> the span it started under (0: none)
		want  uint64            // span found (0: none)
		after uint64            // span left in the slot (0: slot removed)
	}{
		{name: "no slot", want: 0},
		{name: "live", slot: 10, want: 10, after: 10},
		{name: "ended, no parent", slot: 10, ended: map[uint64]uint64{10: 0}, want: 0, after: 0},
		{name: "ended, live parent", slot: 10, ended: map[uint64]uint64{10: 5}, want: 5, after: 5},
		{name: "ended, parent ended too", slot: 10, ended: map[uint64]uint64{10: 5, 5: 0}, want: 0, after: 0},
		{name: "ended chain of 8, live root", slot: 8, ended: chain(8), want: 100, after: 100},
		{name: "ended chain of 9: too deep", slot: 9, ended: chain(9), want: 0, after: 0},
		{name: "another process's ended span", slot: 10, ended: nil, want: 10, after: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			coll := loadHarness(t)
			goroutine := harness.Key{Tgid: tgid, Goid: 7}
			if tc.slot != 0 {
				put(t, coll.Maps["gls_contexts"], goroutine, entry(tc.slot, 1))
			}
			for span, parent := range tc.ended {
				k := harness.EndedKey{Tgid: tgid}
				binary.LittleEndian.PutUint64(k.SpanId[:], span)
				var p harness.Entry
				if parent != 0 {
					p = entry(parent, 1)
				}
				put(t, coll.Maps["gls_ended"], k, p)
			}
			// The same span ended in another process must not matter.
			other := harness.EndedKey{Tgid: tgid + 1}
			binary.LittleEndian.PutUint64(other.SpanId[:], 10)
			put(t, coll.Maps["gls_ended"], other, harness.Entry{})

			if _, err := coll.Programs["gls_lookup"].Run(&ebpf.RunOptions{Context: []uint64{tgid, 7}}); err != nil {
				t.Fatal(err)
			}
			var res harness.LookupRes
			if err := coll.Variables["result"].Get(&res); err != nil {
				t.Fatal(err)
			}
			got := uint64(0)
			if res.Found != 0 {
				got = spanOf(res.Entry)
			}
			if got != tc.want {
				t.Errorf("found span %d, want %d", got, tc.want)
			}
			var left harness.Entry
			err := coll.Maps["gls_contexts"].Lookup(goroutine, &left)
			switch {
			case tc.after == 0 && err == nil:
				t.Errorf("slot still holds span %d, want it removed", spanOf(left))
			case tc.after != 0 && (err != nil || spanOf(left) != tc.after):
				t.Errorf("slot holds span %d (%v), want %d", spanOf(left), err, tc.after)
			}
		})
	}
}

// chain returns n ended spans n -> n-1 -> ... -> 1 -> 100 (live).
func chain(n uint64) map[uint64]uint64 {
	m := map[uint64]uint64{1: 100}
	for i := uint64(2); i <= n; i++ {
		m[i] = i - 1
	}
	return m
}

func loadHarness(t *testing.T) *ebpf.Collection {
	t.Helper()
	spec, err := harness.Spec()
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return coll
}

func put(t *testing.T, m *ebpf.Map, k, v any) {
	t.Helper()
	if err := m.Put(k, v); err != nil {
		t.Fatal(err)
	}
}
