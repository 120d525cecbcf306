package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Span is a finished span as a probe's converter reports it: ids and times
// were made in BPF; nothing here is a BPF type.
type Span struct {
	Name    string
	Kind    trace.SpanKind
	TraceID trace.TraceID
	SpanID  trace.SpanID
	Parent  trace.SpanID // zero: a root in this process
	// RemoteParent marks Parent as coming from another process (traceparent).
	RemoteParent bool
	// TraceState is the W3C tracestate the trace arrived with ("" for none).
	TraceState string
	Sampled    bool
	Start, End time.Time
	Attributes []attribute.KeyValue
	Status     codes.Code
	StatusMsg  string
}

// Target describes the instrumented process, for the resource.
type Target struct {
	Pid        int
	Executable string // path
	GoVersion  string // e.g. go1.23.12
}

// Version is glsotel's version, reported as telemetry.distro.version.
var Version = "dev"

// Exporter sends spans over OTLP through the SDK's clients (batcher), or
// to the console through the SDK's batch processor. Export and Shutdown
// may be called from several goroutines.
type Exporter struct {
	b    *batcher               // OTLP
	proc sdktrace.SpanProcessor // console
	res  *resource.Resource
	acct *accounting
	rep  *reporter
}

// New builds the pipeline cfg describes. When the SDK is disabled or
// OTEL_TRACES_EXPORTER=none, the Exporter drops everything. The console
// exporter writes to out. Spans that cannot be delivered are counted
// (Loss) and reported through the WithLogger logger once per interval.
func New(ctx context.Context, cfg Config, t Target, out io.Writer, opts ...Option) (*Exporter, error) {
	if cfg.Disabled || cfg.Exporter == "none" {
		return &Exporter{}, nil
	}
	o := options{log: slog.New(slog.DiscardHandler), interval: 10 * time.Second}
	for _, opt := range opts {
		opt.apply(&o)
	}
	silenceSDKErrors()
	e := &Exporter{res: newResource(cfg, t), acct: &accounting{limit: int64(cfg.BatchMaxQueueSize)}}
	if cfg.Exporter == "console" {
		e.proc = sdktrace.NewBatchSpanProcessor(countingExporter{NewConsole(out), e.acct},
			sdktrace.WithMaxQueueSize(cfg.BatchMaxQueueSize),
			sdktrace.WithMaxExportBatchSize(cfg.BatchMaxExportSize),
			sdktrace.WithBatchTimeout(cfg.BatchScheduleDelay),
			sdktrace.WithExportTimeout(cfg.BatchExportTimeout))
	} else {
		client := newOTLPClient(cfg)
		if err := client.Start(ctx); err != nil {
			return nil, fmt.Errorf("start OTLP client: %w", err)
		}
		e.b = newBatcher(client, e.acct, e.res, cfg)
	}
	e.rep = &reporter{acct: e.acct, log: o.log, stop: make(chan struct{})}
	e.rep.done.Add(1)
	go e.rep.run(o.interval)
	return e, nil
}

// newOTLPClient is the SDK's OTLP client for cfg's protocol.
func newOTLPClient(cfg Config) otlptrace.Client {
	if cfg.Protocol == "grpc" {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpointURL(cfg.Endpoint), otlptracegrpc.WithHeaders(cfg.Headers), otlptracegrpc.WithTimeout(cfg.Timeout)}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if cfg.Compression == "gzip" {
			opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
		}
		return otlptracegrpc.NewClient(opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(cfg.Endpoint), otlptracehttp.WithHeaders(cfg.Headers), otlptracehttp.WithTimeout(cfg.Timeout)}
	if cfg.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if cfg.Compression == "gzip" {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	} else {
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}
	return otlptracehttp.NewClient(opts...)
}

// newResource: OTEL_RESOURCE_ATTRIBUTES, then what we know of the target;
// service.name from OTEL_SERVICE_NAME, else the attributes, else the
// executable's name.
func newResource(cfg Config, t Target) *resource.Resource {
	exe := filepath.Base(t.Executable)
	attrs := make([]attribute.KeyValue, 0, len(cfg.ResourceAttributes)+6)
	for k, v := range cfg.ResourceAttributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	service := cfg.ServiceName
	if service == "" {
		service = cfg.ResourceAttributes[string(semconv.ServiceNameKey)]
	}
	if service == "" {
		service = exe
	}
	attrs = append(attrs,
		semconv.ServiceName(service),
		semconv.ProcessPID(t.Pid),
		semconv.ProcessExecutableName(exe),
		semconv.ProcessRuntimeName("go"),
		semconv.ProcessRuntimeVersion(t.GoVersion),
		semconv.TelemetryDistroName("glsotel"),
		semconv.TelemetryDistroVersion(Version),
		// The spans leave through the OpenTelemetry Go SDK's exporters.
		semconv.TelemetrySDKName("opentelemetry"),
		semconv.TelemetrySDKVersion(sdk.Version()),
		semconv.TelemetrySDKLanguageGo,
	)
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

// scope names the instrumentation in every exported span; its schema URL
// is the semantic conventions the probes' attributes follow (the
// resource's).
var scope = instrumentation.Scope{Name: "github.com/glsotel/glsotel", SchemaURL: semconv.SchemaURL}

// Export queues a finished span; unsampled spans are dropped here. It never
// blocks: when the queue is full the span is dropped and counted. s is
// copied (OTLP: encoded): the caller may reuse s.Attributes once Export
// returns.
func (e *Exporter) Export(s Span) {
	if !s.Sampled || e.acct == nil || !e.acct.admit() {
		return
	}
	if e.b != nil {
		e.b.add(s)
		return
	}
	e.proc.OnEnd(newReadOnly(s, e.res))
}

// Shutdown flushes queued spans and stops the exporter, within ctx.
func (e *Exporter) Shutdown(ctx context.Context) error {
	var err error
	switch {
	case e.b != nil:
		err = e.b.shutdown(ctx)
	case e.proc != nil:
		err = e.proc.Shutdown(ctx)
	default:
		return nil
	}
	e.rep.once.Do(func() { close(e.rep.stop) })
	e.rep.done.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("flush spans: %w", err)
	}
	return nil
}

// CountRingFull makes Loss include the spans n reports lost before they
// reached the agent (the BPF ring buffer's drop counters). n must be safe
// to call from any goroutine; it is called when Loss is.
func (e *Exporter) CountRingFull(n func() uint64) {
	if e.acct != nil {
		e.acct.ringFull.Store(&n)
	}
}

// Exported returns how many spans were delivered so far.
func (e *Exporter) Exported() uint64 {
	if e.acct == nil {
		return 0
	}
	return e.acct.exported.Load()
}

// Loss returns how many spans were lost so far.
func (e *Exporter) Loss() Loss {
	if e.acct == nil {
		return Loss{}
	}
	return e.acct.loss()
}
