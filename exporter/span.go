package exporter

import (
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// readOnly is a finished span as the SDK's batch processor and exporters
// read it. They are pooled (spanPool): countingExporter puts a batch's
// spans back once the exporter has returned, by which time the OTLP
// encoder (or the console) has copied what it needs.
type readOnly struct {
	// ReadOnlySpan is nil: embedding it satisfies the interface's
	// unexported method; every method the SDK calls is defined below.
	sdktrace.ReadOnlySpan
	s          Span
	attrs      []attribute.KeyValue // s.Attributes, copied: kept across uses
	sc, parent trace.SpanContext
	res        *resource.Resource
	// enc is the span in OTLP protobuf (appendSpan), when it was encoded
	// as it was made; the attributes are then in enc only (Attributes
	// returns none), and otlpExporter copies enc as it is.
	enc []byte
}

var spanPool = sync.Pool{New: func() any { return new(readOnly) }}

// newReadOnly fills a pooled span from s. With encode, it encodes the span
// at once, while s's attributes and strings are still in the CPU's caches
// (by export time, a batch later, they are not), and keeps no copy of the
// attributes; otherwise it copies them.
func newReadOnly(s Span, res *resource.Resource, encode bool) *readOnly {
	r := spanPool.Get().(*readOnly)
	flags := trace.FlagsSampled
	var ts trace.TraceState
	if s.TraceState != "" {
		ts, _ = trace.ParseTraceState(s.TraceState) // invalid: dropped, as a propagator would
	}
	r.s, r.res = s, res
	r.sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.TraceID, SpanID: s.SpanID, TraceFlags: flags, TraceState: ts})
	r.parent = trace.SpanContext{}
	if s.Parent.IsValid() {
		r.parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: s.TraceID, SpanID: s.Parent, TraceFlags: flags, TraceState: ts, Remote: s.RemoteParent})
	}
	if encode {
		r.enc = appendSpan(r.enc[:0], 2, r)
		r.s.Attributes = nil // the caller's, which it may reuse
		return r
	}
	r.attrs = append(r.attrs[:0], s.Attributes...)
	r.s.Attributes = r.attrs
	return r
}

// release returns spans made by newReadOnly to the pool.
func release(spans []sdktrace.ReadOnlySpan) {
	for _, s := range spans {
		if r, ok := s.(*readOnly); ok {
			clear(r.attrs) // no strings kept alive
			*r = readOnly{attrs: r.attrs[:0], enc: r.enc[:0]}
			spanPool.Put(r)
		}
	}
}

func (r *readOnly) Name() string                     { return r.s.Name }
func (r *readOnly) SpanContext() trace.SpanContext   { return r.sc }
func (r *readOnly) Parent() trace.SpanContext        { return r.parent }
func (r *readOnly) SpanKind() trace.SpanKind         { return r.s.Kind }
func (r *readOnly) StartTime() time.Time             { return r.s.Start }
func (r *readOnly) EndTime() time.Time               { return r.s.End }
func (r *readOnly) Attributes() []attribute.KeyValue { return r.s.Attributes }
func (r *readOnly) Links() []sdktrace.Link           { return nil }
func (r *readOnly) Events() []sdktrace.Event         { return nil }
func (r *readOnly) Status() sdktrace.Status {
	return sdktrace.Status{Code: r.s.Status, Description: r.s.StatusMsg}
}
func (r *readOnly) InstrumentationScope() instrumentation.Scope { return scope }
func (r *readOnly) Resource() *resource.Resource                { return r.res }
func (r *readOnly) DroppedAttributes() int                      { return 0 }
func (r *readOnly) DroppedLinks() int                           { return 0 }
func (r *readOnly) DroppedEvents() int                          { return 0 }
func (r *readOnly) ChildSpanCount() int                         { return 0 }

//nolint:staticcheck // part of the interface
func (r *readOnly) InstrumentationLibrary() instrumentation.Library {
	return instrumentation.Library{Name: scope.Name, Version: scope.Version, SchemaURL: scope.SchemaURL}
}
