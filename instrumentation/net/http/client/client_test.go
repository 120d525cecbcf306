package client

import (
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

func TestFullURL(t *testing.T) {
	tests := []struct {
		scheme, host, path, rawQuery string
		want                         string
	}{
		{"https", "example.com", "/a/b", "", "https://example.com/a/b"},
		{"http", "example.com:8080", "/search", "q=otel&page=2", "http://example.com:8080/search?q=otel&page=2"},
		{"https", "example.com", "", "", "https://example.com"},
		{"https", "example.com", "", "q=1", "https://example.com?q=1"},
		{"http", "[::1]:8080", "/x", "", "http://[::1]:8080/x"},
		// Path is escaped as url.URL does; the raw query is kept as sent.
		{"https", "example.com", "/a b/ü", "q=a%20b", "https://example.com/a%20b/%C3%BC?q=a%20b"},
		// Sensitive query values are redacted, keys and other parameters kept.
		{
			"https", "s3.amazonaws.com", "/bucket/key", "AWSAccessKeyId=AKIAEXAMPLE&Expires=1700000000&Signature=abc%2Bdef",
			"https://s3.amazonaws.com/bucket/key?AWSAccessKeyId=REDACTED&Expires=1700000000&Signature=REDACTED",
		},
		{"https", "x.blob.core.windows.net", "/c/b", "sv=2020&sig=secret", "https://x.blob.core.windows.net/c/b?sv=2020&sig=REDACTED"},
		{
			"https", "storage.googleapis.com", "/b/o", "X-Goog-Date=20240101&X-Goog-Signature=ff00",
			"https://storage.googleapis.com/b/o?X-Goog-Date=20240101&X-Goog-Signature=REDACTED",
		},
		{"https", "example.com", "/", "sig=1&sig=2&q=sig", "https://example.com/?sig=REDACTED&sig=REDACTED&q=sig"},
		{"https", "example.com", "/", "sig=", "https://example.com/?sig=REDACTED"},
		// Only these exact keys: similar names are left alone.
		{"https", "example.com", "/", "signature=x&mysig=y", "https://example.com/?signature=x&mysig=y"},
		// SigV4 presigned URLs (semconv v1.42 on lists these; still redacted
		// under v1.37's "sensitive content SHOULD be scrubbed").
		{
			"https", "b.s3.amazonaws.com", "/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-Security-Token=tok&X-Amz-SignedHeaders=host&X-Amz-Signature=abcd",
			"https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-Security-Token=REDACTED&X-Amz-SignedHeaders=host&X-Amz-Signature=REDACTED",
		},
		// Matching is case-sensitive, on the key as a server decodes it.
		{"https", "example.com", "/", "x-amz-signature=a&SIG=b", "https://example.com/?x-amz-signature=a&SIG=b"},
		{"https", "example.com", "/", "X%2DAmz%2DSignature=a&si%67=b", "https://example.com/?X%2DAmz%2DSignature=REDACTED&si%67=REDACTED"},
	}
	for _, tt := range tests {
		p := urlParts{scheme: tt.scheme, host: tt.host, path: tt.path, rawQuery: tt.rawQuery}
		if got := p.full(); got != tt.want {
			t.Errorf("%+v: url.full %q, want %q", p, got, tt.want)
		}
	}
}

// TestFullURLUserFragment: user info is REDACTED:REDACTED (semconv), never
// dropped or sent; the fragment is kept, escaped as url.URL does.
func TestFullURLUserFragment(t *testing.T) {
	tests := []struct {
		p    urlParts
		want string
	}{
		{urlParts{scheme: "https", host: "h", path: "/a", user: true}, "https://REDACTED:REDACTED@h/a"},
		{urlParts{scheme: "https", host: "h", path: "/a", fragment: "top"}, "https://h/a#top"},
		{urlParts{scheme: "https", host: "h", path: "/a", rawQuery: "q=1&sig=x", fragment: "sec 2"}, "https://h/a?q=1&sig=REDACTED#sec%202"},
		{urlParts{scheme: "http", host: "h:81", user: true, rawQuery: "a=b", fragment: "f"}, "http://REDACTED:REDACTED@h:81?a=b#f"},
	}
	for _, tt := range tests {
		if got := tt.p.full(); got != tt.want {
			t.Errorf("%+v: url.full %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestProtoVersion(t *testing.T) {
	for _, tt := range []struct {
		major, minor uint8
		want         string
	}{{0, 0, ""}, {1, 1, "1.1"}, {1, 0, "1.0"}, {2, 0, "2"}, {3, 0, "3"}} {
		if got := protoVersion(tt.major, tt.minor); got != tt.want {
			t.Errorf("protoVersion(%d, %d) = %q, want %q", tt.major, tt.minor, got, tt.want)
		}
	}
}

// request is an HTTPS GET answered 200; mod changes it per case.
func request(mod func(*event)) event {
	e := event{method: "GET", protoVersion: "1.1", url: urlParts{scheme: "https", host: "api.example.com", path: "/v1/items"}, status: 200}
	if mod != nil {
		mod(&e)
	}
	return e
}

// requestAttrs are the attributes of request(nil).
var requestAttrs = spantest.Attrs{
	"http.request.method":       "GET",
	"url.full":                  "https://api.example.com/v1/items",
	"server.address":            "api.example.com",
	"server.port":               443,
	"http.response.status_code": 200,
	"network.protocol.version":  "1.1",
}

func TestToSpanAttributes(t *testing.T) {
	tests := []struct {
		desc       string
		mod        func(*event)
		wantName   string
		wantStatus codes.Code
		over       spantest.Attrs // changes to requestAttrs; nil removes
	}{
		{desc: "GET 200", wantName: "GET"},
		{desc: "empty method is GET", mod: func(e *event) { e.method = "" }, wantName: "GET"},
		{
			desc: "unknown method", mod: func(e *event) { e.method = "PURGE" }, wantName: "HTTP",
			over: spantest.Attrs{"http.request.method": "_OTHER", "http.request.method_original": "PURGE"},
		},
		{
			desc: "plain HTTP with port and query",
			mod: func(e *event) {
				e.method, e.url.scheme, e.url.host, e.url.rawQuery = "POST", "http", "10.0.0.5:8080", "sig=s&q=1"
			},
			wantName: "POST",
			over: spantest.Attrs{
				"http.request.method": "POST", "url.full": "http://10.0.0.5:8080/v1/items?sig=REDACTED&q=1",
				"server.address": "10.0.0.5", "server.port": 8080,
			},
		},
		{
			desc: "plain HTTP default port", mod: func(e *event) { e.url.scheme = "http" }, wantName: "GET",
			over: spantest.Attrs{"url.full": "http://api.example.com/v1/items", "server.port": 80},
		},
		{
			desc: "IPv6 host", mod: func(e *event) { e.url.host = "[::1]" }, wantName: "GET",
			over: spantest.Attrs{"url.full": "https://[::1]/v1/items", "server.address": "::1"},
		},
		{
			desc: "no host", mod: func(e *event) { e.url.host = "" }, wantName: "GET",
			over: spantest.Attrs{"url.full": "https:///v1/items", "server.address": nil, "server.port": nil},
		},
		{
			desc: "HTTP/2", mod: func(e *event) { e.protoVersion = "2" }, wantName: "GET",
			over: spantest.Attrs{"network.protocol.version": "2"},
		},
		{
			desc: "user info and fragment", mod: func(e *event) { e.url.user, e.url.fragment = true, "x" }, wantName: "GET",
			over: spantest.Attrs{"url.full": "https://REDACTED:REDACTED@api.example.com/v1/items#x"},
		},
		{
			desc: "3xx", mod: func(e *event) { e.status = 302 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": 302},
		},
		{
			desc: "399", mod: func(e *event) { e.status = 399 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": 399},
		},
		{
			desc: "400", mod: func(e *event) { e.status = 400 }, wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": 400, "error.type": "400"},
		},
		{
			desc: "404", mod: func(e *event) { e.status = 404 }, wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": 404, "error.type": "404"},
		},
		{
			desc: "503", mod: func(e *event) { e.status = 503 }, wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": 503, "error.type": "503"},
		},
		{
			desc: "no status, no error", mod: func(e *event) { e.status = 0 }, wantName: "GET",
			over: spantest.Attrs{"http.response.status_code": nil},
		},
		{
			desc: "transport error", mod: func(e *event) { e.status, e.errType, e.protoVersion = 0, "*net.OpError", "" },
			wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": nil, "error.type": "*net.OpError", "network.protocol.version": nil},
		},
		{
			desc: "error type unknown", mod: func(e *event) { e.status, e.errType = 0, "_OTHER" },
			wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": nil, "error.type": "_OTHER"},
		},
		{
			desc: "error wins over a status", mod: func(e *event) { e.status, e.errType = 500, "*url.Error" },
			wantName: "GET", wantStatus: codes.Error,
			over: spantest.Attrs{"http.response.status_code": nil, "error.type": "*url.Error"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := toSpan(request(tt.mod), probe.Clock{}, nil, nil)
			if s.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", s.Name, tt.wantName)
			}
			if s.Kind != trace.SpanKindClient {
				t.Errorf("Kind = %v, want client", s.Kind)
			}
			if s.Status != tt.wantStatus {
				t.Errorf("Status = %v, want %v", s.Status, tt.wantStatus)
			}
			spantest.Check(t, s.Attributes, requestAttrs.With(tt.over))
		})
	}
}

func TestToSpanContext(t *testing.T) {
	traceID := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	spanID := [8]byte{0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 1, 2}
	parent := [8]byte{9, 8, 7, 6, 5, 4, 3, 2}
	tests := []struct {
		flags                   uint8
		parent                  [8]byte
		parentRemote            bool
		wantSampled, wantRemote bool
	}{
		{0x01, parent, false, true, false},
		{0x00, parent, true, false, true},
		{0x01, [8]byte{}, true, true, false},
	}
	for _, tt := range tests {
		e := request(func(e *event) {
			e.base = span.Base{
				StartNs: 1_000, EndNs: 5_000, TraceID: traceID, SpanID: spanID,
				Flags: tt.flags, Parent: tt.parent, ParentRemote: tt.parentRemote,
			}
		})
		s := toSpan(e, probe.Clock{}, nil, nil)
		s.Attributes = nil // checked in TestToSpanAttributes
		want := exporter.Span{
			Name: "GET", Kind: trace.SpanKindClient, TraceID: traceID, SpanID: spanID, Parent: tt.parent,
			RemoteParent: tt.wantRemote, Sampled: tt.wantSampled,
			Start: time.Unix(0, 1_000), End: time.Unix(0, 5_000),
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("toSpan(%+v) =\n%+v\nwant\n%+v", e.base, s, want)
		}
	}
}
