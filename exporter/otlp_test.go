package exporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what it is given,
// marshalled (our messages are reused after UploadTraces returns).
type captureClient struct {
	got [][]byte
	t   *testing.T // set: also check our wire encoding of each request
}

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	if c.t != nil { // ours: the gRPC encoder writes proto.Marshal's bytes for every batch
		checkWire(c.t, &coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	}
	for _, r := range rs {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return err
		}
		c.got = append(c.got, b)
	}
	return nil
}

// otherSpan is a span of another resource and scope, with attribute
// types glsotel's probes do not make.
type otherSpan struct{ *readOnly }

func (otherSpan) InstrumentationScope() instrumentation.Scope {
	return instrumentation.Scope{Name: "other", Version: "1", SchemaURL: "https://example.com/s", Attributes: attribute.NewSet(attribute.Bool("b", true))}
}

var otherRes = resource.NewSchemaless(attribute.String("service.name", "other"))

func (otherSpan) Resource() *resource.Resource { return otherRes }

// TestTransformMatchesSDK: the reusing transform sends exactly what the
// SDK's own otlptrace.Exporter sends, for batches of every shape, and
// stays right when its messages are reused by a smaller batch.
func TestTransformMatchesSDK(t *testing.T) {
	res := newResource(Config{ServiceName: "users"}, target)
	spans := func(ss []Span) []sdktrace.ReadOnlySpan {
		out := make([]sdktrace.ReadOnlySpan, len(ss))
		for i, s := range ss {
			out[i] = newReadOnly(s, res)
		}
		return out
	}
	trace1 := sampleTrace()
	trace1[0].TraceState = "vendor=1,other=x"
	trace1[1].StatusMsg = "boom"
	trace1[2].Status = codes.Ok
	odd := benchSpan(3)
	odd.Kind = trace.SpanKindProducer
	odd.Attributes = append(odd.Attributes, attribute.Bool("flag", true), attribute.Float64("ratio", 0.5),
		attribute.StringSlice("tags", []string{"a", "b"}), attribute.Int64Slice("ns", []int64{1, 2}))
	mixed := spans([]Span{benchSpan(1), odd, benchSpan(2)})
	mixed[1] = otherSpan{mixed[1].(*readOnly)}

	// One exporter for all cases: each batch reuses the last one's messages.
	got := &captureClient{}
	ours := &otlpExporter{client: got}
	for _, tc := range []struct {
		name  string
		batch []sdktrace.ReadOnlySpan
	}{
		{"trace", spans(trace1)},
		{"two resources and scopes", mixed},
		{"one span, after bigger batches", spans([]Span{benchSpan(7)})},
		{"no attributes", spans([]Span{{Name: "x", TraceID: traceID, SpanID: trace.SpanID{1}, Sampled: true, Start: t0, End: t0}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got.t = t
			var want captureClient
			sdk := otlptrace.NewUnstarted(&want)
			if err := sdk.ExportSpans(context.Background(), tc.batch); err != nil {
				t.Fatal(err)
			}
			if err := ours.ExportSpans(context.Background(), tc.batch); err != nil {
				t.Fatal(err)
			}
			defer func() { got.got = nil }()
			if len(got.got) != len(want.got) {
				t.Fatalf("%d ResourceSpans, want %d", len(got.got), len(want.got))
			}
			// The SDK groups resources through a map: compare as sets.
			for _, w := range want.got {
				found := false
				for _, g := range got.got {
					found = found || equalMsg(t, g, w)
				}
				if !found {
					t.Errorf("missing ResourceSpans %v", decode(t, w))
				}
			}
		})
	}
}

func decode(t *testing.T, b []byte) *tracepb.ResourceSpans {
	t.Helper()
	var rs tracepb.ResourceSpans
	if err := proto.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	return &rs
}

func equalMsg(t *testing.T, a, b []byte) bool { return proto.Equal(decode(t, a), decode(t, b)) }
