// Command front is the compose demo's outer service: it answers
// /shop/{id} by asking back for the item. It has no tracing code; the
// glsotel sidecar traces it and puts traceparent on its calls to back.
//
//	front                 serve on $FRONT_ADDR (default 127.0.0.1:8080), calling $BACK_URL
//	front check URL       exit 0 when URL answers 200 (a healthcheck for images without a shell)
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"glsotel-demo/internal/svc"
)

func main() {
	svc.CheckMode()
	addr := svc.Env("FRONT_ADDR", "127.0.0.1:8080")
	back := svc.Env("BACK_URL", "http://127.0.0.1:8081")
	client := &http.Client{Timeout: 10 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /shop/{id}", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, back+"/items/"+r.PathValue("id"), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, "back: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	log.Printf("front listening on %s, back at %s", addr, back)
	log.Fatal((&http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe())
}
