// Package client instruments net/http clients: one CLIENT span per request
// at Transport.roundTrip, two uprobe hits per request. Its parent is the
// live span owning the request's context (or that context's nearest owned
// ancestor), else the calling goroutine's GLS context, else none (a new
// trace).
package client

import (
	"net/url"
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

// Fields are the struct offsets the client probe reads.
var Fields = []offsets.Field{
	"net/http.Request.Method", "net/http.Request.URL", "net/http.Request.Header", "net/http.Request.ctx",
	"net/http.Response.StatusCode", "net/http.Response.ProtoMajor", "net/http.Response.ProtoMinor",
	"net/url.URL.Scheme", "net/url.URL.Host", "net/url.URL.Path", "net/url.URL.RawQuery",
	"net/url.URL.User", "net/url.URL.Fragment",
}

// SockMsgFields are what arming a connection for sk_msg injection reads:
// the TCP connection a persistConn writes to.
var SockMsgFields = []offsets.Field{
	"net/http.persistConn.conn", "net/http.persistConn.tlsState",
	"net.TCPConn.conn", "net.conn.fd",
	"net.netFD.family", "net.netFD.sotype", "net.netFD.laddr", "net.netFD.raddr",
	"net.TCPAddr.IP", "net.TCPAddr.Port",
}

// WriteUserFields are what the write-user injector reads and writes.
var WriteUserFields = []offsets.Field{
	"net/http.transferWriter.Header", "bufio.Writer.buf", "bufio.Writer.n",
}

// sharedMaps are shared by the span probe and its write-user injector.
// server_requests: a traceparent the request carries is checked against
// the incoming one of the server request it was made for (forwarded).
var sharedMaps = []string{"client_inject_headers", "server_requests"}

// New declares the client probe; sink receives each finished span on the
// agent's event goroutine, and must copy the attributes it keeps. inject says how requests without a traceparent
// of their own get the client span's: with sk_msg the probe also arms each
// request's connection at persistConn.roundTrip (one more uprobe hit);
// with write_user, WriteUser's probe must be loaded too.
func New(sink func(exporter.Span), inject propagation.Injection) *probe.Probe {
	var strs span.Strings // Handle runs on one goroutine
	var attrs []attribute.KeyValue
	urls := urlCache{}
	p := &probe.Probe{
		Name: "net/http/client",
		Spec: loadProbe,
		Hooks: []probe.Hook{{
			Symbol: "net/http.(*Transport).roundTrip",
			Entry:  "uprobe_net_http_Transport_roundTrip",
			Return: "uprobe_net_http_Transport_roundTrip_ret",
		}},
		Fields:   slices.Concat(propagation.Fields, propagation.ContextFields, Fields),
		Optional: SockMsgFields,
		Shared:   sharedMaps,
		Consts: func(bin *offsets.Binary) map[string]any {
			c := header.Consts(bin)
			c["inject_mode"] = uint32(inject)
			return c
		},
		Failure: probe.FailWarn,
		Kinds:   []uint32{uint32(probeEventKindEVENT_KIND_HTTP_CLIENT)},
		Handle: func(t *probe.Target, raw []byte) {
			if ev := probe.View[probeClientEvent](raw); ev != nil {
				e := decode(ev, &strs)
				if ev.ErrItab != 0 {
					e.errType = span.ErrorType(t, ev.ErrItab)
				}
				s := toSpan(e, t.Clock, urls, attrs)
				attrs = s.Attributes
				sink(s)
			}
		},
	}
	if inject == propagation.InjectSockMsg {
		// Required then: a zero offset is a real one (net.conn.fd is 0).
		p.Fields, p.Optional = append(p.Fields, SockMsgFields...), nil
		p.Hooks = append(p.Hooks, probe.Hook{
			Symbol: "net/http.(*persistConn).roundTrip",
			Entry:  "uprobe_net_http_persistConn_roundTrip",
		})
	}
	return p
}

// WriteUser declares the write-user injector: it writes the traceparent
// line New's probe prepared into the request's write buffer. Its object
// only loads where bpf_probe_write_user is allowed.
func WriteUser() *probe.Probe {
	return &probe.Probe{
		Name: "net/http/client/inject",
		Spec: loadWriteuser,
		Hooks: []probe.Hook{{
			Symbol: "net/http.(*transferWriter).writeHeader",
			Entry:  "uprobe_net_http_transferWriter_writeHeader",
		}},
		Fields:  WriteUserFields,
		Shared:  sharedMaps,
		Failure: probe.FailWarn,
	}
}

// event is what the client probe reports, free of BPF types.
type event struct {
	base span.Base
	url  urlParts
	// method, and the response's protocol version ("1.1", "2"; "": none)
	method, protoVersion string
	status               int
	errType              string // "" when the round trip returned no error
}

// urlParts are the request URL's fields url.full is made of.
type urlParts struct {
	scheme, host, path, rawQuery, fragment string
	user                                   bool // user info, which url.full redacts
}

func decode(ev *probeClientEvent, strs *span.Strings) event {
	s := ev.R.Span
	return event{
		base: span.Base{
			StartNs: s.StartNs, EndNs: s.EndNs, TraceID: s.Sc.TraceId, SpanID: s.Sc.SpanId,
			Flags: s.Sc.Flags, Parent: s.ParentSpanId, ParentRemote: s.ParentRemote != 0,
		},
		url: urlParts{
			scheme:   strs.Str(ev.Scheme.Len, ev.Scheme.S[:]),
			host:     strs.Str(ev.Host.Len, ev.Host.S[:]),
			path:     strs.Str(ev.Path.Len, ev.Path.S[:]),
			rawQuery: strs.Str(ev.Query.Len, ev.Query.S[:]),
			fragment: strs.Str(ev.Fragment.Len, ev.Fragment.S[:]),
			user:     ev.User != 0,
		},
		method:       strs.Str(ev.Method.Len, ev.Method.S[:]),
		protoVersion: protoVersion(ev.ProtoMajor, ev.ProtoMinor),
		status:       int(ev.Status),
	}
}

// protoVersion is network.protocol.version of a response's protocol
// (major 0: no response).
func protoVersion(major, minor uint8) string {
	switch {
	case major == 0:
		return ""
	case major == 1 && minor == 1:
		return "1.1"
	case major == 1 && minor == 0:
		return "1.0"
	case minor == 0:
		return strconv.Itoa(int(major))
	}
	return strconv.Itoa(int(major)) + "." + strconv.Itoa(int(minor))
}

// toSpan applies the HTTP client semantic conventions; the attributes are
// built in buf (span.Attrs).
func toSpan(e event, clock probe.Clock, urls urlCache, buf []attribute.KeyValue) exporter.Span {
	attrs, name := httpconv.Method(span.Attrs(buf, attrCap), e.method)
	attrs = append(attrs, attribute.String("url.full", urls.full(e)))
	if host, port := httpconv.HostPort(e.url.host, e.url.scheme); host != "" {
		attrs = append(attrs, attribute.String("server.address", host), attribute.Int("server.port", port))
	}
	if e.protoVersion != "" {
		attrs = append(attrs, attribute.String("network.protocol.version", e.protoVersion))
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

// attrCap fits every attribute a span can have.
const attrCap = 9

// urlCache keeps url.full per URL: requests mostly repeat theirs. A nil
// cache keeps nothing.
type urlCache map[urlParts]string

// maxURLs bounds the cache; when full it is cleared.
const maxURLs = 4096

func (c urlCache) full(e event) string {
	if u, ok := c[e.url]; ok {
		return u
	}
	u := e.url.full()
	if c != nil {
		if len(c) >= maxURLs {
			clear(c)
		}
		c[e.url] = u
	}
	return u
}

// full is url.full: user info as REDACTED:REDACTED (semconv), sensitive
// query values redacted, the fragment kept.
func (p urlParts) full() string {
	u := url.URL{Scheme: p.scheme, Host: p.host, Path: p.path}
	if p.user {
		u.User = url.UserPassword("REDACTED", "REDACTED")
	}
	s := u.String()
	if p.rawQuery != "" {
		s += "?" + httpconv.RedactQuery(p.rawQuery)
	}
	if p.fragment != "" {
		s += "#" + (&url.URL{Fragment: p.fragment}).EscapedFragment()
	}
	return s
}
