// Command back is the compose demo's inner service: a catalogue over
// PostgreSQL. It has no tracing code; the glsotel sidecar traces it.
//
//	back                  serve on $BACK_ADDR (default 127.0.0.1:8081)
//	back check URL        exit 0 when URL answers 200 (a healthcheck for images without a shell)
//
// GET /items/{id} reads the item and its stock in two goroutines (each a
// query), so the trace shows both as children of the request.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync"
	"time"

	"glsotel-demo/internal/svc"

	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	svc.CheckMode()
	addr := svc.Env("BACK_ADDR", "127.0.0.1:8081")
	db, err := sql.Open("pgx", svc.Env("DATABASE_URL", "postgres://postgres:glsotel@127.0.0.1:5432/postgres?sslmode=disable"))
	if err != nil {
		log.Fatal(err)
	}
	if err := setup(db); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		var item struct {
			ID    int    `json:"id"`
			Name  string `json:"name"`
			Stock int    `json:"stock"`
		}
		item.ID = id
		var wg sync.WaitGroup
		var nameErr, stockErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			nameErr = db.QueryRowContext(r.Context(), "SELECT name FROM items WHERE id = $1", id).Scan(&item.Name)
		}()
		go func() {
			defer wg.Done()
			stockErr = db.QueryRowContext(r.Context(), "SELECT count FROM stock WHERE item_id = $1", id).Scan(&item.Stock)
		}()
		wg.Wait()
		switch {
		case errors.Is(nameErr, sql.ErrNoRows):
			http.Error(w, "no such item", http.StatusNotFound)
		case nameErr != nil || stockErr != nil:
			http.Error(w, "database: "+errors.Join(nameErr, stockErr).Error(), http.StatusInternalServerError)
		default:
			json.NewEncoder(w).Encode(item)
		}
	})
	log.Printf("back listening on %s", addr)
	log.Fatal((&http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}).ListenAndServe())
}

// setup waits for the database (it may start after us) and seeds it.
func setup(db *sql.DB) error {
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err = db.PingContext(context.Background()); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("database not reachable: %w", err)
	}
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text NOT NULL)",
		"CREATE TABLE IF NOT EXISTS stock (item_id int PRIMARY KEY, count int NOT NULL)",
		"INSERT INTO items VALUES (1, 'teapot'), (2, 'kettle'), (3, 'cup') ON CONFLICT DO NOTHING",
		"INSERT INTO stock VALUES (1, 7), (2, 0), (3, 42) ON CONFLICT DO NOTHING",
	} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
