// Command dbsvc is a small service over database/sql for glsotel's
// end-to-end tests. It knows nothing of tracing: every span comes from the
// agent.
//
//	dbsvc serve ADDR [pq=URL] [pgx=URL] [sqlite=PATH]
//	dbsvc demo     SQLite in a temporary file: serve on a free port, send
//	               /tx, /fail and /prepared over raw TCP (so the sender
//	               makes no spans of its own), exit
//
// opens each database given (lib/pq, pgx's stdlib driver, modernc.org/sqlite),
// creates table items in it, prints "listening HOST:PORT" and serves until
// GET /quit. Every request names its database (db=pq|pgx|sqlite) and an id
// N; statements that run for request N carry the identifier rN (a column or
// table alias, so it survives sanitizing), so a test can tell which request
// a span belongs to.
//
//	/tx        a transaction of 3 statements (INSERT, UPDATE, SELECT) then
//	           5 queries on spawned goroutines: 3 given the request context,
//	           2 with context.Background (their parent is the goroutine's),
//	           one of them started from a goroutine the handler started
//	/fail      a query on a missing table (an error)
//	/norows    QueryRow with no row (sql.ErrNoRows from Scan)
//	/prepared  one Prepare, then the statement run n times (default 10)
//	/conn      a Conn: Ping, Exec, Query, BeginTx and Rollback
//	/bad       a statement of kind=long (1 MiB), kind=binary (invalid UTF-8)
//	           or kind=nul (NUL bytes); the outcome is the database's
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"
)

// store is one database and its placeholder style.
type store struct {
	db     *sql.DB
	dollar bool // $1 placeholders (PostgreSQL), else ?
}

// ph is placeholder i (1-based).
func (s store) ph(i int) string {
	if s.dollar {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// q replaces each %s in format with the next placeholder and {r} with the
// request's marker.
func (s store) q(format, marker string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(format); i++ {
		if format[i] == '%' && i+1 < len(format) && format[i+1] == 's' {
			n++
			b.WriteString(s.ph(n))
			i++
			continue
		}
		b.WriteByte(format[i])
	}
	return strings.ReplaceAll(b.String(), "{r}", marker)
}

func main() {
	switch {
	case len(os.Args) >= 3 && os.Args[1] == "serve":
		stores := open(os.Args[3:])
		ln, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			fail(err)
		}
		fmt.Println("listening", ln.Addr())
		<-serve(ln, stores)
		for _, s := range stores {
			s.db.Close()
		}
	case len(os.Args) == 2 && os.Args[1] == "demo":
		dir, err := os.MkdirTemp("", "dbsvc")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		stores := open([]string{"sqlite=" + dir + "/demo.db"})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		serve(ln, stores)
		demo(ln.Addr().String())
		stores["sqlite"].db.Close()
	default:
		fmt.Fprintln(os.Stderr, "usage: dbsvc serve ADDR [pq=URL] [pgx=URL] [sqlite=PATH] | dbsvc demo")
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dbsvc:", err)
	os.Exit(1)
}

// open opens each NAME=DSN database and creates table items in it.
func open(args []string) map[string]store {
	stores := map[string]store{}
	for _, arg := range args {
		name, dsn, _ := strings.Cut(arg, "=")
		driver := map[string]string{"pq": "postgres", "pgx": "pgx", "sqlite": "sqlite"}[name]
		if driver == "" {
			fmt.Fprintf(os.Stderr, "dbsvc: unknown database %q (pq, pgx, sqlite)\n", name)
			os.Exit(2)
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			fail(err)
		}
		db.SetMaxOpenConns(20)
		if name == "sqlite" {
			db.SetMaxOpenConns(1) // one writer at a time, or SQLITE_BUSY
		}
		if _, err := db.Exec("CREATE TABLE IF NOT EXISTS items (id integer, name text)"); err != nil {
			fail(fmt.Errorf("%s: %w", name, err))
		}
		stores[name] = store{db: db, dollar: name != "sqlite"}
	}
	return stores
}

// serve serves the endpoints on ln; the channel closes at GET /quit.
func serve(ln net.Listener, stores map[string]store) <-chan struct{} {
	quit := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	handle := func(path string, h func(ctx context.Context, s store, id int, r *http.Request) error) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, ok := stores[r.FormValue("db")]
			id, err := strconv.Atoi(r.FormValue("id"))
			if !ok || err != nil {
				http.Error(w, "need db=pq|pgx|sqlite and id=N", http.StatusBadRequest)
				return
			}
			if err := h(r.Context(), s, id, r); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		})
	}
	handle("/tx", tx)
	handle("/fail", func(ctx context.Context, s store, id int, _ *http.Request) error {
		rows, err := s.db.QueryContext(ctx, s.q("SELECT name AS {r} FROM missing_table WHERE name = 'secret' AND id = %s", marker(id)), id)
		if err == nil {
			rows.Close()
			return errors.New("query on a missing table succeeded")
		}
		return nil
	})
	handle("/norows", func(ctx context.Context, s store, id int, _ *http.Request) error {
		var name string
		err := s.db.QueryRowContext(ctx, s.q("SELECT name AS {r} FROM items WHERE id = %s", marker(id)), -id).Scan(&name)
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("want sql.ErrNoRows, got %v", err)
		}
		return nil
	})
	handle("/prepared", prepared)
	handle("/conn", conn)
	handle("/bad", bad)
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		once.Do(func() { close(quit) })
	})
	go http.Serve(ln, mux)
	return quit
}

// demo sends a few requests over raw TCP and prints their status lines.
func demo(addr string) {
	for _, path := range []string{"/tx?db=sqlite&id=1", "/fail?db=sqlite&id=2", "/prepared?db=sqlite&id=3&n=3"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n", path)
		status, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("GET %-30s -> %s\n", path, strings.TrimSpace(status))
		c.Close()
	}
}

func marker(id int) string { return "r" + strconv.Itoa(id) }

func tx(ctx context.Context, s store, id int, _ *http.Request) error {
	m := marker(id)
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback() // after Commit: sql.ErrTxDone, and a span for it
	if _, err := t.ExecContext(ctx, s.q("INSERT INTO items (id, name) SELECT %s, %s AS {r}", m), id, m); err != nil {
		return err
	}
	if _, err := t.ExecContext(ctx, s.q("UPDATE items AS {r} SET name = %s WHERE id = %s", m), m+"!", id); err != nil {
		return err
	}
	var n int
	if err := t.QueryRowContext(ctx, s.q("SELECT count(*) AS {r} FROM items WHERE id = %s", m), id).Scan(&n); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	// Five queries on goroutines: the request context for some, none (the
	// goroutine's own trace context) for the others; one two levels deep.
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	query := func(ctx context.Context, i int) {
		defer wg.Done()
		rows, err := s.db.QueryContext(ctx, s.q(fmt.Sprintf("SELECT name AS {r}_%d FROM items WHERE id = %%s", i), m), id)
		if err != nil {
			errs <- err
			return
		}
		rows.Close()
	}
	wg.Add(5)
	go query(ctx, 0)
	go query(ctx, 1)
	go query(context.Background(), 2)
	go func() { go query(context.Background(), 3) }()
	go func() { go query(ctx, 4) }()
	wg.Wait()
	close(errs)
	return <-errs
}

func prepared(ctx context.Context, s store, id int, r *http.Request) error {
	n, err := strconv.Atoi(r.FormValue("n"))
	if err != nil {
		n = 10
	}
	stmt, err := s.db.PrepareContext(ctx, s.q("SELECT name AS {r} FROM items WHERE id = %s", marker(id)))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := 0; i < n; i++ {
		var name string
		if err := stmt.QueryRowContext(ctx, id).Scan(&name); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}

func conn(ctx context.Context, s store, id int, _ *http.Request) error {
	m := marker(id)
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.PingContext(ctx); err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, s.q("INSERT INTO items (id, name) SELECT %s, %s AS {r}", m), id, m); err != nil {
		return err
	}
	rows, err := c.QueryContext(ctx, s.q("SELECT name AS {r} FROM items WHERE id = %s", m), id)
	if err != nil {
		return err
	}
	rows.Close()
	t, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return t.Rollback()
}

func bad(ctx context.Context, s store, id int, r *http.Request) error {
	var text string
	switch r.FormValue("kind") {
	case "long":
		text = "SELECT '" + strings.Repeat("x", 1<<20) + "' AS " + marker(id)
	case "binary":
		text = "SELECT '\xff\xfe\xc3' AS " + marker(id)
	case "nul":
		text = "SELECT 'a\x00b' AS " + marker(id)
	default:
		return errors.New("kind=long|binary|nul")
	}
	rows, err := s.db.QueryContext(ctx, text)
	if err == nil {
		rows.Close()
	}
	return nil // whatever the database says: the agent must cope
}
