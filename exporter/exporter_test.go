package exporter

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/glsotel/glsotel/internal/otlptest"
)

var (
	t0      = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	traceID = trace.TraceID{0x4b, 0xf9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
)

// sampleTrace: a server span joined from a remote caller, a client span
// under it, and a database span under the client's sibling goroutine.
func sampleTrace() []Span {
	return []Span{
		{Name: "GET", Kind: trace.SpanKindClient, TraceID: traceID, SpanID: trace.SpanID{2}, Parent: trace.SpanID{1}, Sampled: true,
			Start: t0.Add(time.Millisecond), End: t0.Add(3 * time.Millisecond), Attributes: []attribute.KeyValue{attribute.String("url.full", "http://127.0.0.1/x")}},
		{Name: "GET /users/{id}", Kind: trace.SpanKindServer, TraceID: traceID, SpanID: trace.SpanID{1}, Parent: trace.SpanID{9}, RemoteParent: true, Sampled: true,
			Start: t0, End: t0.Add(5 * time.Millisecond), Status: codes.Error,
			Attributes: []attribute.KeyValue{attribute.String("http.request.method", "GET"), attribute.Int("http.response.status_code", 500)}},
		{Name: "SELECT users", Kind: trace.SpanKindClient, TraceID: traceID, SpanID: trace.SpanID{3}, Parent: trace.SpanID{1}, Sampled: true,
			Start: t0.Add(2 * time.Millisecond), End: t0.Add(4 * time.Millisecond)},
		{Name: "dropped: not sampled", TraceID: traceID, SpanID: trace.SpanID{4}, Sampled: false, Start: t0, End: t0},
	}
}

func config(t *testing.T, kv map[string]string) Config {
	t.Helper()
	c, err := ConfigFromEnv(env(kv))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var target = Target{Pid: 42, Executable: "/srv/bin/users", GoVersion: "go1.23.12"}

// exportSample sends sampleTrace through an exporter configured by kv and
// flushes it.
func exportSample(t *testing.T, kv map[string]string, out io.Writer) {
	t.Helper()
	e, err := New(context.Background(), config(t, kv), target, out)
	if err != nil {
		t.Fatal(err)
	}
	var buf []attribute.KeyValue // one slice for every span, as probes do: Export copies
	for _, s := range sampleTrace() {
		buf = append(buf[:0], s.Attributes...)
		s.Attributes = buf
		e.Export(s)
		clear(buf)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConsole(t *testing.T) {
	var out bytes.Buffer
	exportSample(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"}, &out)
	want := `trace 4bf90102030405060708090a0b0c0d0e
  GET /users/{id} [server 5ms ERROR remote parent 0900000000000000] http.request.method=GET http.response.status_code=500
    GET [client 2ms] url.full=http://127.0.0.1/x
    SELECT users [client 2ms]
`
	if out.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", out.String(), want)
	}
}

// checkExported asserts what an OTLP receiver got for sampleTrace.
func checkExported(t *testing.T, spans []otlptest.Span) {
	t.Helper()
	if len(spans) != 3 {
		t.Fatalf("got %d spans, want 3", len(spans))
	}
	res := spans[0].Resource
	for k, v := range map[string]string{"service.name": "users", "process.pid": "42", "process.runtime.version": "go1.23.12", "telemetry.distro.name": "glsotel", "deployment.environment": "test"} {
		if got := fmt.Sprint(res[k]); !strings.Contains(got, v) {
			t.Errorf("resource %s = %q, want %q", k, got, v)
		}
	}
	for _, s := range spans {
		if s.TraceID != hex.EncodeToString(traceID[:]) {
			t.Errorf("%s: trace id %s", s.Name, s.TraceID)
		}
		switch s.Name {
		case "GET /users/{id}":
			if !strings.HasPrefix(s.Parent, "09") || !s.RemoteParent || s.Kind != tracepb.Span_SPAN_KIND_SERVER || !s.Error ||
				s.Start != uint64(t0.UnixNano()) || s.End != uint64(t0.Add(5*time.Millisecond).UnixNano()) {
				t.Errorf("server span: %+v", s)
			}
		case "GET", "SELECT users":
			if !strings.HasPrefix(s.Parent, "01") || s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("%s: %+v", s.Name, s)
			}
		default:
			t.Errorf("unexpected span %s", s.Name)
		}
	}
}

func TestOTLPHTTP(t *testing.T) {
	recv := &otlptest.Receiver{} // fed by this HTTP handler, no gRPC server
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if r.URL.Path != "/v1/traces" || r.Header.Get("Api-Key") != "secret" || proto.Unmarshal(body, req) != nil {
			t.Errorf("bad request %s %v", r.URL.Path, r.Header)
		}
		recv.Export(r.Context(), req)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	exportSample(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=secret",
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
	}, nil)
	checkExported(t, recv.Spans())
}

func TestOTLPGRPC(t *testing.T) {
	recv := otlptest.Start(t)
	exportSample(t, map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": recv.Endpoint,
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
	}, nil)
	checkExported(t, recv.Spans())
}

// Delivered spans are counted, and spans the BPF side lost at a full ring
// buffer are reported with the rest.
func TestAccounting(t *testing.T) {
	recv := otlptest.Start(t)
	var logs syncBuffer
	e, err := New(context.Background(), config(t, map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": recv.Endpoint,
	}), target, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithLossReportInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.CountRingFull(func() uint64 { return 7 })
	for _, s := range sampleTrace() {
		e.Export(s)
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.Exported(); got != 3 {
		t.Errorf("Exported() = %d, want the 3 sampled spans", got)
	}
	if got := e.Loss(); got != (Loss{RingFull: 7}) {
		t.Errorf("Loss() = %+v, want 7 lost at the ring buffer", got)
	}
	if !strings.Contains(logs.String(), `msg="spans lost" ring_buffer_full=7 queue_full=0 export_failed=0 total=7`) {
		t.Errorf("the final report names the ring buffer loss:\n%s", logs.String())
	}
}

// With the collector unreachable, Export never blocks the agent (the SDK
// drops what its bounded queue cannot hold), and Shutdown is bounded.
func TestUnreachableCollector(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	var logs syncBuffer
	e, err := New(context.Background(), config(t, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr, "OTEL_BSP_MAX_QUEUE_SIZE": "64", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
		"OTEL_EXPORTER_OTLP_TIMEOUT": "200",
	}), target, nil, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), WithLossReportInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	span := sampleTrace()[0]
	for i := 0; i < 100000; i++ {
		span.SpanID[7] = byte(i)
		e.Export(span)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("100000 exports took %v with the collector down", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	e.Shutdown(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took until %v", d)
	}
	// Every span is accounted for: dropped at the full queue, or in a
	// failed export (how many exports fail meanwhile depends on the
	// machine's speed); and the loss was logged (not once per span).
	loss := e.Loss()
	if loss.QueueFull+loss.Failed != 100000 || loss.QueueFull < 90000 {
		t.Errorf("loss %+v, want all 100000 spans counted", loss)
	}
	if n := strings.Count(logs.String(), "spans lost"); n < 1 || n > 50 {
		t.Errorf("%d loss reports:\n%s", n, logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDisabled(t *testing.T) {
	for _, kv := range []map[string]string{{"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_EXPORTER": "none"}} {
		e, err := New(context.Background(), config(t, kv), target, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.Export(sampleTrace()[0])
		if err := e.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
