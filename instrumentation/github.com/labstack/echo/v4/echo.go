// Package echo gives server spans the path of the
// github.com/labstack/echo/v4 route that matched: "/users/:id", groups
// included. The path sits in echo's context, whose offset only DWARF
// gives: a stripped binary goes without (the probe is left out with a
// warning). Two hits per request.
package echo

import (
	"github.com/glsotel/glsotel/instrumentation/net/http/server"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// New declares the probe.
func New() *probe.Probe {
	return server.RouterProbe("github.com/labstack/echo/v4", loadProbe, []probe.Hook{{
		Symbol: "github.com/labstack/echo/v4.(*Router).Find",
		Entry:  "uprobe_echo_Router_Find",
		Return: "uprobe_echo_Router_Find_ret",
	}}, "github.com/labstack/echo/v4.context.path")
}
