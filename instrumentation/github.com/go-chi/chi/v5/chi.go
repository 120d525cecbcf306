// Package chi gives server spans the route pattern of
// github.com/go-chi/chi/v5 (v5.3.0 on, whose router asks for it once it
// found the handler): "/users/{id}", mounts included. Registers only, so
// stripped binaries too. One hit per chi router a request passes.
package chi

import (
	"github.com/glsotel/glsotel/instrumentation/net/http/server"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// New declares the probe.
func New() *probe.Probe {
	return server.RouterProbe("github.com/go-chi/chi/v5", loadProbe, []probe.Hook{{
		Symbol: "github.com/go-chi/chi/v5.(*Context).RoutePattern",
		Return: "uprobe_chi_Context_RoutePattern_ret",
	}})
}
