package exporter

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

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

// otlpExporter is the SDK's otlptrace.Exporter with a transform that
// reuses its messages: the SDK's client (otlptracegrpc, otlptracehttp)
// still does the connection, retries, headers, TLS, compression and the
// wire format. The SDK's own transform allocates a KeyValue, an AnyValue
// and a oneof wrapper per attribute on every batch, 2.1 KiB and 1.3 µs per
// span, the largest part of the agent's cost per span.
//
// Spans are expected to have no events and no links (glsotel's never do);
// those are not converted.
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
// reused from one batch to the next; slices are sized before any pointer
// into them is taken.
type batch struct {
	resources []*tracepb.ResourceSpans // the first nres are this batch's
	resOf     []*resource.Resource     // resources[i] is resOf[i]'s
	scopes    []*tracepb.ScopeSpans    // the first nscope are this batch's
	scopeOf   []scopeKey
	nres      int
	nscope    int

	spans  []tracepb.Span
	status []tracepb.Status
	ids    []byte // trace, span and parent ids, 32 bytes per span
	attrs  attrArena

	// converted resources and scopes, kept across batches: an exporter
	// sees one resource and a handful of scopes.
	resCache   map[*resource.Resource]*resourcepb.Resource
	scopeCache map[instrumentation.Scope]*commonpb.InstrumentationScope
}

type scopeKey struct {
	res   *resource.Resource
	scope instrumentation.Scope
}

// fill converts spans, grouped by resource and then scope as OTLP wants.
func (b *batch) fill(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	n, nattrs := len(spans), 0
	for _, s := range spans {
		nattrs += len(s.Attributes())
	}
	b.spans, b.status = grow(b.spans, n), grow(b.status, n)
	if cap(b.ids) < 32*n {
		b.ids = make([]byte, 32*n)
	}
	b.attrs.reset(nattrs)
	b.nres, b.nscope = 0, 0
	for i, s := range spans {
		ps := &b.spans[i]
		b.span(ps, s, &b.status[i], b.ids[32*i:32*i+32])
		ss := b.scopeSpans(s.Resource(), s.InstrumentationScope())
		ss.Spans = append(ss.Spans, ps)
	}
	return b.resources[:b.nres]
}

// scopeSpans finds or adds the ScopeSpans of (res, scope); batches hold
// one or two of each, so a linear search is cheapest. The messages are
// reused from earlier batches.
func (b *batch) scopeSpans(res *resource.Resource, sc instrumentation.Scope) *tracepb.ScopeSpans {
	k := scopeKey{res, sc}
	for i := range b.nscope {
		if b.scopeOf[i] == k {
			return b.scopes[i]
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
	if b.nscope == len(b.scopes) {
		b.scopes, b.scopeOf = append(b.scopes, new(tracepb.ScopeSpans)), append(b.scopeOf, scopeKey{})
	}
	ss := b.scopes[b.nscope]
	b.scopeOf[b.nscope] = k
	b.nscope++
	*ss = tracepb.ScopeSpans{Scope: b.scope(sc), SchemaUrl: validUTF8(sc.SchemaURL), Spans: ss.Spans[:0]}
	rs.ScopeSpans = append(rs.ScopeSpans, ss)
	return ss
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

// span converts s into ps as the SDK's transform does.
func (b *batch) span(ps *tracepb.Span, s sdktrace.ReadOnlySpan, st *tracepb.Status, ids []byte) {
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(ids[0:16], tid[:])
	copy(ids[16:24], sid[:])
	stat := s.Status()
	*st = tracepb.Status{Code: statusCode(stat.Code), Message: validUTF8(stat.Description)}
	*ps = tracepb.Span{
		TraceId:                ids[0:16:16],
		SpanId:                 ids[16:24:24],
		TraceState:             sc.TraceState().String(),
		Name:                   validUTF8(s.Name()),
		Kind:                   tracepb.Span_SpanKind(spanKind(s.SpanKind())),
		StartTimeUnixNano:      uint64(max(0, s.StartTime().UnixNano())),
		EndTimeUnixNano:        uint64(max(0, s.EndTime().UnixNano())),
		Attributes:             b.attrs.keyValues(s.Attributes()),
		DroppedAttributesCount: clamp32(s.DroppedAttributes()),
		DroppedEventsCount:     clamp32(s.DroppedEvents()),
		DroppedLinksCount:      clamp32(s.DroppedLinks()),
		Status:                 st,
		Flags:                  spanFlags(sc.TraceFlags(), parent),
	}
	if psid := parent.SpanID(); psid.IsValid() {
		copy(ids[24:32], psid[:])
		ps.ParentSpanId = ids[24:32:32]
	}
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

// attrArena backs the attributes of one batch.
type attrArena struct {
	kvs  []commonpb.KeyValue
	ptrs []*commonpb.KeyValue
	vals []commonpb.AnyValue
	strs []commonpb.AnyValue_StringValue
	ints []commonpb.AnyValue_IntValue
	n    int // used
}

// reset makes room for n attributes; pointers taken before are invalid.
func (a *attrArena) reset(n int) {
	a.kvs, a.vals = grow(a.kvs, n), grow(a.vals, n)
	a.strs, a.ints = grow(a.strs, n), grow(a.ints, n)
	if cap(a.ptrs) < n {
		a.ptrs = make([]*commonpb.KeyValue, n)
	}
	a.ptrs = a.ptrs[:n]
	a.n = 0
}

// keyValues converts attrs into arena memory; reset must have counted them.
func (a *attrArena) keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := a.ptrs[a.n : a.n+len(attrs) : a.n+len(attrs)]
	for j, kv := range attrs {
		i := a.n + j
		v := &a.vals[i]
		switch kv.Value.Type() {
		case attribute.STRING:
			a.strs[i] = commonpb.AnyValue_StringValue{StringValue: validUTF8(kv.Value.AsString())}
			*v = commonpb.AnyValue{Value: &a.strs[i]}
		case attribute.INT64:
			a.ints[i] = commonpb.AnyValue_IntValue{IntValue: kv.Value.AsInt64()}
			*v = commonpb.AnyValue{Value: &a.ints[i]}
		default:
			*v = commonpb.AnyValue{Value: anyValue(kv.Value).Value}
		}
		a.kvs[i] = commonpb.KeyValue{Key: validUTF8(string(kv.Key)), Value: v}
		out[j] = &a.kvs[i]
	}
	a.n += len(attrs)
	return out
}

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
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "INVALID"}}
}

func array[T any](vs []T, value func(T) attribute.Value) *commonpb.AnyValue {
	out := make([]*commonpb.AnyValue, len(vs))
	for i, x := range vs {
		out[i] = anyValue(value(x))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: out}}}
}

// validUTF8 replaces invalid UTF-8 with U+FFFD. OTLP strings must be valid
// UTF-8: protobuf-go refuses to encode the whole request otherwise, and a
// collector rejects it, so one request path like "/%ff" (net/url decodes
// it to a lone 0xff byte) would lose every span of its batch.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// grow returns s with length n, reallocating (never copying: every
// element is overwritten before use) when it is too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
