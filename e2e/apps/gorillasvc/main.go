// Command gorillasvc serves routes with github.com/gorilla/mux: path
// variables (one with a pattern), middleware that replaces the request,
// a path-prefix subrouter and a prefix route. The agent's http.route must
// be the route's path template.
//
//	gorillasvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/mux"
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
		fmt.Fprintln(os.Stderr, "usage: gorillasvc serve [ADDR]")
		os.Exit(2)
	}
	addr := "127.0.0.1:0"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gorillasvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})

	r := mux.NewRouter()
	r.Use(withValue)
	r.HandleFunc("/", ok).Methods("GET")
	r.HandleFunc("/users/{id}", ok).Methods("GET")
	r.HandleFunc("/users/{id}/posts/{post}", ok).Methods("GET")
	r.HandleFunc("/users", ok).Methods("POST")
	r.PathPrefix("/static/").HandlerFunc(ok)

	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(withValue)
	api.HandleFunc("/items/{id:[0-9]+}", ok).Methods("GET")
	api.HandleFunc("/items", ok).Methods("POST")
	orders := api.PathPrefix("/orders").Subrouter()
	orders.HandleFunc("/{order}/lines/{line}", ok).Methods("GET")

	r.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	go http.Serve(ln, r)
	fmt.Println("listening", ln.Addr())
	<-quit
}
