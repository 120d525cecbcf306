package exporter

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Option tunes New.
type Option interface{ apply(*options) }

type options struct {
	log      *slog.Logger
	interval time.Duration
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger receives one line per interval while spans are being lost
// (default: discard).
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.log = l }) }

// WithLossReportInterval sets how often lost spans are reported (default 10s).
func WithLossReportInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.interval = d })
}

// quietErrors keeps the SDK from printing every failed export: each loss
// is counted and reported once per interval by the reporter instead.
var quietErrors sync.Once

func silenceSDKErrors() {
	quietErrors.Do(func() {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	})
}

// Loss counts spans that did not reach the backend.
type Loss struct {
	// RingFull: never reached the agent, because the BPF ring buffer was
	// full when the span ended (the agent fell behind).
	RingFull uint64
	// QueueFull: dropped because the batch queue (OTEL_BSP_MAX_QUEUE_SIZE)
	// was full, i.e. the exporter could not keep up.
	QueueFull uint64
	// Failed: in batches the exporter gave up on (collector unreachable,
	// rejected, timed out).
	Failed uint64
}

// accounting bounds what is handed to the batch stage (the batcher, or
// the console's SDK batch processor) by the queue size, so nothing is
// dropped silently: what does not fit is counted here, and so is every
// span in a failed export.
type accounting struct {
	limit     int64
	exported  atomic.Uint64 // delivered
	ringFull  atomic.Pointer[func() uint64]
	inflight  atomic.Int64 // handed to the batch stage, not yet exported or failed
	queueFull atomic.Uint64
	failed    atomic.Uint64
	lastErr   atomic.Value // error string
}

// admit reports whether one more span fits in the batch stage's queue.
func (a *accounting) admit() bool {
	if a.inflight.Add(1) > a.limit {
		a.inflight.Add(-1)
		a.queueFull.Add(1)
		return false
	}
	return true
}

func (a *accounting) loss() Loss {
	l := Loss{QueueFull: a.queueFull.Load(), Failed: a.failed.Load()}
	if f := a.ringFull.Load(); f != nil {
		l.RingFull = (*f)()
	}
	return l
}

// settle counts n spans as exported, or as failed with err.
func (a *accounting) settle(n int, err error) {
	a.inflight.Add(-int64(n))
	if err != nil {
		a.failed.Add(uint64(n))
		a.lastErr.Store(err.Error())
	} else {
		a.exported.Add(uint64(n))
	}
}

// countingExporter settles the accounting as the console's batches
// finish.
type countingExporter struct {
	sdktrace.SpanExporter
	acct *accounting
}

func (c countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := c.SpanExporter.ExportSpans(ctx, spans)
	c.acct.settle(len(spans), err)
	return err
}

// reporter logs lost spans at most once per interval, only when the count
// grew.
type reporter struct {
	acct     *accounting
	log      *slog.Logger
	stop     chan struct{}
	once     sync.Once
	done     sync.WaitGroup
	reported Loss
}

func (r *reporter) run(interval time.Duration) {
	defer r.done.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			r.report()
			return
		case <-t.C:
			r.report()
		}
	}
}

func (r *reporter) report() {
	now := r.acct.loss()
	if now == r.reported {
		return
	}
	last, _ := r.acct.lastErr.Load().(string)
	args := []any{"ring_buffer_full", now.RingFull - r.reported.RingFull, "queue_full", now.QueueFull - r.reported.QueueFull,
		"export_failed", now.Failed - r.reported.Failed, "total", now.RingFull + now.QueueFull + now.Failed}
	if last != "" {
		args = append(args, "last_error", last)
	}
	r.log.Warn("spans lost", args...)
	r.reported = now
}
