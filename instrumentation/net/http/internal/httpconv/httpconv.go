// Package httpconv holds the OpenTelemetry HTTP semantic conventions the
// net/http server and client converters share.
package httpconv

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// knownMethods are the methods semantic conventions name as such.
var knownMethods = map[string]bool{
	"CONNECT": true, "DELETE": true, "GET": true, "HEAD": true, "OPTIONS": true,
	"PATCH": true, "POST": true, "PUT": true, "TRACE": true,
}

// Method returns http.request.method (and http.request.method_original
// for a method outside the known set, reported as _OTHER), and the method
// part of the span name ("HTTP" for _OTHER). Go's "" means GET. The
// attributes are appended to attrs.
func Method(attrs []attribute.KeyValue, m string) ([]attribute.KeyValue, string) {
	if m == "" {
		m = "GET"
	}
	if knownMethods[m] {
		return append(attrs, attribute.String("http.request.method", m)), m
	}
	return append(attrs,
		attribute.String("http.request.method", "_OTHER"),
		attribute.String("http.request.method_original", m),
	), "HTTP"
}

// HostPort splits "host[:port]" into server.address and server.port,
// using the scheme's default port when none is given.
func HostPort(hostport, scheme string) (host string, port int) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]")
	} else if n, err := strconv.Atoi(p); err == nil {
		return host, n
	}
	switch scheme {
	case "https":
		return host, 443
	case "http":
		return host, 80
	}
	return host, 0
}

// ProtocolVersion turns "HTTP/1.1" into "1.1" and "HTTP/2.0" into "2".
func ProtocolVersion(proto string) string {
	v, ok := strings.CutPrefix(proto, "HTTP/")
	if !ok {
		return ""
	}
	if v == "2.0" || v == "3.0" {
		return v[:1]
	}
	return v
}

// sensitiveParams are query parameters whose values semantic conventions
// say to redact (url.query, url.full): v1.37's list (AWSAccessKeyId,
// Signature: SigV2) and v1.42's (the X-Amz-* of SigV4), both, since
// either kind of presigned URL carries credentials.
var sensitiveParams = []string{
	"AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature",
	"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
}

// sensitive: key, as a server decodes it, is a sensitive parameter
// (case-sensitive, as semantic conventions say).
func sensitive(key string) bool {
	if slices.Contains(sensitiveParams, key) {
		return true
	}
	if strings.IndexByte(key, '%') < 0 {
		return false
	}
	k, err := url.QueryUnescape(key)
	return err == nil && slices.Contains(sensitiveParams, k)
}

// RedactQuery replaces the values of sensitive parameters in a raw query
// by REDACTED, keeping everything else (keys too) as sent.
func RedactQuery(rawQuery string) string {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		k, _, ok := strings.Cut(p, "=")
		if ok && sensitive(k) {
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}
