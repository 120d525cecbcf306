// Command chisvc serves routes with github.com/go-chi/chi/v5: URL
// parameters, middleware that replaces the request, a mounted subrouter
// and a route group. The agent's http.route must be chi's route pattern.
//
//	chisvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
package main

import (
	"github.com/go-chi/chi/v5"

	"appmain"
)

func main() {
	ok := appmain.OK
	r := chi.NewRouter()
	r.Use(appmain.Middleware)
	r.Get("/", ok)
	r.Get("/users/{id}", ok)
	r.Get("/users/{id}/posts/{post}", ok)
	r.Post("/users", ok)
	r.Get("/static/*", ok)

	api := chi.NewRouter()
	api.Use(appmain.Middleware)
	api.Get("/items/{id:[0-9]+}", ok)
	api.Post("/items", ok)
	api.Route("/orders", func(o chi.Router) { o.Get("/{order}/lines/{line}", ok) })
	r.Mount("/api/v1", api)
	appmain.Serve("chisvc", r)
}
