package exporter

import (
	"context"
	"fmt"
	"math"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// otlpExporter is the SDK's otlptrace.Exporter with its own encoding of
// spans: the SDK's client (otlptracegrpc, otlptracehttp) still does the
// connection, retries, headers, TLS, compression, the size bound and the
// protobuf encoding of the request. The SDK's transform builds a message
// tree of each span (a KeyValue, an AnyValue and a oneof wrapper per
// attribute) that protobuf-go then sizes and encodes, validating every
// string again: most of the agent's CPU per span. Here each span is
// encoded once, straight into bytes (appendSpan), which travel as the
// unknown fields of their ScopeSpans message: protobuf-go copies unknown
// fields as they are, so the collector receives them as the message's
// spans (field 2). Only the resource and scope messages are built, once.
//
// The SDK client's experimental self-observability (OTEL_GO_X_OBSERVABILITY)
// counts spans in ScopeSpans.Spans, so it sees none; Loss counts ours.
type otlpExporter struct {
	client otlptrace.Client

	mu   sync.Mutex // the batch processor exports from one goroutine, ForceFlush from another
	b    batch
	stop sync.Once
}

func newOTLPExporter(ctx context.Context, client otlptrace.Client) (*otlpExporter, error) {
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("start OTLP client: %w", err)
	}
	return &otlpExporter{client: client}, nil
}

// ExportSpans sends spans in one request; it blocks until the client is
// done with it (retries included), after which the messages are reused.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.client.UploadTraces(ctx, e.b.fill(spans)); err != nil {
		return fmt.Errorf("traces export: %w", err)
	}
	return nil
}

func (e *otlpExporter) Shutdown(ctx context.Context) error {
	var err error
	e.stop.Do(func() { err = e.client.Stop(ctx) })
	return err
}

// batch holds the OTLP messages of one export request. Everything is
// reused from one batch to the next.
type batch struct {
	resources []*tracepb.ResourceSpans // the first nres are this batch's
	resOf     []*resource.Resource     // resources[i] is resOf[i]'s
	scopes    []*tracepb.ScopeSpans    // the first nscope are this batch's
	scopeOf   []scopeKey
	encoded   [][]byte // the spans of scopes[i], encoded
	nres      int
	nscope    int

	// converted resources and scopes, kept across batches: an exporter
	// sees one resource and a handful of scopes.
	resCache   map[*resource.Resource]*resourcepb.Resource
	scopeCache map[instrumentation.Scope]*commonpb.InstrumentationScope
}

type scopeKey struct {
	res   *resource.Resource
	scope instrumentation.Scope
}

// fill encodes spans, grouped by resource and then scope as OTLP wants.
func (b *batch) fill(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	b.nres, b.nscope = 0, 0
	for _, s := range spans {
		i := b.scopeSpans(s.Resource(), s.InstrumentationScope())
		if r, ok := s.(*readOnly); ok && len(r.enc) > 0 {
			b.encoded[i] = append(b.encoded[i], r.enc...)
		} else {
			b.encoded[i] = appendSpan(b.encoded[i], 2, s)
		}
	}
	for i, ss := range b.scopes[:b.nscope] {
		ss.ProtoReflect().SetUnknown(b.encoded[i])
	}
	return b.resources[:b.nres]
}

// scopeSpans finds or adds the ScopeSpans of (res, scope) and returns its
// index; batches hold one or two of each, so a linear search is cheapest.
// The messages and buffers are reused from earlier batches.
func (b *batch) scopeSpans(res *resource.Resource, sc instrumentation.Scope) int {
	k := scopeKey{res, sc}
	for i := range b.nscope {
		if b.scopeOf[i] == k {
			return i
		}
	}
	var rs *tracepb.ResourceSpans
	for i := range b.nres {
		if b.resOf[i] == res {
			rs = b.resources[i]
		}
	}
	if rs == nil {
		if b.nres == len(b.resources) {
			b.resources, b.resOf = append(b.resources, new(tracepb.ResourceSpans)), append(b.resOf, nil)
		}
		rs, b.resOf[b.nres] = b.resources[b.nres], res
		b.nres++
		*rs = tracepb.ResourceSpans{Resource: b.resource(res), ScopeSpans: rs.ScopeSpans[:0]}
		if res != nil {
			rs.SchemaUrl = validUTF8(res.SchemaURL())
		}
	}
	i := b.nscope
	if i == len(b.scopes) {
		b.scopes, b.scopeOf, b.encoded = append(b.scopes, new(tracepb.ScopeSpans)), append(b.scopeOf, scopeKey{}), append(b.encoded, nil)
	}
	b.nscope++
	b.scopeOf[i], b.encoded[i] = k, b.encoded[i][:0]
	*b.scopes[i] = tracepb.ScopeSpans{Scope: b.scope(sc), SchemaUrl: validUTF8(sc.SchemaURL)}
	rs.ScopeSpans = append(rs.ScopeSpans, b.scopes[i])
	return i
}

func (b *batch) resource(res *resource.Resource) *resourcepb.Resource {
	if res == nil {
		return nil
	}
	if r, ok := b.resCache[res]; ok {
		return r
	}
	if b.resCache == nil || len(b.resCache) >= 16 {
		b.resCache = map[*resource.Resource]*resourcepb.Resource{}
	}
	r := &resourcepb.Resource{Attributes: keyValues(res.Attributes())}
	b.resCache[res] = r
	return r
}

func (b *batch) scope(sc instrumentation.Scope) *commonpb.InstrumentationScope {
	if sc == (instrumentation.Scope{}) {
		return nil
	}
	if s, ok := b.scopeCache[sc]; ok {
		return s
	}
	if b.scopeCache == nil || len(b.scopeCache) >= 64 {
		b.scopeCache = map[instrumentation.Scope]*commonpb.InstrumentationScope{}
	}
	s := &commonpb.InstrumentationScope{Name: validUTF8(sc.Name), Version: validUTF8(sc.Version), Attributes: keyValues(sc.Attributes.ToSlice())}
	b.scopeCache[sc] = s
	return s
}

// spanFlags: the W3C flags, and whether the parent is remote (known).
func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	f := uint32(tf) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if parent.IsRemote() {
		f |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return f
}

// spanKind maps trace.SpanKind onto OTLP's numbering (unspecified = 0).
func spanKind(k trace.SpanKind) int32 {
	switch k {
	case trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer:
		return int32(k)
	}
	return 0
}

func statusCode(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

func clamp32(v int) uint32 { return uint32(min(max(v, 0), math.MaxUint32)) }

// keyValues converts attributes that are kept (resource, scope).
func keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, len(attrs))
	for i, kv := range attrs {
		out[i] = &commonpb.KeyValue{Key: validUTF8(string(kv.Key)), Value: anyValue(kv.Value)}
	}
	return out
}

// anyValue converts any attribute value, allocating.
func anyValue(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.STRING:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: validUTF8(v.AsString())}}
	case attribute.BOOLSLICE:
		return array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return array(v.AsStringSlice(), attribute.StringValue)
	}
	return &commonpb.AnyValue{} // INVALID, as the SDK's transform sends it
}

func array[T any](vs []T, value func(T) attribute.Value) *commonpb.AnyValue {
	out := make([]*commonpb.AnyValue, len(vs))
	for i, x := range vs {
		out[i] = anyValue(value(x))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: out}}}
}
