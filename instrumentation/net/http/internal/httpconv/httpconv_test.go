package httpconv

import (
	"maps"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// attrMap turns attributes into key → value, failing on duplicate keys.
func attrMap(t *testing.T, kvs []attribute.KeyValue) map[string]any {
	t.Helper()
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[string(kv.Key)]; dup {
			t.Errorf("duplicate attribute %s", kv.Key)
		}
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func TestMethod(t *testing.T) {
	type attrs = map[string]any
	tests := []struct {
		in       string
		wantName string
		want     attrs
	}{
		{"GET", "GET", attrs{"http.request.method": "GET"}},
		{"HEAD", "HEAD", attrs{"http.request.method": "HEAD"}},
		{"POST", "POST", attrs{"http.request.method": "POST"}},
		{"PUT", "PUT", attrs{"http.request.method": "PUT"}},
		{"DELETE", "DELETE", attrs{"http.request.method": "DELETE"}},
		{"CONNECT", "CONNECT", attrs{"http.request.method": "CONNECT"}},
		{"OPTIONS", "OPTIONS", attrs{"http.request.method": "OPTIONS"}},
		{"TRACE", "TRACE", attrs{"http.request.method": "TRACE"}},
		{"PATCH", "PATCH", attrs{"http.request.method": "PATCH"}},
		// net/http: "" means GET.
		{"", "GET", attrs{"http.request.method": "GET"}},
		{"PURGE", "HTTP", attrs{"http.request.method": "_OTHER", "http.request.method_original": "PURGE"}},
		// Method names are case-sensitive in semantic conventions.
		{"get", "HTTP", attrs{"http.request.method": "_OTHER", "http.request.method_original": "get"}},
	}
	for _, tt := range tests {
		kvs, name := Method(nil, tt.in)
		if name != tt.wantName {
			t.Errorf("Method(%q) name = %q, want %q", tt.in, name, tt.wantName)
		}
		if got := attrMap(t, kvs); !maps.Equal(got, tt.want) {
			t.Errorf("Method(%q) attrs = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct {
		hostport, scheme string
		wantHost         string
		wantPort         int
	}{
		{"example.com:8080", "http", "example.com", 8080},
		{"example.com:8443", "https", "example.com", 8443},
		{"example.com", "http", "example.com", 80},
		{"example.com", "https", "example.com", 443},
		{"example.com", "ftp", "example.com", 0},
		{"example.com", "", "example.com", 0},
		{"10.0.0.1:9000", "http", "10.0.0.1", 9000},
		{"[::1]:8080", "http", "::1", 8080},
		{"[::1]", "https", "::1", 443},
		{"[::1]", "http", "::1", 80},
		// Callers drop the pair when host is "".
		{"", "http", "", 80},
	}
	for _, tt := range tests {
		host, port := HostPort(tt.hostport, tt.scheme)
		if host != tt.wantHost || port != tt.wantPort {
			t.Errorf("HostPort(%q, %q) = %q, %d; want %q, %d",
				tt.hostport, tt.scheme, host, port, tt.wantHost, tt.wantPort)
		}
	}
}

func TestProtocolVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP/1.1", "1.1"},
		{"HTTP/1.0", "1.0"},
		{"HTTP/2.0", "2"},
		{"HTTP/3.0", "3"},
		{"garbage", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ProtocolVersion(tt.in); got != tt.want {
			t.Errorf("ProtocolVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
