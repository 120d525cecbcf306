package exporter

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/glsotel/glsotel/internal/otlptest"
)

// checkWire asserts that our encoding of req is proto.Marshal's, byte for
// byte.
func checkWire(t *testing.T, req *coltracepb.ExportTraceServiceRequest) {
	t.Helper()
	want, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	data, n, ok := marshalRequest(req)
	if n != len(want) {
		t.Errorf("size %d, want %d", n, len(want))
	}
	if !ok {
		t.Fatal("marshalRequest refused the request (an unknown field, or its own size check failed)")
	}
	defer data.Free()
	if got := data.Materialize(); !bytes.Equal(got, want) {
		var dec coltracepb.ExportTraceServiceRequest
		derr := proto.Unmarshal(got, &dec)
		t.Fatalf("encoding differs from proto.Marshal\n got %x\nwant %x\ndecoded (%v): %v", got, want, derr, &dec)
	}
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

// everyField sets every field the encoder writes, with edge values: zero
// values inside oneofs, negative numbers, empty and nested containers.
func everyField() *coltracepb.ExportTraceServiceRequest {
	values := []*commonpb.AnyValue{
		str(""), str("x"),
		{Value: &commonpb.AnyValue_BoolValue{}}, {Value: &commonpb.AnyValue_BoolValue{BoolValue: true}},
		{Value: &commonpb.AnyValue_IntValue{}}, {Value: &commonpb.AnyValue_IntValue{IntValue: -1}}, {Value: &commonpb.AnyValue_IntValue{IntValue: math.MaxInt64}},
		{Value: &commonpb.AnyValue_DoubleValue{}}, {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(-1)}},
		{Value: &commonpb.AnyValue_BytesValue{}}, {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1}}},
		{Value: &commonpb.AnyValue_ArrayValue{}}, {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{}}},
		{Value: &commonpb.AnyValue_KvlistValue{}}, {Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{}}},
		{},
	}
	values = append(values,
		&commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: values}}},
		&commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{
			{Key: "k", Value: str("v")}, {Key: "nil"}, {Value: str("no key")},
		}}}})
	var kvs []*commonpb.KeyValue
	for _, v := range values {
		kvs = append(kvs, &commonpb.KeyValue{Key: "key", Value: v})
	}
	long := string(bytes.Repeat([]byte("é"), 200)) // lengths of two-byte varints
	span := &tracepb.Span{
		TraceId: bytes.Repeat([]byte{0xab}, 16), SpanId: bytes.Repeat([]byte{0xcd}, 8), TraceState: "a=1",
		ParentSpanId: bytes.Repeat([]byte{0xef}, 8), Flags: 0x301, Name: long, Kind: tracepb.Span_SPAN_KIND_CONSUMER,
		StartTimeUnixNano: 1, EndTimeUnixNano: math.MaxUint64, Attributes: kvs, DroppedAttributesCount: 1,
		DroppedEventsCount: 300, DroppedLinksCount: math.MaxUint32,
		Status: &tracepb.Status{Message: "m", Code: tracepb.Status_STATUS_CODE_ERROR},
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{
			Resource: &resourcepb.Resource{Attributes: kvs[:3], DroppedAttributesCount: 2}, SchemaUrl: "https://r",
			ScopeSpans: []*tracepb.ScopeSpans{
				{Scope: &commonpb.InstrumentationScope{Name: "n", Version: "v", Attributes: kvs[3:5], DroppedAttributesCount: 3}, Spans: []*tracepb.Span{span, {}, {Status: &tracepb.Status{}}}, SchemaUrl: "https://s"},
				{},
				{Scope: &commonpb.InstrumentationScope{}},
			},
		},
		{},
		{Resource: &resourcepb.Resource{}},
	}}
}

// randomRequest is a request of random shape and content, drawn from what
// the encoder writes.
func randomRequest(r *rand.Rand) *coltracepb.ExportTraceServiceRequest {
	s := func() string { return string(bytes.Repeat([]byte{'a' + byte(r.IntN(26))}, r.IntN(3)*r.IntN(100))) }
	var value func(depth int) *commonpb.AnyValue
	kv := func(depth int) *commonpb.KeyValue {
		k := &commonpb.KeyValue{Key: s()}
		if r.IntN(8) > 0 {
			k.Value = value(depth)
		}
		return k
	}
	value = func(depth int) *commonpb.AnyValue {
		switch n := r.IntN(8); {
		case n == 0:
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: r.IntN(2) == 1}}
		case n == 1:
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2))}}
		case n == 2:
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: r.NormFloat64()}}
		case n == 3 && depth < 3:
			a := &commonpb.ArrayValue{}
			for range r.IntN(4) {
				a.Values = append(a.Values, value(depth+1))
			}
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: a}}
		case n == 4 && depth < 3:
			l := &commonpb.KeyValueList{}
			for range r.IntN(4) {
				l.Values = append(l.Values, kv(depth+1))
			}
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: l}}
		case n == 5:
			return &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte(s())}}
		}
		return str(s())
	}
	kvs := func() []*commonpb.KeyValue {
		var out []*commonpb.KeyValue
		for range r.IntN(12) {
			out = append(out, kv(0))
		}
		return out
	}
	id := func(n int) []byte {
		if r.IntN(10) == 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	u := func() uint64 { return r.Uint64() >> r.IntN(65) }
	req := &coltracepb.ExportTraceServiceRequest{}
	for range r.IntN(3) {
		rs := &tracepb.ResourceSpans{SchemaUrl: s()}
		if r.IntN(4) > 0 {
			rs.Resource = &resourcepb.Resource{Attributes: kvs(), DroppedAttributesCount: uint32(u())}
		}
		for range r.IntN(3) {
			ss := &tracepb.ScopeSpans{SchemaUrl: s()}
			if r.IntN(4) > 0 {
				ss.Scope = &commonpb.InstrumentationScope{Name: s(), Version: s(), Attributes: kvs(), DroppedAttributesCount: uint32(u())}
			}
			for range r.IntN(20) {
				sp := &tracepb.Span{
					TraceId: id(16), SpanId: id(8), ParentSpanId: id(8), TraceState: s(), Flags: uint32(u()), Name: s(),
					Kind: tracepb.Span_SpanKind(r.IntN(6)), StartTimeUnixNano: u(), EndTimeUnixNano: u(), Attributes: kvs(),
					DroppedAttributesCount: uint32(u()), DroppedEventsCount: uint32(u()), DroppedLinksCount: uint32(u()),
				}
				if r.IntN(4) > 0 {
					sp.Status = &tracepb.Status{Message: s(), Code: tracepb.Status_StatusCode(r.IntN(3))}
				}
				ss.Spans = append(ss.Spans, sp)
			}
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		req.ResourceSpans = append(req.ResourceSpans, rs)
	}
	return req
}

func TestWireMatchesProto(t *testing.T) {
	t.Run("every field", func(t *testing.T) { checkWire(t, everyField()) })
	t.Run("empty", func(t *testing.T) { checkWire(t, &coltracepb.ExportTraceServiceRequest{}) })
	t.Run("random", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			checkWire(t, randomRequest(r))
		}
	})
	t.Run("our batches", func(t *testing.T) {
		// TestTransformMatchesSDK's batches go through checkWire in
		// captureClient; here a batch as the agent sends it.
		var b batch
		spans := make([]Span, 512)
		for i := range spans {
			spans[i] = benchSpan(i)
		}
		res := newResource(Config{ServiceName: "users"}, target)
		ro := make([]sdktrace.ReadOnlySpan, len(spans))
		for i, s := range spans {
			ro[i] = newReadOnly(s, res)
		}
		checkWire(t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: b.fill(ro)})
	})
}

// Requests holding fields the encoder does not write go to protobuf-go:
// what reaches the collector is never missing a field.
func TestWireFallsBack(t *testing.T) {
	with := func(f func(sp *tracepb.Span, rs *tracepb.ResourceSpans)) *coltracepb.ExportTraceServiceRequest {
		req := everyField()
		f(req.ResourceSpans[0].ScopeSpans[0].Spans[0], req.ResourceSpans[0])
		return req
	}
	for name, req := range map[string]*coltracepb.ExportTraceServiceRequest{
		"event": with(func(sp *tracepb.Span, _ *tracepb.ResourceSpans) { sp.Events = []*tracepb.Span_Event{{Name: "e"}} }),
		"link":  with(func(sp *tracepb.Span, _ *tracepb.ResourceSpans) { sp.Links = []*tracepb.Span_Link{{}} }),
		"entity ref": with(func(_ *tracepb.Span, rs *tracepb.ResourceSpans) {
			rs.Resource.EntityRefs = []*commonpb.EntityRef{{Type: "t"}}
		}),
		"key index": with(func(sp *tracepb.Span, _ *tracepb.ResourceSpans) { sp.Attributes[0].KeyStrindex = 1 }),
		"value index": with(func(sp *tracepb.Span, _ *tracepb.ResourceSpans) {
			sp.Attributes[0].Value = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValueStrindex{StringValueStrindex: 1}}
		}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, ok := marshalRequest(req); ok {
				t.Fatal("marshalRequest encoded a request with a field it does not write")
			}
			data, err := wireCodec{}.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := proto.Marshal(req)
			if !bytes.Equal(data.Materialize(), want) {
				t.Error("the codec's fallback is not proto.Marshal's encoding")
			}
		})
	}
}

// Every field of every message an export request can hold is either
// written by the encoder or makes it fall back. A new OTLP release that
// adds a field fails here until the encoder learns it.
func TestWireFieldsKnown(t *testing.T) {
	known := map[protoreflect.FullName][]protoreflect.FieldNumber{
		"opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest": {1},
		"opentelemetry.proto.trace.v1.ResourceSpans":                       {1, 2, 3},
		"opentelemetry.proto.resource.v1.Resource":                         {1, 2, 3},
		"opentelemetry.proto.trace.v1.ScopeSpans":                          {1, 2, 3},
		"opentelemetry.proto.common.v1.InstrumentationScope":               {1, 2, 3, 4},
		"opentelemetry.proto.trace.v1.Span":                                {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		"opentelemetry.proto.trace.v1.Status":                              {2, 3},
		"opentelemetry.proto.common.v1.KeyValue":                           {1, 2, 3},
		"opentelemetry.proto.common.v1.AnyValue":                           {1, 2, 3, 4, 5, 6, 7, 8},
		"opentelemetry.proto.common.v1.ArrayValue":                         {1},
		"opentelemetry.proto.common.v1.KeyValueList":                       {1},
	}
	// Messages the encoder never enters (a request holding one falls back).
	skipped := map[protoreflect.FullName]bool{
		"opentelemetry.proto.trace.v1.Span.Event": true,
		"opentelemetry.proto.trace.v1.Span.Link":  true,
		"opentelemetry.proto.common.v1.EntityRef": true,
	}
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] || skipped[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		want, ok := known[md.FullName()]
		if !ok {
			t.Errorf("message %s: unknown to the encoder", md.FullName())
			return
		}
		fields := md.Fields()
		if fields.Len() != len(want) {
			t.Errorf("message %s has %d fields, the encoder knows %v", md.FullName(), fields.Len(), want)
		}
		for _, n := range want {
			if fields.ByNumber(n) == nil {
				t.Errorf("message %s: no field %d", md.FullName(), n)
			}
		}
		for i := range fields.Len() {
			if m := fields.Get(i).Message(); m != nil {
				walk(m)
			}
		}
	}
	walk((&coltracepb.ExportTraceServiceRequest{}).ProtoReflect().Descriptor())
}

// The OTLP/gRPC exporter encodes through wireCodec (grpc's ForceCodecV2
// is experimental: this notices if it stops taking effect).
func TestWireCodecInUse(t *testing.T) {
	recv := otlptest.Start(t)
	before := wireRequests.Load()
	exportSample(t, map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": recv.Endpoint}, nil)
	if wireRequests.Load() == before {
		t.Error("the OTLP/gRPC export did not go through wireCodec")
	}
	if n := len(recv.Spans()); n != 3 {
		t.Errorf("receiver got %d spans, want 3", n)
	}
}

// Invalid UTF-8 (a request path "/%ff" decodes to a lone 0xff byte) is
// replaced, not a reason to lose the batch, over both protocols.
func TestInvalidUTF8(t *testing.T) {
	grpcRecv := otlptest.Start(t)
	httpRecv := &otlptest.Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("bad request: %v", err)
		}
		httpRecv.Export(r.Context(), req)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		protocol string
		recv     *otlptest.Receiver
		endpoint string
	}{{"grpc", grpcRecv, grpcRecv.Endpoint}, {"http/protobuf", httpRecv, srv.URL}} {
		t.Run(tc.protocol, func(t *testing.T) {
			e, err := New(context.Background(), config(t, map[string]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL": tc.protocol, "OTEL_EXPORTER_OTLP_ENDPOINT": tc.endpoint,
			}), target, nil)
			if err != nil {
				t.Fatal(err)
			}
			good := benchSpan(1)
			bad := benchSpan(2)
			bad.Name = "GET /\xff"
			bad.Attributes = []attribute.KeyValue{attribute.String("url.path", "/\xff"), attribute.String("\xfe", "k"),
				attribute.StringSlice("s", []string{"\xfd"})}
			bad.Status, bad.StatusMsg = 2, "\xfc"
			bad.Kind = trace.SpanKindServer
			e.Export(good)
			e.Export(bad)
			if err := e.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := tc.recv.Spans()
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want 2", len(spans))
			}
			for _, s := range spans {
				if s.Name == "GET /\uFFFD" {
					if s.Attrs["url.path"] != "/\uFFFD" || s.Attrs["\uFFFD"] != "k" {
						t.Errorf("attributes %v", s.Attrs)
					}
					return
				}
			}
			t.Errorf("no span named %q in %v", "GET /\uFFFD", spans)
		})
	}
}

// A request over the size bound is refused, as the SDK's client refuses
// it (its own check is off: wireCodec does it).
func TestWireRequestTooLarge(t *testing.T) {
	big := strings.Repeat("x", maxRequestSize)
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{SchemaUrl: big}}}
	if _, err := (wireCodec{}).Marshal(req); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Marshal of a %d-byte request: %v, want too large", maxRequestSize+4, err)
	}
	// The same bound when protobuf-go encodes (a field the encoder does
	// not write).
	req.ResourceSpans[0].Resource = &resourcepb.Resource{EntityRefs: []*commonpb.EntityRef{{Type: "t"}}}
	if _, err := (wireCodec{}).Marshal(req); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Marshal of a large request protobuf-go encodes: %v, want too large", err)
	}
	req.ResourceSpans[0].Resource = nil
	req.ResourceSpans[0].SchemaUrl = big[:maxRequestSize-16]
	data, err := (wireCodec{}).Marshal(req)
	if err != nil {
		t.Fatalf("a request just under the bound: %v", err)
	}
	data.Free()
}
