// Command ginsvc serves routes with github.com/gin-gonic/gin: parameters,
// a catch-all, middleware that replaces the request, nested route groups.
// The agent's http.route must be gin's full path.
//
//	ginsvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gin-gonic/gin"
)

type key struct{}

func withValue(c *gin.Context) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), key{}, c.Request.URL.Path))
	c.Next()
}

func ok(c *gin.Context) { c.String(200, "ok\n") }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: ginsvc serve [ADDR]")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ginsvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})

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

	r.GET("/quit", func(c *gin.Context) {
		c.String(200, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	go r.RunListener(ln)
	fmt.Println("listening", ln.Addr())
	<-quit
}
