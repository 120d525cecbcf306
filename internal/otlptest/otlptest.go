// Package otlptest is an OTLP/gRPC trace receiver for tests: it listens on
// 127.0.0.1, keeps every span it is sent, and gives them back as plain
// values with their trees.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is one received span; ids are lowercase hex ("" for no parent).
type Span struct {
	TraceID, SpanID, Parent string
	RemoteParent            bool
	Name                    string
	Kind                    tracepb.Span_SpanKind
	Error                   bool // status code Error
	Attrs                   map[string]any
	Resource                map[string]any
	TraceState              string
	Start, End              uint64 // unix ns
}

// Receiver collects spans. Its methods are safe for concurrent use.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Endpoint is the URL to give OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string

	mu    sync.Mutex
	spans []Span
}

// Start runs a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{Endpoint: "http://" + ln.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, r)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return r
}

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.ResourceSpans {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				got = append(got, Span{
					TraceID: hex.EncodeToString(s.TraceId), SpanID: hex.EncodeToString(s.SpanId),
					Parent:       hex.EncodeToString(s.ParentSpanId),
					RemoteParent: s.Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) != 0,
					Name:         s.Name, Kind: s.Kind,
					Error:      s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					Attrs:      attrs(s.Attributes),
					Resource:   res,
					TraceState: s.TraceState,
					Start:      s.StartTimeUnixNano, End: s.EndTimeUnixNano,
				})
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Traces groups spans by trace id.
func Traces(spans []Span) map[string][]Span {
	m := map[string][]Span{}
	for _, s := range spans {
		m[s.TraceID] = append(m[s.TraceID], s)
	}
	return m
}

// Children returns the spans whose parent is id.
func Children(spans []Span, id string) []Span {
	var out []Span
	for _, s := range spans {
		if s.Parent == id {
			out = append(out, s)
		}
	}
	return out
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = x.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = x.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.Key] = x.DoubleValue
		default:
			m[kv.Key] = v.String()
		}
	}
	return m
}
