// Package mux gives server spans the path template of the
// github.com/gorilla/mux route that matched: "/users/{id}", subrouter
// prefixes included. The template sits in the router's structs, whose
// offsets only DWARF gives: a stripped binary goes without (the probe is
// left out with a warning). One hit per request.
package mux

import (
	"github.com/glsotel/glsotel/instrumentation/net/http/server"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// New declares the probe.
func New() *probe.Probe {
	return server.RouterProbe("github.com/gorilla/mux", loadProbe, []probe.Hook{{
		Symbol: "github.com/gorilla/mux.requestWithRoute",
		Entry:  "uprobe_gorilla_mux_requestWithRoute",
	}},
		"github.com/gorilla/mux.Route.routeConf", "github.com/gorilla/mux.routeConf.regexp",
		"github.com/gorilla/mux.routeRegexpGroup.path", "github.com/gorilla/mux.routeRegexp.template")
}
