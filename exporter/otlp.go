package exporter

import (
	"math"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// encodeResource returns the content of res's Resource message.
func encodeResource(res *resource.Resource) []byte {
	var r []byte
	for _, kv := range res.Attributes() {
		r = appendKeyValue(r, 1, kv)
	}
	return r
}

// encodeScope returns the content of sc's InstrumentationScope message.
func encodeScope(sc instrumentation.Scope) []byte {
	s := appendOptional(nil, 1, validUTF8(sc.Name))
	s = appendOptional(s, 2, validUTF8(sc.Version))
	for _, kv := range sc.Attributes.ToSlice() {
		s = appendKeyValue(s, 3, kv)
	}
	return s
}

// encodedScope is scope's InstrumentationScope message, in every request.
var encodedScope = encodeScope(scope)

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
