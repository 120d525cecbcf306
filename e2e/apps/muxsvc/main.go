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
	"net/http"
	"time"

	"appmain"
)

func main() {
	ok := appmain.OK
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
	outer.Handle("/users/", appmain.Middleware(users))
	outer.Handle("/api/v1/", http.StripPrefix("/api/v1", appmain.Middleware(api)))
	outer.HandleFunc("GET /static/", ok)
	appmain.Serve("muxsvc", outer)
}
