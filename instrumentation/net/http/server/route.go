package server

import (
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// RouteMaps are the maps the server probe shares with the router probes
// (bpf/include/glsotel/route.h): requests in flight and their routes.
var RouteMaps = []string{"server_requests", "server_routes"}

// routeEntry is one router's word on a request: the template it matched
// (source's syntax), "" when it matched none.
type routeEntry struct {
	source   probeRouteSource
	template string
}

// routeChain copies the routers' entries out of an event, outermost first;
// ok is false when one was too long to be copied whole, or there were more
// than the event holds.
func routeChain(rt *probeServerRoute, strs *span.Strings) (chain [len(probeServerRoute{}.E)]routeEntry, n int, ok bool) {
	if rt.Overflow != 0 || int(rt.N) > len(rt.E) {
		return chain, 0, false
	}
	for i := range int(rt.N) {
		e := &rt.E[i]
		if e.Truncated != 0 {
			return chain, 0, false
		}
		chain[i] = routeEntry{probeRouteSource(e.Source), strs.Str(e.Pattern.Len, e.Pattern.S[:])}
	}
	return chain, int(rt.N), true
}

// httpRoute is the request's http.route: the template of the innermost
// router, which chose the handler. Mounted below an outer subtree that
// stripped its prefix (http.StripPrefix, or any router under a ServeMux
// subtree), the innermost template is relative: the outer mounts' prefixes
// go in front, as long as the result matches the request's path. Anything
// else is no route: a wrong route is worse than none.
func httpRoute(chain []routeEntry, path string, strs *span.Strings) string {
	if len(chain) == 0 {
		return ""
	}
	route := chain[len(chain)-1].route()
	if route == "" || len(chain) == 1 || routeMatches(route, path) {
		return route
	}
	for i := len(chain) - 2; i >= 0; i-- {
		prefix, ok := mountPrefix(chain[i].route())
		if !ok {
			return ""
		}
		route = strs.Join(prefix, "", route)
		if routeMatches(route, path) {
			return route
		}
	}
	return ""
}

// route is e's template as http.route: a ServeMux pattern's path part,
// routers' templates as they are.
func (e routeEntry) route() string {
	if e.source == probeRouteSourceROUTE_SOURCE_SERVEMUX {
		return Route(e.template)
	}
	return e.template
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

// mountPrefix is what a subtree template puts in front of the templates
// mounted below it: "/api/v1/" (ServeMux, gorilla), "/api/v1/*" (chi,
// echo), "/api/v1/*rest" (gin), "/api/v1/{rest...}" (ServeMux) all give
// "/api/v1". A template that is no subtree mounts nothing.
func mountPrefix(t string) (string, bool) {
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return "", false
	}
	if last := t[i+1:]; last == "" || segmentRest(last) {
		return t[:i], true
	}
	return "", false
}

// segmentRest: a template segment that matches the rest of the path.
func segmentRest(s string) bool {
	return s[0] == '*' || strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}")
}

// segmentParam: a template segment that matches one path segment, in any
// of the routers' syntaxes (":id", "{id}", "{id:[0-9]+}").
func segmentParam(s string) bool {
	return s[0] == ':' || s[0] == '{' && s[len(s)-1] == '}' && s != "{$}"
}

// routeMatches reports whether template t, in any router's syntax, matches
// path: literal segments equal, parameters match one segment, a rest
// parameter or a trailing slash (a subtree) the rest; "{$}" ends it.
func routeMatches(t, path string) bool {
	if t == "" || path == "" || t[0] != '/' || path[0] != '/' {
		return false
	}
	t, path = t[1:], path[1:]
	for {
		seg, tRest, more := strings.Cut(t, "/")
		switch {
		case seg == "" && !more: // t ended with "/": a subtree, or "/" itself
			return true
		case seg == "{$}":
			return path == "" && !more
		case segmentRest(seg):
			return !more
		}
		pseg, pRest, pMore := strings.Cut(path, "/")
		if !segmentParam(seg) && seg != pseg || segmentParam(seg) && pseg == "" {
			return false
		}
		if !more {
			return !pMore
		}
		if !pMore {
			// "/users/" against "/users": the subtree's own redirect.
			return tRest == "" || tRest == "{$}"
		}
		t, path = tRest, pRest
	}
}

// RouterProbe declares the probe of a router library: its hooks record
// the route they matched for the live server request (route.h), which
// this package's probe reports. They emit no events. fields are the
// router's struct offsets its programs read (DWARF only: the offsets table
// knows the standard library's).
func RouterProbe(name string, spec func() (*ebpf.CollectionSpec, error), hooks []probe.Hook, fields ...offsets.Field) *probe.Probe {
	return &probe.Probe{
		Name:    name,
		Spec:    spec,
		Hooks:   hooks,
		Fields:  slices.Concat(propagation.Fields, fields),
		Shared:  RouteMaps,
		Failure: probe.FailWarn,
	}
}
