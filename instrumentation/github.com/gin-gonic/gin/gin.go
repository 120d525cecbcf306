// Package gin gives server spans the full path of the
// github.com/gin-gonic/gin route that matched: "/users/:id", groups
// included. Registers only, so stripped binaries too. One hit per request.
package gin

import (
	"github.com/glsotel/glsotel/instrumentation/net/http/server"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

// New declares the probe.
func New() *probe.Probe {
	return server.RouterProbe("github.com/gin-gonic/gin", loadProbe, []probe.Hook{{
		Symbol: "github.com/gin-gonic/gin.(*node).getValue",
		Return: "uprobe_gin_node_getValue_ret",
	}})
}
