// Command echosvc serves routes with github.com/labstack/echo/v4:
// parameters, a wildcard, middleware that replaces the request, nested
// groups. The agent's http.route must be echo's route path.
//
//	echosvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

type key struct{}

func withValue(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), key{}, r.URL.Path)))
		return next(c)
	}
}

func ok(c echo.Context) error { return c.String(200, "ok\n") }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: echosvc serve [ADDR]")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echosvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Listener = ln
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

	e.GET("/quit", func(c echo.Context) error {
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
		return c.String(200, "bye\n")
	})
	go e.Start("")
	fmt.Println("listening", ln.Addr())
	<-quit
}
