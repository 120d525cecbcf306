// Command muxsvc serves a layout real net/http services use: an outer
// ServeMux with inner muxes mounted on its subtrees behind middleware that
// replaces the request (r.WithContext), one also behind http.StripPrefix.
// The outer mux sets its pattern on the request it was given, the inner
// ones on copies: the agent's http.route must name the pattern of the
// innermost mux, whole, also where the inner mux runs on a goroutine the
// request's started (http.TimeoutHandler).
//
//	muxsvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

type key struct{}

// withValue is middleware as applications write it: the next handler gets
// a copy of the request.
func withValue(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, r.URL.Path)))
	})
}

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: muxsvc serve [ADDR]")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "muxsvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})

	// /users/...: full patterns, mounted on the outer mux's subtree.
	users := http.NewServeMux()
	users.HandleFunc("GET /users/{id}", ok)
	users.HandleFunc("GET /users/{id}/posts/{post}", ok)
	users.HandleFunc("POST /users/", ok)

	// /api/v1/...: patterns relative to the prefix StripPrefix removes.
	api := http.NewServeMux()
	api.HandleFunc("GET /items/{id}", ok)
	api.HandleFunc("POST /items", ok)
	api.HandleFunc("GET /files/{path...}", ok)

	// /timed/...: http.TimeoutHandler runs the inner mux on a goroutine
	// of its own.
	timed := http.NewServeMux()
	timed.HandleFunc("GET /timed/{id}", ok)

	outer := http.NewServeMux()
	outer.Handle("/timed/", http.TimeoutHandler(timed, 10*time.Second, "timeout"))
	outer.HandleFunc("GET /{$}", ok)
	outer.Handle("/users/", withValue(users))
	outer.Handle("/api/v1/", http.StripPrefix("/api/v1", withValue(api)))
	outer.HandleFunc("GET /static/", ok)
	outer.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	go http.Serve(ln, outer)
	fmt.Println("listening", ln.Addr())
	<-quit
}
