// Package appmain is what the router fixture apps share: their command
// line, listener and way to quit, and middleware as applications write it.
package appmain

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// Serve runs `NAME serve [ADDR]`: serves h on ADDR (127.0.0.1:0 by
// default), prints "listening HOST:PORT", and returns after GET /quit.
func Serve(name string, h http.Handler) {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintf(os.Stderr, "usage: %s serve [ADDR]\n", name)
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	quit := make(chan struct{})
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quit" {
			io.WriteString(w, "bye\n")
			go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
			return
		}
		h.ServeHTTP(w, r)
	}))
	fmt.Println("listening", ln.Addr())
	<-quit
}

type key struct{}

// WithValue is middleware that hands the next handler a copy of the
// request (r.WithContext), as most middleware does.
func WithValue(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), key{}, r.URL.Path))
}

// Middleware is WithValue as net/http middleware.
func Middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, WithValue(r)) })
}

// OK answers "ok".
func OK(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }
