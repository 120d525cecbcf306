package exporter

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Console is a SpanExporter that prints each trace as a readable tree,
// children indented under their parent. A trace is printed once its local
// root has arrived and Grace has passed (so late children join it), or at
// Shutdown. Safe for concurrent use.
type Console struct {
	Grace time.Duration

	mu     sync.Mutex
	out    io.Writer
	traces map[trace.TraceID]*pendingTrace
	order  []trace.TraceID
}

type pendingTrace struct {
	spans    []sdktrace.ReadOnlySpan
	rootSeen time.Time
}

// NewConsole prints to out.
func NewConsole(out io.Writer) *Console {
	return &Console{Grace: time.Second, out: out, traces: map[trace.TraceID]*pendingTrace{}}
}

// ExportSpans queues spans and prints the traces that are complete.
func (c *Console) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, s := range spans {
		id := s.SpanContext().TraceID()
		t, ok := c.traces[id]
		if !ok {
			t = &pendingTrace{}
			c.traces[id] = t
			c.order = append(c.order, id)
		}
		t.spans = append(t.spans, s)
		if !s.Parent().IsValid() || s.Parent().IsRemote() {
			t.rootSeen = now
		}
	}
	c.flush(func(t *pendingTrace) bool { return !t.rootSeen.IsZero() && now.Sub(t.rootSeen) >= c.Grace })
	return nil
}

// Shutdown prints every trace still queued.
func (c *Console) Shutdown(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush(func(*pendingTrace) bool { return true })
	return nil
}

func (c *Console) flush(ready func(*pendingTrace) bool) {
	keep := c.order[:0]
	for _, id := range c.order {
		t := c.traces[id]
		if !ready(t) {
			keep = append(keep, id)
			continue
		}
		writeTree(c.out, id, t.spans)
		delete(c.traces, id)
	}
	c.order = keep
}

// writeTree prints one trace; a span whose parent is not in the trace is
// printed as a root (its parent is remote or was lost).
func writeTree(w io.Writer, id trace.TraceID, spans []sdktrace.ReadOnlySpan) {
	byID := map[trace.SpanID]bool{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = true
	}
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if p := s.Parent(); p.IsValid() && byID[p.SpanID()] {
			children[p.SpanID()] = append(children[p.SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) }
	fmt.Fprintf(w, "trace %s\n", id)
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", depth+1), describe(s))
		kids := children[s.SpanContext().SpanID()]
		slices.SortFunc(kids, byStart)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	slices.SortFunc(roots, byStart)
	for _, r := range roots {
		walk(r, 0)
	}
}

func describe(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s %s", s.Name(), s.SpanKind(), s.EndTime().Sub(s.StartTime()).Round(time.Microsecond))
	if s.Status().Code == codes.Error {
		b.WriteString(" ERROR")
	}
	if p := s.Parent(); p.IsRemote() {
		fmt.Fprintf(&b, " remote parent %s", p.SpanID())
	}
	b.WriteString("]")
	for _, a := range s.Attributes() {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
	}
	return b.String()
}
