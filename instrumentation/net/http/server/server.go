// Package server instruments net/http servers: one SERVER span per
// request, started in the goroutine that runs the handler and stored in its
// GLS slot, so everything the handler does — on that goroutine, on those it
// starts, and through its request context — is parented under it. An
// incoming W3C traceparent (and tracestate) makes the span join the
// caller's trace. Two uprobe hits per request.
package server

import (
	"net"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/net/http/internal/header"
	"github.com/glsotel/glsotel/instrumentation/net/http/internal/httpconv"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// Fields are the struct offsets the server probe reads.
var Fields = []offsets.Field{
	"net/http.Request.Method", "net/http.Request.URL", "net/http.Request.Proto",
	"net/http.Request.Header", "net/http.Request.Host", "net/http.Request.RemoteAddr",
	"net/http.Request.TLS", "net/http.Request.ctx",
	"net/url.URL.Path", "net/url.URL.RawQuery",
	"net/http.response.req", "net/http.response.status",
	// runtime.recovery: the panic being recovered, and stack depths.
	"runtime.g._panic", "runtime.g.stack", "runtime.stack.hi",
	"runtime._panic.arg", "runtime._panic.sp", "runtime.eface._type",
}

// panicAtRecovery is the first release whose runtime.recovery finds the
// panic it recovers at gp._panic (Go 1.21 unlinks it before).
var panicAtRecovery = offsets.Version{Major: 1, Minor: 22}

// New declares the server probe; sink receives each finished span on the
// agent's event goroutine, and must copy the attributes it keeps.
func New(sink func(exporter.Span)) *probe.Probe {
	var strs span.Strings // Handle runs on one goroutine
	var attrs []attribute.KeyValue
	return &probe.Probe{
		Name: "net/http/server",
		Spec: loadProbe,
		Hooks: []probe.Hook{{
			Symbol: "net/http.serverHandler.ServeHTTP",
			Entry:  "uprobe_net_http_serverHandler_ServeHTTP",
			Return: "uprobe_net_http_serverHandler_ServeHTTP_ret",
		}, {
			// A handler's panic that net/http recovers ends its request.
			Symbol: "runtime.recovery",
			Entry:  "uprobe_runtime_recovery",
		}, {
			// Each ServeMux a request passes tells the pattern it chose
			// (Go 1.22 on); routers have probes of their own.
			Symbol:   "net/http.(*ServeMux).findHandler",
			Return:   "uprobe_net_http_ServeMux_findHandler_ret",
			Optional: true,
		}},
		Fields:     slices.Concat(propagation.Fields, propagation.ContextFields, Fields),
		Optional:   offsets.TypeKindFields,
		Shared:     RouteMaps,
		ReadFields: offsets.TypeFields,
		Consts: func(bin *offsets.Binary) map[string]any {
			c := header.Consts(bin)
			c["panic_at_recovery"] = !bin.GoVersion.Less(panicAtRecovery)
			return c
		},
		Failure: probe.FailWarn,
		Kinds:   []uint32{uint32(probeEventKindEVENT_KIND_HTTP_SERVER)},
		Handle: func(t *probe.Target, raw []byte) {
			if ev := probe.View[probeServerEvent](raw); ev != nil {
				e := decode(ev, &strs)
				if e.panicked {
					e.panicType = panicType(t, ev.PanicType)
				}
				s := toSpan(e, t.Clock, &strs, attrs)
				attrs = s.Attributes
				sink(s)
			}
		},
	}
}

// event is what the server probe reports, free of BPF types.
type event struct {
	base                                         span.Base
	method, proto, path, query, host, remoteAddr string
	route                                        string // http.route, "" when no router told
	userAgent, traceState                        string
	tls                                          bool
	status                                       int
	// panicked: the handler panicked (net/http recovered); panicType is
	// the panic value's type, "" when unknown.
	panicked  bool
	panicType string
}

// panicType names the type of a panic value from its type descriptor's
// address in the process.
func panicType(t *probe.Target, desc uint64) string {
	if desc == 0 {
		return ""
	}
	name, err := t.TypeName(desc)
	if err != nil {
		return ""
	}
	return name
}

func decode(ev *probeServerEvent, strs *span.Strings) event {
	s, h := ev.R.Span, ev.R.Headers
	e := event{
		base: span.Base{
			StartNs: s.StartNs, EndNs: s.EndNs, TraceID: s.Sc.TraceId, SpanID: s.Sc.SpanId,
			Flags: s.Sc.Flags, Parent: s.ParentSpanId, ParentRemote: s.ParentRemote != 0,
		},
		method:     strs.Str(ev.Method.Len, ev.Method.S[:]),
		proto:      strs.Str(ev.Proto.Len, ev.Proto.S[:]),
		path:       strs.Str(ev.Path.Len, ev.Path.S[:]),
		query:      strs.Str(ev.Query.Len, ev.Query.S[:]),
		host:       strs.Str(ev.Host.Len, ev.Host.S[:]),
		remoteAddr: strs.Str(ev.RemoteAddr.Len, ev.RemoteAddr.S[:]),
		userAgent:  strs.Str(h.UserAgent.Len, h.UserAgent.S[:]),
		traceState: strs.Str(h.W3c.Tracestate.Len, h.W3c.Tracestate.S[:]),
		tls:        ev.Tls != 0,
		status:     int(ev.Status),
		panicked:   ev.Panicked != 0,
	}
	if chain, n, ok := routeChain(&ev.Route, strs); ok {
		e.route = httpRoute(chain[:n], e.path, strs)
	}
	return e
}

// attrCap fits every attribute a span can have.
const attrCap = 16

// toSpan applies the HTTP server semantic conventions; strs interns the
// strings it makes (nil: no interning). The attributes are built in buf
// (span.Attrs).
func toSpan(e event, clock probe.Clock, strs *span.Strings, buf []attribute.KeyValue) exporter.Span {
	attrs, name := httpconv.Method(span.Attrs(buf, attrCap), e.method)
	scheme := "http"
	if e.tls {
		scheme = "https"
	}
	attrs = append(attrs, attribute.String("url.scheme", scheme), attribute.String("url.path", e.path))
	if e.query != "" {
		attrs = append(attrs, attribute.String("url.query", httpconv.RedactQuery(e.query)))
	}
	if e.route != "" {
		attrs = append(attrs, attribute.String("http.route", e.route))
		name = strs.Join(name, " ", e.route)
	}
	if host, port := httpconv.HostPort(e.host, scheme); host != "" {
		attrs = append(attrs, attribute.String("server.address", host), attribute.Int("server.port", port))
	}
	// RemoteAddr is the connection's peer (network.peer.*) and, with no
	// proxy header read, the best known client (client.*).
	if host, port, err := net.SplitHostPort(e.remoteAddr); err == nil {
		attrs = append(attrs, attribute.String("client.address", host))
		p, perr := strconv.Atoi(port)
		if perr == nil {
			attrs = append(attrs, attribute.Int("client.port", p))
		}
		attrs = append(attrs, attribute.String("network.peer.address", host))
		if perr == nil {
			attrs = append(attrs, attribute.Int("network.peer.port", p))
		}
	}
	if v := httpconv.ProtocolVersion(e.proto); v != "" {
		attrs = append(attrs, attribute.String("network.protocol.version", v))
	}
	if e.userAgent != "" {
		attrs = append(attrs, attribute.String("user_agent.original", e.userAgent))
	}
	s := e.base.Span(name, trace.SpanKindServer, clock)
	if e.status != 0 {
		attrs = append(attrs, attribute.Int("http.response.status_code", e.status))
	}
	switch {
	case e.panicked:
		// No response follows a recovered panic (net/http closes the
		// connection): the panic value's type is the error.
		s.Status = codes.Error
		s.StatusMsg = "handler panicked"
		typ := e.panicType
		if typ == "" {
			typ = "_OTHER"
		}
		attrs = append(attrs, attribute.String("error.type", typ))
	case e.status >= 500:
		s.Status = codes.Error
		attrs = append(attrs, attribute.String("error.type", strconv.Itoa(e.status)))
	}
	s.Attributes = attrs
	s.TraceState = e.traceState
	return s
}
