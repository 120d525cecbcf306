package glsmarker

import (
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   markerMarkerEvent
		want Observation
		inh  bool
		ok   bool
	}{
		{"set", markerMarkerEvent{Kind: markerEventKindEVENT_KIND_GLS_SET, Goid: 1, Value: 100, OriginGoid: 1, Expect: 100},
			Observation{Kind: Set, Goid: 1, Value: 100, OriginGoid: 1, Expect: 100}, false, true},
		{"inherited", markerMarkerEvent{Kind: markerEventKindEVENT_KIND_GLS_OBSERVE, Goid: 7, ParentGoid: 1, Value: 100, OriginGoid: 1, Expect: 100},
			Observation{Kind: Observe, Goid: 7, ParentGoid: 1, Value: 100, OriginGoid: 1, Expect: 100}, true, true},
		{"own", markerMarkerEvent{Kind: markerEventKindEVENT_KIND_GLS_OBSERVE, Goid: 7, ParentGoid: 1, Value: 200, OriginGoid: 7, Expect: 200},
			Observation{Kind: Observe, Goid: 7, ParentGoid: 1, Value: 200, OriginGoid: 7, Expect: 200}, false, true},
		{"none where expected", markerMarkerEvent{Kind: markerEventKindEVENT_KIND_GLS_OBSERVE, Goid: 9, Expect: 5},
			Observation{Kind: Observe, Goid: 9, Expect: 5}, false, false},
	} {
		got := convert(tc.ev)
		if got != tc.want || got.Inherited() != tc.inh || got.OK() != tc.ok {
			t.Errorf("%s: convert = %+v (inherited %v, ok %v)", tc.name, got, got.Inherited(), got.OK())
		}
	}
}

func TestWriteTree(t *testing.T) {
	var r Report
	for _, o := range []Observation{
		{Kind: Set, Goid: 1, Value: 100, OriginGoid: 1, Expect: 100},
		{Kind: Observe, Goid: 1, Value: 100, OriginGoid: 1, Expect: 100},
		{Kind: Observe, Goid: 8, ParentGoid: 7, Value: 100, OriginGoid: 1, Expect: 100},
		{Kind: Observe, Goid: 7, ParentGoid: 1, Value: 100, OriginGoid: 1, Expect: 100},
		{Kind: Observe, Goid: 9, ParentGoid: 1, Value: 0, Expect: 300},
	} {
		r.Add(o)
	}
	var b strings.Builder
	r.WriteTree(&b)
	want := `goroutine 1: stores 100; sees 100, its own [ok]
   goroutine 7: sees 100 inherited from goroutine 1 [ok]
      goroutine 8: sees 100 inherited from goroutine 1 [ok]
   goroutine 9: sees nothing [MISMATCH, expected 300]
4 observations, 3 as expected
`
	if b.String() != want {
		t.Errorf("tree:\n%s\nwant:\n%s", b.String(), want)
	}
}
