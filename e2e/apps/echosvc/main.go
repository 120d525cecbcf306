// Command echosvc serves routes with github.com/labstack/echo/v4:
// parameters, a wildcard, middleware that replaces the request, nested
// groups. The agent's http.route must be echo's route path.
//
//	echosvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"github.com/labstack/echo/v4"

	"appmain"
)

func withValue(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.SetRequest(appmain.WithValue(c.Request()))
		return next(c)
	}
}

func ok(c echo.Context) error { return c.String(200, "ok\n") }

func main() {
	e := echo.New()
	e.Use(withValue)
	e.GET("/", ok)
	e.GET("/users/:id", ok)
	e.GET("/users/:id/posts/:post", ok)
	e.POST("/users", ok)
	e.GET("/static/*", ok)

	api := e.Group("/api/v1", withValue)
	api.GET("/items/:id", ok)
	api.POST("/items", ok)
	orders := api.Group("/orders")
	orders.GET("/:order/lines/:line", ok)
	appmain.Serve("echosvc", e)
}
