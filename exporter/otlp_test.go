package exporter

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// captureClient is an otlptrace.Client that keeps what it is given,
// marshalled as the SDK's clients marshal it (our messages are reused
// after UploadTraces returns).
type captureClient struct{ got [][]byte }

func (c *captureClient) Start(context.Context) error { return nil }
func (c *captureClient) Stop(context.Context) error  { return nil }
func (c *captureClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	for _, r := range rs {
		b, err := proto.Marshal(r)
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

// TestTransformMatchesSDK: the encoder sends what the SDK's own
// otlptrace.Exporter sends, for batches of every shape, and stays right
// when its messages and buffers are reused by a smaller batch.
func TestTransformMatchesSDK(t *testing.T) {
	res := newResource(Config{ServiceName: "users"}, target)
	spans := func(ss []Span) []Span { return ss }
	trace1 := sampleTrace()
	trace1[0].TraceState = "vendor=1,other=x"
	trace1[1].StatusMsg = "boom"
	trace1[2].Status = codes.Ok
	odd := benchSpan(3)
	odd.Kind = trace.SpanKindProducer
	odd.Attributes = append(odd.Attributes, attribute.Bool("flag", true), attribute.Float64("ratio", 0.5),
		attribute.StringSlice("tags", []string{"a", "b"}), attribute.Int64Slice("ns", []int64{1, 2}))
	mixed := []Span{benchSpan(1), odd, benchSpan(2)}
	other := func(i int, s Span, r *readOnly) sdktrace.ReadOnlySpan { // the second span in another resource and scope
		if i == 1 {
			return otherSpan{newReadOnly(s, res, false)} // read through its methods: not encoded when made
		}
		return r
	}

	// One exporter for all cases: each batch reuses the last one's messages.
	ours := &otlpExporter{client: &captureClient{}}
	for _, tc := range []struct {
		name  string
		batch []Span
		wrap  func(int, Span, *readOnly) sdktrace.ReadOnlySpan
	}{
		{"trace", spans(trace1), nil},
		{"two resources and scopes", mixed, other},
		{"one span, after bigger batches", spans([]Span{benchSpan(7)}), nil},
		{"no attributes", spans([]Span{{Name: "x", TraceID: traceID, SpanID: trace.SpanID{1}, Sampled: true, Start: t0, End: t0}}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkMatchesSDK(t, ours, tc.batch, res, tc.wrap) })
	}
}

// checkMatchesSDK asserts that ours sends batch as the SDK's own
// otlptrace.Exporter sends it, once a collector has decoded both: spans
// encoded when the batch is, and spans encoded as they were made
// (newReadOnly). wrap, if set, replaces the spans.
func checkMatchesSDK(t *testing.T, ours *otlpExporter, batch []Span, res *resource.Resource, wrap func(int, Span, *readOnly) sdktrace.ReadOnlySpan) {
	t.Helper()
	readOnlies := func(encode bool) []sdktrace.ReadOnlySpan {
		out := make([]sdktrace.ReadOnlySpan, len(batch))
		for i, s := range batch {
			r := newReadOnly(s, res, encode)
			out[i] = r
			if wrap != nil {
				out[i] = wrap(i, s, r)
			}
		}
		return out
	}
	var want captureClient
	if err := otlptrace.NewUnstarted(&want).ExportSpans(context.Background(), readOnlies(false)); err != nil {
		t.Fatal(err)
	}
	for _, encode := range []bool{false, true} {
		got := ours.client.(*captureClient)
		got.got = nil
		if err := ours.ExportSpans(context.Background(), readOnlies(encode)); err != nil {
			t.Fatal(err)
		}
		if len(got.got) != len(want.got) {
			t.Fatalf("encoded as made %v: %d ResourceSpans, want %d", encode, len(got.got), len(want.got))
		}
		// The SDK groups resources through a map: compare as sets.
		for _, w := range want.got {
			found := false
			for _, g := range got.got {
				found = found || proto.Equal(decode(t, g), decode(t, w))
			}
			if !found {
				t.Fatalf("encoded as made %v: missing ResourceSpans; %s", encode, firstDiff(decode(t, w), decode(t, got.got[0])))
			}
		}
	}
}

// firstDiff describes the first span that differs between want and got.
func firstDiff(want, got *tracepb.ResourceSpans) string {
	short := func(m proto.Message) string {
		s := fmt.Sprint(m)
		if len(s) > 3000 {
			s = s[:3000] + "…"
		}
		return s
	}
	if !proto.Equal(want.Resource, got.Resource) || len(want.ScopeSpans) != len(got.ScopeSpans) {
		return fmt.Sprintf("resource or scopes differ:\nwant %s\n got %s", short(want.Resource), short(got.Resource))
	}
	for i, ws := range want.ScopeSpans {
		gs := got.ScopeSpans[i]
		if len(ws.Spans) != len(gs.Spans) {
			return fmt.Sprintf("scope %d: %d spans, want %d", i, len(gs.Spans), len(ws.Spans))
		}
		for j, w := range ws.Spans {
			g := gs.Spans[j]
			if proto.Equal(w, g) {
				continue
			}
			for k, wa := range w.Attributes { // the likeliest place
				if k < len(g.Attributes) && !proto.Equal(wa, g.Attributes[k]) {
					return fmt.Sprintf("span %d, attribute %d:\nwant %s\n got %s", j, k, short(wa), short(g.Attributes[k]))
				}
			}
			w.Attributes, g.Attributes = nil, nil
			return fmt.Sprintf("span %d (attributes left out):\nwant %s\n got %s", j, short(w), short(g))
		}
	}
	return "scope fields differ"
}

func decode(t *testing.T, b []byte) *tracepb.ResourceSpans {
	t.Helper()
	var rs tracepb.ResourceSpans
	if err := proto.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	return &rs
}
