package propagation_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/propagation"
	"github.com/glsotel/glsotel/propagation/internal/harness"
)

const validTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traceparents is the one table both parsers (Go and BPF) are held to.
var traceparents = []struct {
	name, in string
	ok       bool
}{
	{"valid", validTP, true},
	{"valid, not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
	{"later version", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
	{"later version, more fields", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", true},
	{"later version, no dash after flags", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
	{"version 00 with trailing data", validTP + "-00", false},
	{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"uppercase hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
	{"all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
	{"all-zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
	{"too short", validTP[:54], false},
	{"empty", "", false},
	{"bad hex in trace id", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false},
	{"bad hex in span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9z2b7-01", false},
	{"bad hex in flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
	{"bad hex in version", "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"wrong separator", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"shifted fields", "00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01", false},
	{"NUL bytes", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-\x00\x00", false},
}

func TestParseTraceparent(t *testing.T) {
	for _, tc := range traceparents {
		sc, ok := propagation.ParseTraceparent(tc.in)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
		}
		if ok && tc.in[:2] == "00" && sc.Traceparent() != tc.in {
			t.Errorf("%s: round trip gave %q", tc.name, sc.Traceparent())
		}
	}
	if _, ok := propagation.ParseTraceparent(" \t" + validTP + " "); !ok {
		t.Error("optional whitespace around the value must be accepted")
	}
}

func FuzzParseTraceparent(f *testing.F) {
	for _, tc := range traceparents {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := propagation.ParseTraceparent(s)
		if !ok {
			return
		}
		if !sc.Valid() {
			t.Fatalf("%q: accepted with zero ids", s)
		}
		// What we accept re-encodes to the same ids and flags.
		if again, ok := propagation.ParseTraceparent(sc.Traceparent()); !ok || again != sc {
			t.Fatalf("%q: round trip %q failed", s, sc.Traceparent())
		}
	})
}

// TestTraceparentBPF holds the BPF parser (run under BPF_PROG_TEST_RUN) to
// the Go parser: on the table, and on mutations of valid values.
func TestTraceparentBPF(t *testing.T) {
	coll := loadHarness(t)
	parse := func(in string) (propagation.SpanContext, bool) {
		var buf [64]byte
		copy(buf[:], in)
		if err := coll.Variables["tp_input"].Set(buf); err != nil {
			t.Fatal(err)
		}
		if err := coll.Variables["tp_input_len"].Set(uint32(min(len(in), 63))); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.Programs["traceparent_parse"].Run(&ebpf.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		var res harness.ParseRes
		if err := coll.Variables["tp_result"].Get(&res); err != nil {
			t.Fatal(err)
		}
		return propagation.SpanContext{TraceID: res.Sc.TraceId, SpanID: res.Sc.SpanId, Flags: res.Sc.Flags}, res.Ok == 1
	}
	check := func(name, in string) {
		in = in[:min(len(in), 63)] // the BPF side reads a bounded prefix
		wantSC, wantOK := propagation.ParseTraceparent(in)
		if strings.TrimSpace(in) != in {
			return // header values arrive trimmed by net/textproto
		}
		gotSC, gotOK := parse(in)
		if gotOK != wantOK || (wantOK && gotSC != wantSC) {
			t.Errorf("%s: %q: BPF (%v, %x) vs Go (%v, %x)", name, in, gotOK, gotSC, wantOK, wantSC)
		}
	}
	for _, tc := range traceparents {
		check(tc.name, tc.in)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcdefABCDEFgx-\x00 "
	for i := 0; i < 3000; i++ {
		b := []byte(validTP)
		for n := rng.IntN(3) + 1; n > 0; n-- {
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		}
		check("truncated mutation", string(b[:rng.IntN(len(b)+1)]))
		check("mutation", string(b))
	}
}

// TestTraceHeadersBPF holds format_trace_headers (what an outgoing request
// gets, run under BPF_PROG_TEST_RUN) to the Go formatter, with and without
// the trace's tracestate and baggage, up to their 256-byte bound.
func TestTraceHeadersBPF(t *testing.T) {
	coll := loadHarness(t)
	sc, _ := propagation.ParseTraceparent(validTP)
	format := func(sc propagation.SpanContext, tgid uint32, withBaggage bool) string {
		set := map[string]any{
			"fmt_sc":           harness.SpanContext{TraceId: sc.TraceID, SpanId: sc.SpanID, Flags: sc.Flags},
			"fmt_tgid":         tgid,
			"fmt_with_baggage": map[bool]uint32{false: 0, true: 1}[withBaggage],
		}
		for name, v := range set {
			if err := coll.Variables[name].Set(v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := coll.Programs["trace_headers_format"].Run(&ebpf.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		var res harness.InjectHeader
		if err := coll.Variables["fmt_result"].Get(&res); err != nil {
			t.Fatal(err)
		}
		return string(res.S[:min(int(res.Len), len(res.S))])
	}
	store := func(tgid uint32, tracestate, baggage string) {
		var v harness.W3CHeaders
		v.Tracestate.Len = uint32(copy(v.Tracestate.S[:], tracestate))
		v.Baggage.Len = uint32(copy(v.Baggage.S[:], baggage))
		if err := coll.Maps["trace_headers"].Put(harness.TraceHeadersKey{Tgid: tgid, TraceId: sc.TraceID}, v); err != nil {
			t.Fatal(err)
		}
	}
	line := "Traceparent: " + sc.Traceparent() + "\r\n"
	unsampled := sc
	unsampled.Flags = 0
	long := strings.Repeat("k", 256)
	store(7, "congo=t61rcWkgMzE", "userId=alice,region=eu")
	store(8, long, long)
	store(9, "", "a=b")
	for _, tc := range []struct {
		name        string
		sc          propagation.SpanContext
		tgid        uint32
		withBaggage bool
		want        string
	}{
		{"no trace state", sc, 1, true, line},
		{"unsampled", unsampled, 1, true, "Traceparent: " + unsampled.Traceparent() + "\r\n"},
		{"tracestate and baggage", sc, 7, true, line + "Tracestate: congo=t61rcWkgMzE\r\nBaggage: userId=alice,region=eu\r\n"},
		{"app set its own baggage", sc, 7, false, line + "Tracestate: congo=t61rcWkgMzE\r\n"},
		{"256 bytes each", sc, 8, true, line + "Tracestate: " + long + "\r\nBaggage: " + long + "\r\n"},
		{"baggage only", sc, 9, true, line + "Baggage: a=b\r\n"},
	} {
		if got := format(tc.sc, tc.tgid, tc.withBaggage); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
