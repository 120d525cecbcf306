package server

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/internal/spantest"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// request is a plain HTTP/1.1 request; mod changes it per case.
func request(mod func(*event)) event {
	e := event{
		method: "GET", proto: "HTTP/1.1", path: "/items/1",
		host: "example.com:8080", remoteAddr: "10.0.0.1:54321", status: 200,
	}
	if mod != nil {
		mod(&e)
	}
	return e
}

// requestAttrs are the attributes of request(nil).
var requestAttrs = spantest.Attrs{
	"http.request.method":       "GET",
	"url.scheme":                "http",
	"url.path":                  "/items/1",
	"server.address":            "example.com",
	"server.port":               8080,
	"client.address":            "10.0.0.1",
	"client.port":               54321,
	"network.peer.address":      "10.0.0.1",
	"network.peer.port":         54321,
	"network.protocol.version":  "1.1",
	"http.response.status_code": 200,
}

func TestToSpanAttributes(t *testing.T) {
	tests := []struct {
		desc       string
		mod        func(*event)
		wantName   string
		wantStatus codes.Code
		over       spantest.Attrs // changes to requestAttrs; nil removes
	}{
		{desc: "plain GET", wantName: "GET", over: nil},
		{
			desc: "empty method is GET",
			mod:  func(e *event) { e.method = "" }, wantName: "GET",
		},
		{
			desc: "POST", mod: func(e *event) { e.method = "POST" }, wantName: "POST",
			over: spantest.Attrs{"http.request.method": "POST"},
		},
		{
			desc: "unknown method", mod: func(e *event) { e.method = "PURGE" }, wantName: "HTTP",
			over: spantest.Attrs{"http.request.method": "_OTHER", "http.request.method_original": "PURGE"},
		},
		{
			desc: "route", mod: func(e *event) { e.route = "/items/{id}" }, wantName: "GET /items/{id}",
			over: spantest.Attrs{"http.route": "/items/{id}"},
		},
		{
			desc: "wildcard route",
			mod:  func(e *event) { e.route = "/items/{rest...}" }, wantName: "GET /items/{rest...}",
			over: spantest.Attrs{"http.route": "/items/{rest...}"},
		},
		{
			desc: "root route", mod: func(e *event) { e.route, e.path = "/", "/" }, wantName: "GET /",
			over: spantest.Attrs{"http.route": "/", "url.path": "/"},
		},
		{
			desc: "unknown method with route",
			mod:  func(e *event) { e.method, e.route = "PURGE", "/items/{id}" }, wantName: "HTTP /items/{id}",
			over: spantest.Attrs{"http.request.method": "_OTHER", "http.request.method_original": "PURGE", "http.route": "/items/{id}"},
		},
		{
			desc: "query", mod: func(e *event) { e.query = "q=otel&page=2" }, wantName: "GET",
			over: spantest.Attrs{"url.query": "q=otel&page=2"},
		},
		{
			desc: "user agent", mod: func(e *event) { e.userAgent = "curl/8.5.0" }, wantName: "GET",
			over: spantest.Attrs{"user_agent.original": "curl/8.5.0"},
		},
		{
			desc: "TLS, HTTP/2, host without port",
			mod:  func(e *event) { e.tls, e.proto, e.host = true, "HTTP/2.0", "example.com" }, wantName: "GET",
			over: spantest.Attrs{"url.scheme": "https", "server.port": 443, "network.protocol.version": "2"},
		},
		{
			desc: "plain HTTP host without port", mod: func(e *event) { e.host = "example.com" }, wantName: "GET",
			over: spantest.Attrs{"server.port": 80},
		},
		{
			desc: "panicked, nothing written", mod: func(e *event) { e.status, e.panicked, e.panicType = 0, true, "*main.panicValue" },
			wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": nil, "error.type": "*main.panicValue"},
		},
		{
			desc: "panicked after a 200 was written, type unknown", mod: func(e *event) { e.panicked = true },
			wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"error.type": "_OTHER"},
		},
		{
			desc: "HTTP/1.0", mod: func(e *event) { e.proto = "HTTP/1.0" }, wantName: "GET",
			over: spantest.Attrs{"network.protocol.version": "1.0"},
		},
		{
			desc: "unparsable proto", mod: func(e *event) { e.proto = "garbage" }, wantName: "GET",
			over: spantest.Attrs{"network.protocol.version": nil},
		},
		{
			desc: "IPv6 host and peer",
			mod:  func(e *event) { e.host, e.remoteAddr = "[::1]:8443", "[2001:db8::1]:40000" }, wantName: "GET",
			over: spantest.Attrs{
				"server.address": "::1", "server.port": 8443, "client.address": "2001:db8::1", "client.port": 40000,
				"network.peer.address": "2001:db8::1", "network.peer.port": 40000,
			},
		},
		{
			desc: "IPv6 host without port, TLS",
			mod:  func(e *event) { e.host, e.tls = "[::1]", true }, wantName: "GET",
			over: spantest.Attrs{"server.address": "::1", "server.port": 443, "url.scheme": "https"},
		},
		{
			desc: "no host", mod: func(e *event) { e.host = "" }, wantName: "GET",
			over: spantest.Attrs{"server.address": nil, "server.port": nil},
		},
		{
			desc: "remote address without port", mod: func(e *event) { e.remoteAddr = "@" }, wantName: "GET",
			over: spantest.Attrs{"client.address": nil, "client.port": nil, "network.peer.address": nil, "network.peer.port": nil},
		},
		{
			desc: "remote port not a number", mod: func(e *event) { e.remoteAddr = "10.0.0.1:x" }, wantName: "GET",
			over: spantest.Attrs{"client.port": nil, "network.peer.port": nil},
		},
		{
			desc: "no status (HTTP/2, hijacked)", mod: func(e *event) { e.status = 0 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": nil},
		},
		{
			desc: "3xx", mod: func(e *event) { e.status = 302 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": 302},
		},
		{
			desc: "4xx is not a server error", mod: func(e *event) { e.status = 404 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": 404},
		},
		{
			desc: "499 is not a server error", mod: func(e *event) { e.status = 499 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": 499},
		},
		{
			desc: "500", mod: func(e *event) { e.status = 500 }, wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": 500, "error.type": "500"},
		},
		{
			desc: "503 over TLS with route",
			mod:  func(e *event) { e.status, e.tls, e.route = 503, true, "/items/{id}" }, wantName: "GET /items/{id}",
			wantStatus: codes.Error,
			over: spantest.Attrs{
				"http.response.status_code": 503, "error.type": "503",
				"url.scheme": "https", "http.route": "/items/{id}",
			},
		},
		{
			desc: "everything empty",
			mod:  func(e *event) { *e = event{} }, wantName: "GET",
			over: spantest.Attrs{
				"url.path": "", "server.address": nil, "server.port": nil, "client.address": nil,
				"client.port": nil, "network.peer.address": nil, "network.peer.port": nil,
				"network.protocol.version": nil, "http.response.status_code": nil,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := toSpan(request(tt.mod), probe.Clock{}, nil, nil)
			if s.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", s.Name, tt.wantName)
			}
			if s.Kind != trace.SpanKindServer {
				t.Errorf("Kind = %v, want server", s.Kind)
			}
			if s.Status != tt.wantStatus {
				t.Errorf("Status = %v, want %v", s.Status, tt.wantStatus)
			}
			spantest.Check(t, s.Attributes, requestAttrs.With(tt.over))
		})
	}
}

// TestToSpanAttrCap: the span with every attribute fits attrCap, so the
// reused buffer never grows.
func TestToSpanAttrCap(t *testing.T) {
	e := request(func(e *event) {
		e.method, e.query, e.route, e.userAgent, e.status = "PURGE", "q=1", "/items/{id}", "curl/8.5.0", 503
	})
	s := toSpan(e, probe.Clock{}, nil, nil)
	if len(s.Attributes) != attrCap || cap(s.Attributes) != attrCap {
		t.Errorf("%d attributes in a buffer of %d, want both %d: %v", len(s.Attributes), cap(s.Attributes), attrCap, s.Attributes)
	}
}

func TestToSpanContext(t *testing.T) {
	traceID := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID := [8]byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2}
	parent := [8]byte{9, 8, 7, 6, 5, 4, 3, 2}
	tests := []struct {
		flags        uint8
		parent       [8]byte
		parentRemote bool
		traceState   string
		wantSampled  bool
		wantRemote   bool
	}{
		{flags: 0x01, parent: parent, parentRemote: true, traceState: "vendor=a,other=b", wantSampled: true, wantRemote: true},
		{flags: 0x00, parent: parent, parentRemote: true, wantRemote: true},
		{flags: 0x03, parent: parent, wantSampled: true},
		{flags: 0x02, parent: parent},
		{flags: 0x01, parentRemote: true, wantSampled: true}, // remote flag without a parent: a root
		{flags: 0x01, wantSampled: true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := request(func(e *event) {
				e.base = span.Base{
					StartNs: 1_700_000_000_000_000_000, EndNs: 1_700_000_000_250_000_000,
					TraceID: traceID, SpanID: spanID, Flags: tt.flags,
					Parent: tt.parent, ParentRemote: tt.parentRemote,
				}
				e.traceState = tt.traceState
			})
			s := toSpan(e, probe.Clock{}, nil, nil)
			s.Attributes = nil // checked in TestToSpanAttributes
			want := exporter.Span{
				Name: "GET", Kind: trace.SpanKindServer,
				TraceID: traceID, SpanID: spanID, Parent: tt.parent,
				RemoteParent: tt.wantRemote, TraceState: tt.traceState, Sampled: tt.wantSampled,
				Start: time.Unix(0, 1_700_000_000_000_000_000), End: time.Unix(0, 1_700_000_000_250_000_000),
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("toSpan =\n%+v\nwant\n%+v", s, want)
			}
		})
	}
}

// Semantic conventions (url.query, v1.37): values of AWSAccessKeyId,
// Signature, sig and X-Goog-Signature are replaced by REDACTED, keys kept.
func TestToSpanRedactsQuery(t *testing.T) {
	e := request(func(e *event) {
		e.query = "q=otel&AWSAccessKeyId=AKIA1&Signature=s1&sig=s2&X-Goog-Signature=s3"
	})
	got := spantest.Map(t, toSpan(e, probe.Clock{}, nil, nil).Attributes)["url.query"]
	want := "q=otel&AWSAccessKeyId=REDACTED&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED"
	if got != want {
		t.Errorf("url.query = %q, want %q", got, want)
	}
	// v1.42 on: SigV4's X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token.
	e.query = "X-Amz-Credential=AKIA%2Fx&X-Amz-Date=1&X-Amz-Security-Token=t&X-Amz-Signature=s"
	got = spantest.Map(t, toSpan(e, probe.Clock{}, nil, nil).Attributes)["url.query"]
	want = "X-Amz-Credential=REDACTED&X-Amz-Date=1&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED"
	if got != want {
		t.Errorf("url.query = %q, want %q", got, want)
	}
}
