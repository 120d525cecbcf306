package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
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

// TestTransformMatchesSDK: the batcher sends what the SDK's own
// otlptrace.Exporter sends, for batches of every shape.
func TestTransformMatchesSDK(t *testing.T) {
	res := newResource(Config{ServiceName: "users"}, target)
	trace1 := sampleTrace()
	trace1[0].TraceState = "vendor=1,other=x"
	trace1[1].StatusMsg = "boom"
	trace1[2].Status = codes.Ok
	odd := benchSpan(3)
	odd.Kind = trace.SpanKindProducer
	odd.Attributes = append(odd.Attributes, attribute.Bool("flag", true), attribute.Float64("ratio", 0.5),
		attribute.StringSlice("tags", []string{"a", "b"}), attribute.Int64Slice("ns", []int64{1, 2}))
	for _, tc := range []struct {
		name  string
		batch []Span
	}{
		{"trace", trace1},
		{"mixed", []Span{benchSpan(1), odd, benchSpan(2)}},
		{"one span", []Span{benchSpan(7)}},
		{"no attributes", []Span{{Name: "x", TraceID: traceID, SpanID: trace.SpanID{1}, Sampled: true, Start: t0, End: t0}}},
	} {
		t.Run(tc.name, func(t *testing.T) { checkMatchesSDK(t, tc.batch, res) })
	}
}

// TestBatcherRequests: requests leave full (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
// or at Shutdown, in order, each what the SDK would send for its spans,
// while their buffers are reused from one request to the next.
func TestBatcherRequests(t *testing.T) {
	res := newResource(Config{ServiceName: "users"}, target)
	spans := []Span{benchSpan(1), sampleTrace()[0], benchSpan(2), benchSpan(3), sampleTrace()[1]}
	got := &captureClient{}
	b := newBatcher(got, &accounting{limit: 100}, res, Config{BatchMaxQueueSize: 100, BatchMaxExportSize: 2, BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Minute})
	for _, s := range spans {
		b.add(s)
	}
	if err := b.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.got) != 3 {
		t.Fatalf("%d requests, want 3", len(got.got))
	}
	for i, g := range got.got {
		want := sdkRequest(t, spans[2*i:min(2*i+2, len(spans))], res)
		if !proto.Equal(decode(t, g), decode(t, want)) {
			t.Errorf("request %d: %s", i, firstDiff(decode(t, want), decode(t, g)))
		}
	}
	if n := b.acct.exported.Load(); n != 5 {
		t.Errorf("%d spans counted exported, want 5", n)
	}
}

// TestScopeSchemaURL: the instrumentation scope carries the semantic
// conventions' schema URL its spans' attributes follow, the resource's,
// in the batcher's requests and in what the SDK's exporters are given.
func TestScopeSchemaURL(t *testing.T) {
	res := newResource(Config{ServiceName: "users"}, target)
	want := res.SchemaURL()
	if !strings.HasPrefix(want, "https://opentelemetry.io/schemas/1.") {
		t.Fatalf("resource schema URL %q", want)
	}
	got := &captureClient{}
	b := newBatcher(got, &accounting{limit: 1}, res, Config{BatchMaxQueueSize: 1, BatchMaxExportSize: 1, BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Minute})
	b.add(benchSpan(1))
	if err := b.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.got) != 1 {
		t.Fatalf("%d requests, want 1", len(got.got))
	}
	for name, raw := range map[string][]byte{"batcher": got.got[0], "SDK": sdkRequest(t, []Span{benchSpan(1)}, res)} {
		rs := decode(t, raw)
		if rs.SchemaUrl != want {
			t.Errorf("%s: ResourceSpans schema_url %q, want %q", name, rs.SchemaUrl, want)
		}
		if len(rs.ScopeSpans) != 1 {
			t.Fatalf("%s: %d ScopeSpans, want 1", name, len(rs.ScopeSpans))
		}
		ss := rs.ScopeSpans[0]
		if ss.SchemaUrl != want {
			t.Errorf("%s: ScopeSpans schema_url %q, want %q", name, ss.SchemaUrl, want)
		}
		if n := ss.GetScope().GetName(); n != "github.com/glsotel/glsotel" {
			t.Errorf("%s: scope name %q", name, n)
		}
	}
}

// TestBatcherDelay: a partial request leaves after OTEL_BSP_SCHEDULE_DELAY.
func TestBatcherDelay(t *testing.T) {
	got := &syncCapture{}
	b := newBatcher(got, &accounting{limit: 100}, nil, Config{BatchMaxQueueSize: 100, BatchMaxExportSize: 50, BatchScheduleDelay: 20 * time.Millisecond, BatchExportTimeout: time.Minute})
	defer b.shutdown(context.Background())
	b.add(benchSpan(1))
	deadline := time.Now().Add(5 * time.Second)
	for got.n() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.n() != 1 {
		t.Fatal("the partial request was not sent after the delay")
	}
}

// syncCapture counts requests; safe to read while the uploader runs.
type syncCapture struct {
	mu       sync.Mutex
	requests int
}

func (c *syncCapture) Start(context.Context) error { return nil }
func (c *syncCapture) Stop(context.Context) error  { return nil }
func (c *syncCapture) UploadTraces(context.Context, []*tracepb.ResourceSpans) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	return nil
}
func (c *syncCapture) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// sdkRequest is the ResourceSpans the SDK's own otlptrace.Exporter sends
// for spans, marshalled.
func sdkRequest(t *testing.T, spans []Span, res *resource.Resource) []byte {
	t.Helper()
	ro := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		ro[i] = newReadOnly(s, res)
	}
	var want captureClient
	if err := otlptrace.NewUnstarted(&want).ExportSpans(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	if len(want.got) != 1 {
		t.Fatalf("the SDK sent %d ResourceSpans", len(want.got))
	}
	return want.got[0]
}

// checkMatchesSDK asserts that the batcher sends batch, in one request,
// as the SDK's own otlptrace.Exporter sends it, once a collector has
// decoded both.
func checkMatchesSDK(t *testing.T, batch []Span, res *resource.Resource) {
	t.Helper()
	got := &captureClient{}
	b := newBatcher(got, &accounting{limit: int64(len(batch))}, res, Config{BatchMaxQueueSize: len(batch), BatchMaxExportSize: len(batch), BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Minute})
	for _, s := range batch {
		b.add(s)
	}
	if err := b.shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got.got) != 1 {
		t.Fatalf("%d requests, want 1", len(got.got))
	}
	want := sdkRequest(t, batch, res)
	if !proto.Equal(decode(t, got.got[0]), decode(t, want)) {
		t.Fatalf("%s", firstDiff(decode(t, want), decode(t, got.got[0])))
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

// hangingClient's uploads last until their context ends.
type hangingClient struct{}

func (hangingClient) Start(context.Context) error { return nil }
func (hangingClient) Stop(context.Context) error  { return nil }
func (hangingClient) UploadTraces(ctx context.Context, _ []*tracepb.ResourceSpans) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestBatcherShutdownBounded: Shutdown returns when its context ends,
// though uploads hang; every span still waiting is counted failed, and so
// is one exported after Shutdown.
func TestBatcherShutdownBounded(t *testing.T) {
	acct := &accounting{limit: 100}
	b := newBatcher(hangingClient{}, acct, nil, Config{BatchMaxQueueSize: 100, BatchMaxExportSize: 10, BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Hour})
	for range 35 {
		if !acct.admit() {
			t.Fatal("not admitted")
		}
		b.add(benchSpan(1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	acct.admit()
	b.add(benchSpan(2))
	if f, n := acct.failed.Load(), acct.inflight.Load(); f != 36 || n != 0 {
		t.Errorf("%d spans failed, %d in flight; want 36 and 0", f, n)
	}
}

// countingStops counts Stop calls.
type countingStops struct {
	syncCapture
	stops atomic.Int32
}

func (c *countingStops) Stop(context.Context) error { c.stops.Add(1); return nil }

// TestBatcherShutdownTwice: a second Shutdown neither panics nor stops
// the client again.
func TestBatcherShutdownTwice(t *testing.T) {
	c := &countingStops{}
	b := newBatcher(c, &accounting{limit: 10}, nil, Config{BatchMaxQueueSize: 10, BatchMaxExportSize: 10, BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Minute})
	b.add(benchSpan(1))
	for range 2 {
		if err := b.shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.stops.Load(); n != 1 || c.n() != 1 {
		t.Errorf("%d stops, %d requests; want 1 and 1", n, c.n())
	}
}
