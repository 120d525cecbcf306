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
	"strings"

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
}

// optional fields: ServeMux patterns (http.route) arrived in Go 1.22.
var optional = []offsets.Field{"net/http.Request.pat", "net/http.pattern.str"}

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
		}},
		Fields:   slices.Concat(propagation.Fields, propagation.ContextFields, Fields),
		Optional: optional,
		Consts:   header.Consts,
		Failure:  probe.FailWarn,
		Kinds:    []uint32{uint32(probeEventKindEVENT_KIND_HTTP_SERVER)},
		Handle: func(t *probe.Target, raw []byte) {
			if ev := probe.View[probeServerEvent](raw); ev != nil {
				s := toSpan(decode(ev, &strs), t.Clock, &strs, attrs)
				attrs = s.Attributes
				sink(s)
			}
		},
	}
}

// event is what the server probe reports, free of BPF types.
type event struct {
	base                                                span.Base
	method, proto, path, query, host, remoteAddr, route string
	userAgent, traceState                               string
	tls                                                 bool
	status                                              int
}

func decode(ev *probeServerEvent, strs *span.Strings) event {
	s, h := ev.R.Span, ev.R.Headers
	return event{
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
		route:      strs.Str(ev.Route.Len, ev.Route.S[:]),
		userAgent:  strs.Str(h.UserAgent.Len, h.UserAgent.S[:]),
		traceState: strs.Str(h.W3c.Tracestate.Len, h.W3c.Tracestate.S[:]),
		tls:        ev.Tls != 0,
		status:     int(ev.Status),
	}
}

// attrCap fits every attribute a span can have.
const attrCap = 14

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
	if route := Route(e.route); route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
		name = strs.Join(name, " ", route)
	}
	if host, port := httpconv.HostPort(e.host, scheme); host != "" {
		attrs = append(attrs, attribute.String("server.address", host), attribute.Int("server.port", port))
	}
	if host, port, err := net.SplitHostPort(e.remoteAddr); err == nil {
		attrs = append(attrs, attribute.String("client.address", host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, attribute.Int("client.port", p))
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
		if e.status >= 500 {
			s.Status = codes.Error
			attrs = append(attrs, attribute.String("error.type", strconv.Itoa(e.status)))
		}
	}
	s.Attributes = attrs
	s.TraceState = e.traceState
	return s
}

// Route turns a ServeMux pattern ("[METHOD ][HOST]/PATH") into http.route,
// the path template: "GET example.com/items/{id}" -> "/items/{id}". The
// method ends at the first space or tab, which a path may also contain.
func Route(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 && !strings.Contains(pattern[:i], "/") {
		pattern = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}
