package exporter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// rawCodec passes gRPC messages through as bytes: the discarding receiver
// below never decodes them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestMain serves as a discarding receiver when a benchmark starts this
// test binary as one (receiverEnv): in its own process, the receiver's
// CPU is not counted as the exporter's.
func TestMain(m *testing.M) {
	if protocol := os.Getenv(receiverEnv); protocol != "" {
		os.Exit(serveDiscard(protocol))
	}
	os.Exit(m.Run())
}

const receiverEnv = "GLSOTEL_TEST_DISCARD_RECEIVER"

// serveDiscard accepts every OTLP export over protocol on a port it
// prints, discarding it undecoded, until its standard input closes.
func serveDiscard(protocol string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("http://" + ln.Addr().String())
	if protocol == "grpc" {
		// An empty response is a valid ExportTraceServiceResponse.
		srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, st grpc.ServerStream) error {
			var msg []byte
			if err := st.RecvMsg(&msg); err != nil {
				return err
			}
			empty := []byte{}
			return st.SendMsg(&empty)
		}))
		go srv.Serve(ln)
	} else {
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
	}
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// discardReceiver starts a discarding receiver (serveDiscard) in a child
// process and returns its endpoint.
func discardReceiver(b *testing.B, protocol string) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), receiverEnv+"="+protocol)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	endpoint, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("discarding receiver: %v", err)
	}
	return strings.TrimSpace(endpoint)
}

// cpuTime is the process's user+system CPU time: the exporter's work runs
// on goroutines of its own, in parallel with the loop.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSpan is a server span as the net/http probe makes it.
func benchSpan(i int) Span {
	start := t0.Add(time.Duration(i) * time.Millisecond)
	return Span{
		Name: "GET /items/{id}", Kind: trace.SpanKindServer, TraceID: trace.TraceID{byte(i), byte(i >> 8), 3}, SpanID: trace.SpanID{byte(i), 1},
		Parent: trace.SpanID{9}, RemoteParent: true, Sampled: true, Start: start, End: start.Add(300 * time.Microsecond),
		Attributes: []attribute.KeyValue{
			attribute.String("http.request.method", "GET"), attribute.String("url.scheme", "http"),
			attribute.String("url.path", "/items/1"), attribute.String("http.route", "/items/{id}"),
			attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", 8080),
			attribute.String("client.address", "127.0.0.1"), attribute.Int("client.port", 54321),
			attribute.String("network.protocol.version", "1.1"), attribute.String("user_agent.original", "Go-http-client/1.1"),
			attribute.Int("http.response.status_code", 200),
		},
	}
}

// BenchmarkExport is the agent's cost per span from Export to the wire:
// the SDK's batch processor, the span encoding, the SDK's client and the
// transport. The receiver runs in another process, so cpu-ns/op is the
// exporter's alone. ns/op and allocs/op are per span, the final flush
// included.
func BenchmarkExport(b *testing.B) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		b.Run(protocol, func(b *testing.B) {
			cfg, err := ConfigFromEnv(env(map[string]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL": protocol, "OTEL_EXPORTER_OTLP_ENDPOINT": discardReceiver(b, protocol),
				"OTEL_BSP_MAX_QUEUE_SIZE": "65536",
			}))
			if err != nil {
				b.Fatal(err)
			}
			spans := make([]Span, 1024)
			for i := range spans {
				spans[i] = benchSpan(i)
			}
			e, err := New(context.Background(), cfg, target, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				e.Export(spans[i%len(spans)])
				if i%8192 == 8191 { // stay under the queue bound, as a steady load does
					for e.acct.inflight.Load() > 16384 {
						time.Sleep(time.Millisecond)
					}
				}
			}
			if err := e.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if l := e.Loss(); l != (Loss{}) {
				b.Fatalf("lost spans: %+v", l)
			}
		})
	}
}

// BenchmarkEncode is spans made into the bytes of export requests of 512,
// by the batcher and by the SDK's transform; both end in proto.Marshal,
// as the SDK's clients do. ns/op is per span.
func BenchmarkEncode(b *testing.B) {
	res := newResource(Config{ServiceName: "users"}, target)
	spans := make([]Span, 512)
	for i := range spans {
		spans[i] = benchSpan(i)
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		bt := newBatcher(marshalClient{}, &accounting{limit: 4096}, res, Config{BatchMaxQueueSize: 4096, BatchMaxExportSize: len(spans), BatchScheduleDelay: time.Hour, BatchExportTimeout: time.Minute})
		for i := range b.N {
			for !bt.acct.admit() { // wait for the uploader, as a steady load does
				bt.acct.queueFull.Store(0)
				runtime.Gosched()
			}
			bt.add(spans[i%len(spans)])
		}
		if err := bt.shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		ro := make([]sdktrace.ReadOnlySpan, len(spans))
		for i, s := range spans {
			ro[i] = newReadOnly(s, res)
		}
		exp := otlptrace.NewUnstarted(marshalClient{})
		for i := 0; i < b.N; i += len(ro) {
			if err := exp.ExportSpans(context.Background(), ro); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// marshalClient encodes each request, as the SDK's clients do, and drops it.
type marshalClient struct{}

func (marshalClient) Start(context.Context) error { return nil }
func (marshalClient) Stop(context.Context) error  { return nil }
func (marshalClient) UploadTraces(_ context.Context, rs []*tracepb.ResourceSpans) error {
	_, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: rs})
	return err
}
