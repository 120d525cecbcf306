// Command chisvc serves routes with github.com/go-chi/chi/v5: URL
// parameters, middleware that replaces the request, a mounted subrouter
// and a route group. The agent's http.route must be chi's route pattern.
//
//	chisvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-chi/chi/v5"
)

type key struct{}

func withValue(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, r.URL.Path)))
	})
}

func ok(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: chisvc serve [ADDR]")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chisvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})

	r := chi.NewRouter()
	r.Use(withValue)
	r.Get("/", ok)
	r.Get("/users/{id}", ok)
	r.Get("/users/{id}/posts/{post}", ok)
	r.Post("/users", ok)
	r.Get("/static/*", ok)

	api := chi.NewRouter()
	api.Use(withValue)
	api.Get("/items/{id:[0-9]+}", ok)
	api.Post("/items", ok)
	api.Route("/orders", func(o chi.Router) { o.Get("/{order}/lines/{line}", ok) })
	r.Mount("/api/v1", api)

	r.Get("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	go http.Serve(ln, r)
	fmt.Println("listening", ln.Addr())
	<-quit
}
