package server

import (
	"testing"

	"github.com/glsotel/glsotel/instrumentation/internal/span"
)

func TestRoute(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"GET /items/{id}", "/items/{id}"},
		{"/items/{id}", "/items/{id}"},
		{"example.com/x", "/x"},
		{"GET example.com/a/{b...}", "/a/{b...}"},
		{"POST  /x", "/x"},
		{"GET /{$}", "/{$}"},
		{"/", "/"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Route(tt.pattern); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// ServeMux separates the method from the rest of a pattern with a space or
// a tab, and a path may contain spaces (HandleFunc("GET\t/a b", h) is valid
// and matches "/a b").
func TestRouteTabSeparator(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{"GET\t/x", "/x"},
		{"GET\t/a b", "/a b"},
		{"/a b", "/a b"},
		{"GET \t/a b", "/a b"},
	}
	for _, tt := range tests {
		if got := Route(tt.pattern); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

const (
	srcMux     = probeRouteSourceROUTE_SOURCE_SERVEMUX
	srcChi     = probeRouteSourceROUTE_SOURCE_CHI
	srcGorilla = probeRouteSourceROUTE_SOURCE_GORILLA
	srcGin     = probeRouteSourceROUTE_SOURCE_GIN
	srcEcho    = probeRouteSourceROUTE_SOURCE_ECHO
)

// TestHTTPRoute: the innermost router's template, prefixed by the outer
// subtrees that stripped theirs, or nothing when the chain does not add
// up to the request's path.
func TestHTTPRoute(t *testing.T) {
	mux := func(p string) routeEntry { return routeEntry{srcMux, p} }
	tests := []struct {
		desc  string
		chain []routeEntry
		path  string
		want  string
	}{
		{"no router", nil, "/x", ""},
		{"one mux", []routeEntry{mux("GET /users/{id}")}, "/users/7", "/users/{id}"},
		{"one mux, no match", []routeEntry{mux("")}, "/nope", ""},
		{"nested, full patterns", []routeEntry{mux("/users/"), mux("GET /users/{id}")}, "/users/7", "/users/{id}"},
		{"nested, inner found nothing", []routeEntry{mux("/users/"), mux("")}, "/users/7/x", ""},
		{"StripPrefix", []routeEntry{mux("/api/v1/"), mux("GET /items/{id}")}, "/api/v1/items/9", "/api/v1/items/{id}"},
		{"StripPrefix, rest wildcard", []routeEntry{mux("/api/v1/"), mux("GET /files/{path...}")}, "/api/v1/files/a/b.txt", "/api/v1/files/{path...}"},
		{"StripPrefix, two levels", []routeEntry{mux("/a/"), mux("/b/"), mux("GET /c/{id}")}, "/a/b/c/1", "/a/b/c/{id}"},
		{"outer is no subtree", []routeEntry{mux("GET /x"), mux("GET /c/{id}")}, "/x", ""},
		{"stripped more than mounted", []routeEntry{mux("/api/v1/"), mux("GET /v1/items/{id}")}, "/api/v1/items/9", ""},
		{"chi under a mux subtree", []routeEntry{mux("/"), {srcChi, "/users/{id}"}}, "/users/3", "/users/{id}"},
		{"gin below StripPrefix", []routeEntry{mux("/svc/"), {srcGin, "/users/:id"}}, "/svc/users/3", "/svc/users/:id"},
		{"chi mount composed by chi", []routeEntry{{srcChi, "/api/v1/orders/{order}/lines/{line}"}}, "/api/v1/orders/1/lines/2", "/api/v1/orders/{order}/lines/{line}"},
		{"echo", []routeEntry{{srcEcho, "/static/*"}}, "/static/a/b", "/static/*"},
		{"gorilla", []routeEntry{{srcGorilla, "/items/{id:[0-9]+}"}}, "/items/5", "/items/{id:[0-9]+}"},
		{"root exact", []routeEntry{mux("GET /{$}")}, "/", "/{$}"},
	}
	var strs span.Strings
	for _, tt := range tests {
		if got := httpRoute(tt.chain, tt.path, &strs); got != tt.want {
			t.Errorf("%s: httpRoute(%v, %q) = %q, want %q", tt.desc, tt.chain, tt.path, got, tt.want)
		}
	}
}

func TestRouteMatches(t *testing.T) {
	tests := []struct {
		template, path string
		want           bool
	}{
		{"/", "/", true},
		{"/", "/anything/at/all", true},
		{"/{$}", "/", true},
		{"/{$}", "/x", false},
		{"/users/", "/users/", true},
		{"/users/", "/users/1/2", true},
		{"/users/", "/users", true},
		{"/users/{$}", "/users/", true},
		{"/users/{$}", "/users/1", false},
		{"/users/{id}", "/users/1", true},
		{"/users/{id}", "/users/", false},
		{"/users/{id}", "/users/1/2", false},
		{"/users/{id}", "/users", false},
		{"/users/:id", "/users/1", true},
		{"/users/{id:[0-9]+}", "/users/1", true},
		{"/a/{rest...}", "/a/b/c", true},
		{"/a/*", "/a/b/c", true},
		{"/a/*path", "/a/b/c", true},
		{"/a/b", "/a/c", false},
		{"/a/b", "/a/b/", false},
		{"/a/b/", "/a/b", true},
		{"/a", "/a", true},
		{"", "/a", false},
		{"a", "a", false},
	}
	for _, tt := range tests {
		if got := routeMatches(tt.template, tt.path); got != tt.want {
			t.Errorf("routeMatches(%q, %q) = %v, want %v", tt.template, tt.path, got, tt.want)
		}
	}
}

func TestMountPrefix(t *testing.T) {
	tests := []struct {
		template, want string
		ok             bool
	}{
		{"/api/v1/", "/api/v1", true},
		{"/api/v1/*", "/api/v1", true},
		{"/api/v1/*rest", "/api/v1", true},
		{"/api/v1/{rest...}", "/api/v1", true},
		{"/", "", true},
		{"/api/v1", "", false},
		{"/api/{id}", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got, ok := mountPrefix(tt.template); got != tt.want || ok != tt.ok {
			t.Errorf("mountPrefix(%q) = %q, %v; want %q, %v", tt.template, got, ok, tt.want, tt.ok)
		}
	}
}
