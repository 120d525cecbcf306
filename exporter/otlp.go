package exporter

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// otlpExporter is the SDK's otlptrace.Exporter with its own encoding: the
// SDK's client (otlptracegrpc, otlptracehttp) still does the connection,
// retries, headers, TLS, compression, the size bound and the protobuf
// encoding of the request. The SDK's transform builds a message tree of
// each span (a KeyValue, an AnyValue and a oneof wrapper per attribute)
// that protobuf-go then sizes and encodes, validating every string again:
// most of the agent's CPU per span. Here each span is encoded once,
// straight into bytes (appendSpan), and so are the resource and scope
// (once, cached); a request's ResourceSpans messages are empty and carry
// their content as unknown fields, which protobuf-go copies as they are,
// so the collector decodes them as the message's fields.
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
	resources []*tracepb.ResourceSpans // the first n are this batch's
	encoded   [][]byte                 // resources[i]'s content
	groups    []scopeKey               // this batch's (resource, scope) pairs, as they first come
	groupOf   []int                    // the group of each span

	// encoded resources and scopes, kept across batches: an exporter sees
	// one resource and a handful of scopes.
	resCache   map[*resource.Resource][]byte
	scopeCache map[instrumentation.Scope][]byte
}

type scopeKey struct {
	res   *resource.Resource
	scope instrumentation.Scope
}

// fill encodes spans, grouped by resource and then scope as OTLP wants:
// one ResourceSpans per resource, in the order the spans bring them.
func (b *batch) fill(spans []sdktrace.ReadOnlySpan) []*tracepb.ResourceSpans {
	b.groups, b.groupOf = b.groups[:0], b.groupOf[:0]
	for _, s := range spans {
		b.groupOf = append(b.groupOf, b.group(scopeKey{s.Resource(), s.InstrumentationScope()}))
	}
	n := 0
	for g, k := range b.groups {
		if slices.IndexFunc(b.groups[:g], func(o scopeKey) bool { return o.res == k.res }) >= 0 {
			continue // encoded with the resource's first group
		}
		if n == len(b.resources) {
			b.resources, b.encoded = append(b.resources, new(tracepb.ResourceSpans)), append(b.encoded, nil)
		}
		b.encoded[n] = b.resourceSpans(b.encoded[n][:0], g, spans)
		*b.resources[n] = tracepb.ResourceSpans{}
		b.resources[n].ProtoReflect().SetUnknown(b.encoded[n])
		n++
	}
	return b.resources[:n]
}

// group returns the index of k in b.groups, adding it; batches hold one
// or two, so a linear search is cheapest.
func (b *batch) group(k scopeKey) int {
	for i, o := range b.groups {
		if o == k {
			return i
		}
	}
	b.groups = append(b.groups, k)
	return len(b.groups) - 1
}

// resourceSpans appends the content of the ResourceSpans message of the
// resource of group first: its scopes' spans, group by group.
func (b *batch) resourceSpans(buf []byte, first int, spans []sdktrace.ReadOnlySpan) []byte {
	res := b.groups[first].res
	if res != nil {
		buf = appendBytes(buf, 1, b.resource(res))
	}
	for g, k := range b.groups[first:] {
		if k.res != res {
			continue
		}
		var at int
		buf, at = openField(buf, 2, 3) // a ScopeSpans: usually 16 KiB-2 MiB
		if k.scope != (instrumentation.Scope{}) {
			buf = appendBytes(buf, 1, b.scope(k.scope))
		}
		for i, s := range spans {
			if b.groupOf[i] != first+g {
				continue
			}
			if r, ok := s.(*readOnly); ok && len(r.enc) > 0 {
				buf = append(buf, r.enc...)
			} else {
				buf = appendSpan(buf, 2, s)
			}
		}
		buf = appendOptional(buf, 3, validUTF8(k.scope.SchemaURL))
		buf = closeField(buf, at, 3)
	}
	if res != nil {
		buf = appendOptional(buf, 3, validUTF8(res.SchemaURL()))
	}
	return buf
}

// resource returns the content of res's Resource message.
func (b *batch) resource(res *resource.Resource) []byte {
	if r, ok := b.resCache[res]; ok {
		return r
	}
	if b.resCache == nil || len(b.resCache) >= 16 {
		b.resCache = map[*resource.Resource][]byte{}
	}
	var r []byte
	for _, kv := range res.Attributes() {
		r = appendKeyValue(r, 1, kv)
	}
	b.resCache[res] = r
	return r
}

// scope returns the content of sc's InstrumentationScope message.
func (b *batch) scope(sc instrumentation.Scope) []byte {
	if s, ok := b.scopeCache[sc]; ok {
		return s
	}
	if b.scopeCache == nil || len(b.scopeCache) >= 64 {
		b.scopeCache = map[instrumentation.Scope][]byte{}
	}
	s := appendOptional(nil, 1, validUTF8(sc.Name))
	s = appendOptional(s, 2, validUTF8(sc.Version))
	for _, kv := range sc.Attributes.ToSlice() {
		s = appendKeyValue(s, 3, kv)
	}
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
