// Package span holds what every span-making probe's converter shares: the
// common span fields made in BPF (bpf/include/glsotel/span.h) and Go
// string copies.
package span

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// Base is struct span_base, as each probe's converter copies it out of its
// generated event type.
type Base struct {
	StartNs, EndNs uint64
	TraceID        [16]byte
	SpanID         [8]byte
	Flags          uint8
	Parent         [8]byte
	ParentRemote   bool
}

// Attrs returns buf emptied, with room for n attributes. Converters build
// each span's attributes in the last span's slice: the exporter copies
// them (exporter.Export), so a span costs no allocation of its own.
func Attrs(buf []attribute.KeyValue, n int) []attribute.KeyValue {
	if cap(buf) < n {
		return make([]attribute.KeyValue, 0, n)
	}
	return buf[:0]
}

// sampledFlag is W3C's sampled trace flag.
const sampledFlag = 0x01

// Span starts an exporter.Span from b with times converted by clock.
func (b Base) Span(name string, kind trace.SpanKind, clock probe.Clock) exporter.Span {
	return exporter.Span{
		Name:         name,
		Kind:         kind,
		TraceID:      b.TraceID,
		SpanID:       b.SpanID,
		Parent:       b.Parent,
		RemoteParent: b.ParentRemote && b.Parent != [8]byte{},
		Sampled:      b.Flags&sampledFlag != 0,
		Start:        clock.Time(b.StartNs),
		End:          clock.Time(b.EndNs),
	}
}

// Str is a Go string a probe copied: n valid bytes of b (n is clamped).
func Str(n uint32, b []byte) string {
	return string(b[:min(int(n), len(b))])
}

// ErrorType names an error's dynamic type from its itab (a run-time
// address) for error.type, e.g. "*net.OpError", or _OTHER when the binary
// does not tell (an itab made at run time).
func ErrorType(t *probe.Target, itab uint64) string {
	if name, ok := t.ItabType(itab); ok {
		return name
	}
	return "_OTHER"
}
