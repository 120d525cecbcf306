// Command gorillasvc serves routes with github.com/gorilla/mux: path
// variables (one with a pattern), middleware that replaces the request,
// a path-prefix subrouter and a prefix route. The agent's http.route must
// be the route's path template.
//
//	gorillasvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"github.com/gorilla/mux"

	"appmain"
)

func main() {
	ok := appmain.OK
	r := mux.NewRouter()
	r.Use(appmain.Middleware)
	r.HandleFunc("/", ok).Methods("GET")
	r.HandleFunc("/users/{id}", ok).Methods("GET")
	r.HandleFunc("/users/{id}/posts/{post}", ok).Methods("GET")
	r.HandleFunc("/users", ok).Methods("POST")
	r.PathPrefix("/static/").HandlerFunc(ok)

	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(appmain.Middleware)
	api.HandleFunc("/items/{id:[0-9]+}", ok).Methods("GET")
	api.HandleFunc("/items", ok).Methods("POST")
	orders := api.PathPrefix("/orders").Subrouter()
	orders.HandleFunc("/{order}/lines/{line}", ok).Methods("GET")
	appmain.Serve("gorillasvc", r)
}
