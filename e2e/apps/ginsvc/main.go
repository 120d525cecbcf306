// Command ginsvc serves routes with github.com/gin-gonic/gin: parameters,
// a catch-all, middleware that replaces the request, nested route groups.
// The agent's http.route must be gin's full path.
//
//	ginsvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"github.com/gin-gonic/gin"

	"appmain"
)

func withValue(c *gin.Context) {
	c.Request = appmain.WithValue(c.Request)
	c.Next()
}

func ok(c *gin.Context) { c.String(200, "ok\n") }

func main() {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(withValue)
	r.GET("/", ok)
	r.GET("/users/:id", ok)
	r.GET("/users/:id/posts/:post", ok)
	r.POST("/users", ok)
	r.GET("/static/*filepath", ok)

	api := r.Group("/api/v1", withValue)
	api.GET("/items/:id", ok)
	api.POST("/items", ok)
	orders := api.Group("/orders")
	orders.GET("/:order/lines/:line", ok)
	appmain.Serve("ginsvc", r)
}
