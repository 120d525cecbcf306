// Package client instruments net/http clients: one CLIENT span per request
// at Transport.roundTrip, two uprobe hits per request. Its parent is the
// live span owning the request's context (or that context's nearest owned
// ancestor), else the calling goroutine's GLS context, else none (a new
// trace).
package client

import (
	"bytes"
	"encoding/binary"
	"net/url"
	"slices"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/net/http/internal/httpconv"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// Fields are the struct offsets the client probe reads.
var Fields = []offsets.Field{
	"net/http.Request.Method", "net/http.Request.URL", "net/http.Request.ctx",
	"net/http.Response.StatusCode",
	"net/url.URL.Scheme", "net/url.URL.Host", "net/url.URL.Path", "net/url.URL.RawQuery",
}

// New declares the client probe; sink receives each finished span on the
// agent's event goroutine.
func New(sink func(exporter.Span)) *probe.Probe {
	return &probe.Probe{
		Name: "net/http/client",
		Spec: loadProbe,
		Hooks: []probe.Hook{{
			Symbol: "net/http.(*Transport).roundTrip",
			Entry:  "uprobe_net_http_Transport_roundTrip",
			Return: "uprobe_net_http_Transport_roundTrip_ret",
		}},
		Fields:  slices.Concat(propagation.Fields, propagation.ContextFields, Fields),
		Failure: probe.FailWarn,
		Kinds:   []uint32{uint32(probeEventKindEVENT_KIND_HTTP_CLIENT)},
		Handle: func(t *probe.Target, raw []byte) {
			var ev probeClientEvent
			if binary.Read(bytes.NewReader(raw), binary.LittleEndian, &ev) == nil {
				e := decode(ev)
				if ev.ErrItab != 0 {
					e.errType = span.ErrorType(t.Bin, ev.ErrItab)
				}
				sink(toSpan(e, t.Clock))
			}
		},
	}
}

// event is what the client probe reports, free of BPF types.
type event struct {
	base                                 span.Base
	method, scheme, host, path, rawQuery string
	status                               int
	errType                              string // "" when the round trip returned no error
}

func decode(ev probeClientEvent) event {
	s := ev.R.Span
	return event{
		base: span.Base{
			StartNs: s.StartNs, EndNs: s.EndNs, TraceID: s.Sc.TraceId, SpanID: s.Sc.SpanId,
			Flags: s.Sc.Flags, Parent: s.ParentSpanId, ParentRemote: s.ParentRemote != 0,
		},
		method:   span.Str(ev.Method.Len, ev.Method.S[:]),
		scheme:   span.Str(ev.Scheme.Len, ev.Scheme.S[:]),
		host:     span.Str(ev.Host.Len, ev.Host.S[:]),
		path:     span.Str(ev.Path.Len, ev.Path.S[:]),
		rawQuery: span.Str(ev.Query.Len, ev.Query.S[:]),
		status:   int(ev.Status),
	}
}

// toSpan applies the HTTP client semantic conventions.
func toSpan(e event, clock probe.Clock) exporter.Span {
	attrs, name := httpconv.Method(e.method)
	attrs = append(attrs, attribute.String("url.full", FullURL(e.scheme, e.host, e.path, e.rawQuery)))
	if host, port := httpconv.HostPort(e.host, e.scheme); host != "" {
		attrs = append(attrs, attribute.String("server.address", host), attribute.Int("server.port", port))
	}
	s := e.base.Span(name, trace.SpanKindClient, clock)
	switch {
	case e.errType != "":
		s.Status = codes.Error
		attrs = append(attrs, attribute.String("error.type", e.errType))
	case e.status != 0:
		attrs = append(attrs, attribute.Int("http.response.status_code", e.status))
		if e.status >= 400 {
			s.Status = codes.Error
			attrs = append(attrs, attribute.String("error.type", strconv.Itoa(e.status)))
		}
	}
	s.Attributes = attrs
	return s
}

// FullURL builds url.full without credentials (the probe never reads
// URL.User) and with sensitive query values redacted.
func FullURL(scheme, host, path, rawQuery string) string {
	u := url.URL{Scheme: scheme, Host: host, Path: path}
	s := u.String()
	if rawQuery == "" {
		return s
	}
	return s + "?" + httpconv.RedactQuery(rawQuery)
}
