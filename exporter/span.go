package exporter

import (
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// readOnly is a finished span as the encoder (appendSpan) and the SDK's
// batch processor and console exporter read it.
type readOnly struct {
	// ReadOnlySpan is nil: embedding it satisfies the interface's
	// unexported method; every method the SDK calls is defined below.
	sdktrace.ReadOnlySpan
	s          Span
	sc, parent trace.SpanContext
	res        *resource.Resource
}

// newReadOnly makes a span the console keeps, its attributes copied (the
// caller may reuse s.Attributes).
func newReadOnly(s Span, res *resource.Resource) *readOnly {
	r := new(readOnly)
	fillReadOnly(r, s, res)
	r.s.Attributes = slices.Clone(s.Attributes)
	return r
}

// fillReadOnly sets r to s: the span contexts the SDK's interface wants,
// built from s's ids. r shares s.Attributes.
func fillReadOnly(r *readOnly, s Span, res *resource.Resource) {
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
