package exporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/sdk/resource"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// batcher is the OTLP path's batch stage. Each span is encoded straight
// into the request it will travel in (appendSpan), and whole requests go
// to the SDK's OTLP client (otlptracegrpc, otlptracehttp), which still
// does the connection, retries, headers, TLS, compression and its size
// bound. The SDK's BatchSpanProcessor in its place cost the agent about
// 0.6 µs per span, a third of its CPU: a span record and a channel send
// per span, the record read again, out of cache, to build the request, and
// the goroutine hand-offs and wakeups of its queue.
//
// It keeps the processor's contract, from the same OTEL_BSP_* variables:
// a request holds at most size spans and leaves when full; a partial one
// leaves after delay; each upload is bounded by timeout; at most the queue
// size spans wait (accounting.admit, as before); Shutdown sends what waits.
// Requests are uploaded one at a time, in order, by one goroutine.
//
// A request's content is one ResourceSpans message, empty, carrying its
// fields as unknown ones: protobuf-go, inside the SDK's clients, copies
// them as they are, and a collector decodes them as the message's fields.
// The SDK client's experimental self-observability
// (OTEL_GO_X_OBSERVABILITY) counts spans in ScopeSpans.Spans, so it sees
// none; Loss counts ours.
type batcher struct {
	client  otlptrace.Client
	acct    *accounting
	res     *resource.Resource
	size    int
	delay   time.Duration
	timeout time.Duration
	// head is a request's content before its spans: the resource and the
	// opening of its one ScopeSpans, whose length tail's closing fills in.
	head, tail []byte

	mu     sync.Mutex
	cur    *request   // being filled, nil when none
	free   []*request // uploaded, for reuse
	span   readOnly   // the span being encoded
	closed bool

	full chan *request // to the uploader; never blocks (admit bounds it)
	// ctx ends uploads when Shutdown's context does.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // the uploader has returned
}

// request is one upload's content and message, reused.
type request struct {
	buf   []byte
	at    int // where its ScopeSpans' length goes
	spans int
	msg   *tracepb.ResourceSpans
}

// scopeSpansRoom is the bytes reserved for a ScopeSpans' length: three
// hold 2 MiB, more than a request usually carries (closeField moves the
// content when they do not).
const scopeSpansRoom = 3

func newBatcher(client otlptrace.Client, acct *accounting, res *resource.Resource, cfg Config) *batcher {
	b := &batcher{
		client: client, acct: acct, res: res,
		size: cfg.BatchMaxExportSize, delay: cfg.BatchScheduleDelay, timeout: cfg.BatchExportTimeout,
		// admit bounds the spans waiting to the queue size: they fill at
		// most that many requests, plus a partial one.
		full: make(chan *request, cfg.BatchMaxQueueSize/max(cfg.BatchMaxExportSize, 1)+2),
		done: make(chan struct{}),
	}
	if res != nil {
		b.head = appendBytes(b.head, 1, encodeResource(res))
		b.tail = appendOptional(b.tail, 3, validUTF8(res.SchemaURL()))
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	return b
}

// add encodes s into the request being filled and sends that request
// when it is full. The span was admitted (accounting.admit). It never
// blocks on the uploader.
func (b *batcher) add(s Span) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.acct.settle(1, errors.New("exporter shut down"))
		return
	}
	if b.cur == nil {
		b.cur = b.newRequest()
	}
	fillReadOnly(&b.span, s, b.res)
	b.cur.buf = appendSpan(b.cur.buf, 2, &b.span)
	b.span = readOnly{} // keeps none of s's strings alive
	if b.cur.spans++; b.cur.spans >= b.size {
		b.full <- b.cur
		b.cur = nil
	}
}

// newRequest returns an empty request, its head written. b.mu is held.
func (b *batcher) newRequest() *request {
	var r *request
	if n := len(b.free); n > 0 {
		r, b.free = b.free[n-1], b.free[:n-1]
	} else {
		r = &request{msg: new(tracepb.ResourceSpans)}
	}
	r.buf = append(r.buf[:0], b.head...)
	r.buf, r.at = openField(r.buf, 2, scopeSpansRoom)
	r.buf = appendBytes(r.buf, 1, encodedScope)
	r.spans = 0
	return r
}

// run uploads full requests as they come and the partial one every delay,
// until Shutdown has closed full and everything in it is uploaded.
func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTimer(b.delay)
	defer t.Stop()
	for {
		select {
		case r, ok := <-b.full:
			if !ok {
				return
			}
			b.upload(r)
		case <-t.C:
			b.mu.Lock()
			r := b.cur
			b.cur = nil
			b.mu.Unlock()
			if r != nil {
				b.upload(r)
			}
			t.Reset(b.delay)
		}
	}
}

// upload closes r's ScopeSpans and sends r, then settles its spans.
func (b *batcher) upload(r *request) {
	r.buf = appendOptional(r.buf, 3, validUTF8(scope.SchemaURL))
	r.buf = append(closeField(r.buf, r.at, scopeSpansRoom), b.tail...)
	*r.msg = tracepb.ResourceSpans{}
	r.msg.ProtoReflect().SetUnknown(r.buf)
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	err := b.client.UploadTraces(ctx, []*tracepb.ResourceSpans{r.msg})
	cancel()
	if err != nil {
		err = fmt.Errorf("traces export: %w", err)
	}
	b.mu.Lock()
	b.acct.settle(r.spans, err)
	// As many as can be in flight at once: a request made anew grows its
	// buffer from nothing, copying it over and over.
	if len(b.free) < cap(b.full) {
		b.free = append(b.free, r)
	}
	b.mu.Unlock()
}

// shutdown sends what waits and stops the client (the first call), within
// ctx: when ctx ends first, uploads still to come fail at once (and are
// counted).
func (b *batcher) shutdown(ctx context.Context) error {
	b.mu.Lock()
	first := !b.closed
	if first {
		b.closed = true
		if b.cur != nil {
			b.full <- b.cur
			b.cur = nil
		}
		close(b.full)
	}
	b.mu.Unlock()
	var err error
	select {
	case <-b.done:
	case <-ctx.Done():
		err = ctx.Err()
		b.cancel()
		<-b.done
	}
	b.cancel()
	if !first {
		return err
	}
	return errors.Join(err, b.client.Stop(ctx))
}
