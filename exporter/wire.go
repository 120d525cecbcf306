package exporter

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"

	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// wireCodec is the gRPC codec of the OTLP/gRPC client: export requests are
// encoded by appendRequest, everything else (the responses, a request with
// fields appendRequest does not know) by gRPC's proto codec. protobuf-go's
// generic marshal (a Size pass, then a table-driven encode that validates
// every string again) was half of the export path's CPU per span. The encoder
// writes the bytes proto.Marshal writes (fields in number order, proto3
// defaults left out), except that it does not check strings for UTF-8:
// batch makes them valid before. The SDK's client still does the
// connection, retries, headers, compression and configuration.
type wireCodec struct{}

// wireRequests counts the requests wireCodec encoded (TestWireCodecInUse).
var wireRequests atomic.Uint64

func (wireCodec) Name() string { return protoenc.Name }

// maxRequestSize bounds an export request before compression, as the SDK's
// client does by default (otlptracegrpc.WithMaxRequestSize). The client's
// own check is turned off, since it costs a protobuf-go Size pass per
// request; the encoder knows the size anyway.
const maxRequestSize = 64 << 20

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	protoCodec := encoding.GetCodecV2(protoenc.Name)
	req, ok := v.(*coltracepb.ExportTraceServiceRequest)
	if !ok {
		return protoCodec.Marshal(v)
	}
	data, n, ok := marshalRequest(req)
	if !ok && n <= maxRequestSize { // a field the encoder does not write, or its self-check failed
		var err error
		if data, err = protoCodec.Marshal(v); err != nil {
			return nil, err
		}
		n = data.Len()
	}
	if n > maxRequestSize {
		data.Free()
		return nil, fmt.Errorf("OTLP request too large: %d bytes exceed %d", n, maxRequestSize)
	}
	if ok {
		wireRequests.Add(1)
	}
	return data, nil
}

func (wireCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2(protoenc.Name).Unmarshal(data, v)
}

// marshalRequest encodes req into a pooled buffer and returns its size. It
// reports false, having written nothing, when req holds a field the
// encoder does not write (n is 0: unknown), when n is over maxRequestSize,
// or when the encoder fails its own size check: a wrong encoding must
// never reach a collector nor crash the agent.
func marshalRequest(req *coltracepb.ExportTraceServiceRequest) (data mem.BufferSlice, n int, ok bool) {
	var s sizer
	if n = s.request(req); s.unknown {
		return nil, 0, false
	}
	if n > maxRequestSize {
		return nil, n, false
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(n)
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
		if !ok {
			pool.Put(buf)
		}
	}()
	w := wire{b: (*buf)[:n], i: n}
	w.request(req)
	if w.i != 0 {
		return nil, n, false
	}
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, n, true
}

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func tag(num, typ int) uint64 { return uint64(num)<<3 | uint64(typ) }

func sizeVarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// sizeField is the size of a length-delimited field of n bytes.
func sizeField(num, n int) int { return sizeVarint(tag(num, wireBytes)) + sizeVarint(uint64(n)) + n }

func sizeVarintField(num int, v uint64) int { return sizeVarint(tag(num, wireVarint)) + sizeVarint(v) }

// sizeOptional is the size of a string or bytes field, left out when
// empty as proto3 leaves defaults out.
func sizeOptional[T string | []byte](num int, b T) int {
	if len(b) == 0 {
		return 0
	}
	return sizeField(num, len(b))
}

func sizeUint(num int, v uint64) int {
	if v == 0 {
		return 0
	}
	return sizeVarintField(num, v)
}

// sizer computes encoded sizes; unknown is set when a message holds a field
// wire does not write (events, links, entity refs, string-table indexes:
// glsotel never sets them).
type sizer struct{ unknown bool }

func (s *sizer) request(r *coltracepb.ExportTraceServiceRequest) int {
	n := 0
	for _, rs := range r.ResourceSpans {
		n += sizeField(1, s.resourceSpans(rs))
	}
	return n
}

func (s *sizer) resourceSpans(rs *tracepb.ResourceSpans) int {
	if rs == nil {
		s.unknown = true
		return 0
	}
	n := sizeOptional(3, rs.SchemaUrl)
	if rs.Resource != nil {
		n += sizeField(1, s.resource(rs.Resource))
	}
	for _, ss := range rs.ScopeSpans {
		n += sizeField(2, s.scopeSpans(ss))
	}
	return n
}

func (s *sizer) resource(r *resourcepb.Resource) int {
	if len(r.EntityRefs) > 0 {
		s.unknown = true
	}
	return s.keyValues(1, r.Attributes) + sizeUint(2, uint64(r.DroppedAttributesCount))
}

func (s *sizer) scopeSpans(ss *tracepb.ScopeSpans) int {
	if ss == nil {
		s.unknown = true
		return 0
	}
	n := sizeOptional(3, ss.SchemaUrl)
	if sc := ss.Scope; sc != nil {
		n += sizeField(1, sizeOptional(1, sc.Name)+sizeOptional(2, sc.Version)+s.keyValues(3, sc.Attributes)+sizeUint(4, uint64(sc.DroppedAttributesCount)))
	}
	for _, sp := range ss.Spans {
		n += sizeField(2, s.span(sp))
	}
	return n
}

func (s *sizer) span(sp *tracepb.Span) int {
	if sp == nil || len(sp.Events) > 0 || len(sp.Links) > 0 {
		s.unknown = true
		return 0
	}
	n := sizeOptional(1, sp.TraceId) + sizeOptional(2, sp.SpanId) + sizeOptional(4, sp.ParentSpanId)
	n += sizeOptional(3, sp.TraceState) + sizeOptional(5, sp.Name) + sizeUint(6, uint64(int64(sp.Kind)))
	if sp.StartTimeUnixNano != 0 {
		n += 1 + 8
	}
	if sp.EndTimeUnixNano != 0 {
		n += 1 + 8
	}
	n += s.keyValues(9, sp.Attributes) + sizeUint(10, uint64(sp.DroppedAttributesCount))
	n += sizeUint(12, uint64(sp.DroppedEventsCount)) + sizeUint(14, uint64(sp.DroppedLinksCount))
	if st := sp.Status; st != nil {
		n += sizeField(15, sizeOptional(2, st.Message)+sizeUint(3, uint64(int64(st.Code))))
	}
	if sp.Flags != 0 {
		n += 2 + 4 // field 16 takes a two-byte tag
	}
	return n
}

func (s *sizer) keyValues(num int, kvs []*commonpb.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += sizeField(num, s.keyValue(kv))
	}
	return n
}

func (s *sizer) keyValue(kv *commonpb.KeyValue) int {
	if kv == nil || kv.KeyStrindex != 0 {
		s.unknown = true
		return 0
	}
	n := sizeOptional(1, kv.Key)
	if kv.Value != nil {
		n += sizeField(2, s.anyValue(kv.Value))
	}
	return n
}

func (s *sizer) anyValue(v *commonpb.AnyValue) int {
	switch x := v.Value.(type) {
	case nil:
		return 0
	case *commonpb.AnyValue_StringValue:
		return sizeField(1, len(x.StringValue))
	case *commonpb.AnyValue_BoolValue:
		return 2
	case *commonpb.AnyValue_IntValue:
		return sizeVarintField(3, uint64(x.IntValue))
	case *commonpb.AnyValue_DoubleValue:
		return 1 + 8
	case *commonpb.AnyValue_ArrayValue:
		n := 0
		if x.ArrayValue != nil {
			for _, e := range x.ArrayValue.Values {
				if e == nil {
					s.unknown = true
					return 0
				}
				n += sizeField(1, s.anyValue(e))
			}
		}
		return sizeField(5, n)
	case *commonpb.AnyValue_KvlistValue:
		n := 0
		if x.KvlistValue != nil {
			n = s.keyValues(1, x.KvlistValue.Values)
		}
		return sizeField(6, n)
	case *commonpb.AnyValue_BytesValue:
		return sizeField(7, len(x.BytesValue))
	}
	s.unknown = true
	return 0
}

// wire encodes backwards into b, from b[i] down: a message's content is
// written before its length prefix, so no size is computed twice. Fields
// and repeated elements are written last first.
type wire struct {
	b []byte
	i int
}

func (w *wire) varint(v uint64) {
	n := sizeVarint(v)
	w.i -= n
	p := w.b[w.i : w.i+n]
	for j := 0; j < n-1; j++ {
		p[j] = byte(v) | 0x80
		v >>= 7
	}
	p[n-1] = byte(v)
}

// lenPrefix closes a length-delimited field whose content started at end.
func (w *wire) lenPrefix(num, end int) {
	w.varint(uint64(end - w.i))
	w.varint(tag(num, wireBytes))
}

// field writes a string or bytes field, even an empty one (a set oneof).
func field[T string | []byte](w *wire, num int, b T) {
	end := w.i
	w.i -= len(b)
	copy(w.b[w.i:], b)
	w.lenPrefix(num, end)
}

// optional writes a string or bytes field unless it is empty.
func optional[T string | []byte](w *wire, num int, b T) {
	if len(b) > 0 {
		field(w, num, b)
	}
}

func (w *wire) uint(num int, v uint64) {
	if v != 0 {
		w.varint(v)
		w.varint(tag(num, wireVarint))
	}
}

func (w *wire) fixed64(num int, v uint64) {
	w.i -= 8
	binary.LittleEndian.PutUint64(w.b[w.i:], v)
	w.varint(tag(num, wireFixed64))
}

// messages writes each of ms as field num, last first.
func messages[T any](w *wire, num int, ms []T, write func(*wire, T)) {
	for i := len(ms) - 1; i >= 0; i-- {
		end := w.i
		write(w, ms[i])
		w.lenPrefix(num, end)
	}
}

func (w *wire) request(r *coltracepb.ExportTraceServiceRequest) {
	messages(w, 1, r.ResourceSpans, (*wire).resourceSpans)
}

func (w *wire) resourceSpans(rs *tracepb.ResourceSpans) {
	optional(w, 3, rs.SchemaUrl)
	messages(w, 2, rs.ScopeSpans, (*wire).scopeSpans)
	if r := rs.Resource; r != nil {
		end := w.i
		w.uint(2, uint64(r.DroppedAttributesCount))
		w.keyValues(1, r.Attributes)
		w.lenPrefix(1, end)
	}
}

func (w *wire) scopeSpans(ss *tracepb.ScopeSpans) {
	optional(w, 3, ss.SchemaUrl)
	messages(w, 2, ss.Spans, (*wire).span)
	if sc := ss.Scope; sc != nil {
		end := w.i
		w.uint(4, uint64(sc.DroppedAttributesCount))
		w.keyValues(3, sc.Attributes)
		optional(w, 2, sc.Version)
		optional(w, 1, sc.Name)
		w.lenPrefix(1, end)
	}
}

func (w *wire) span(sp *tracepb.Span) {
	if sp.Flags != 0 {
		w.i -= 4
		binary.LittleEndian.PutUint32(w.b[w.i:], sp.Flags)
		w.varint(tag(16, wireFixed32))
	}
	if st := sp.Status; st != nil {
		end := w.i
		w.uint(3, uint64(int64(st.Code)))
		optional(w, 2, st.Message)
		w.lenPrefix(15, end)
	}
	w.uint(14, uint64(sp.DroppedLinksCount))
	w.uint(12, uint64(sp.DroppedEventsCount))
	w.uint(10, uint64(sp.DroppedAttributesCount))
	w.keyValues(9, sp.Attributes)
	if sp.EndTimeUnixNano != 0 {
		w.fixed64(8, sp.EndTimeUnixNano)
	}
	if sp.StartTimeUnixNano != 0 {
		w.fixed64(7, sp.StartTimeUnixNano)
	}
	w.uint(6, uint64(int64(sp.Kind)))
	optional(w, 5, sp.Name)
	optional(w, 4, sp.ParentSpanId)
	optional(w, 3, sp.TraceState)
	optional(w, 2, sp.SpanId)
	optional(w, 1, sp.TraceId)
}

func (w *wire) keyValues(num int, kvs []*commonpb.KeyValue) {
	for i := len(kvs) - 1; i >= 0; i-- {
		end := w.i
		kv := kvs[i]
		if kv.Value != nil {
			vend := w.i
			w.anyValue(kv.Value)
			w.lenPrefix(2, vend)
		}
		optional(w, 1, kv.Key)
		w.lenPrefix(num, end)
	}
}

// anyValue writes v's oneof field; a set oneof is written even when it
// holds its type's zero value, as proto.Marshal does.
func (w *wire) anyValue(v *commonpb.AnyValue) {
	switch x := v.Value.(type) {
	case *commonpb.AnyValue_StringValue:
		field(w, 1, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		b := uint64(0)
		if x.BoolValue {
			b = 1
		}
		w.varint(b)
		w.varint(tag(2, wireVarint))
	case *commonpb.AnyValue_IntValue:
		w.varint(uint64(x.IntValue))
		w.varint(tag(3, wireVarint))
	case *commonpb.AnyValue_DoubleValue:
		w.fixed64(4, math.Float64bits(x.DoubleValue))
	case *commonpb.AnyValue_ArrayValue:
		end := w.i
		if x.ArrayValue != nil {
			messages(w, 1, x.ArrayValue.Values, (*wire).anyValue)
		}
		w.lenPrefix(5, end)
	case *commonpb.AnyValue_KvlistValue:
		end := w.i
		if x.KvlistValue != nil {
			w.keyValues(1, x.KvlistValue.Values)
		}
		w.lenPrefix(6, end)
	case *commonpb.AnyValue_BytesValue:
		field(w, 7, x.BytesValue)
	}
}
