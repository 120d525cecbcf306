package e2e

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/pgtest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// dbDrivers are dbsvc's databases: the name it takes, db.system.name, and
// error.type of a query on a missing table.
var dbDrivers = []struct{ name, system, errType string }{
	{"pq", "postgresql", "*github.com/lib/pq.Error"},
	{"pgx", "postgresql", "*github.com/jackc/pgx/v5/pgconn.PgError"},
	{"sqlite", "sqlite", "*modernc.org/sqlite.Error"},
}

const concurrentHandlers = 50

// TestDatabaseTraces runs dbsvc under the agent against a real PostgreSQL
// (through lib/pq and pgx) and SQLite (modernc.org/sqlite), and checks the
// trace tree of every request: transactions, goroutine fan-out, errors,
// prepared statements, Conn methods, 50 concurrent handlers, and
// statements that are long, binary or hold NULs.
func TestDatabaseTraces(t *testing.T) {
	pg := pgtest.Start(t)
	for _, v := range []struct {
		tc       testbuild.Toolchain
		stripped bool
	}{
		{testbuild.Releases[0], false},                         // go1.22
		{testbuild.Releases[len(testbuild.Releases)-1], false}, // go1.26
		{testbuild.Releases[1], true},                          // go1.23, stripped: offsets table, types from methods
		// PIE: itabs' run-time addresses are off by the load bias.
		{testbuild.PIE(testbuild.Releases[len(testbuild.Releases)-1]), false},
		{testbuild.PIE(testbuild.Releases[1]), true},
	} {
		name := v.tc.Name
		if v.stripped {
			name += "-stripped"
		}
		t.Run(name, func(t *testing.T) { testDatabaseTraces(t, pg, v.tc, v.stripped) })
	}
}

// dbRequest is one request sent to dbsvc.
type dbRequest struct {
	db, path string
	id       int
}

func testDatabaseTraces(t *testing.T, pg *pgtest.Server, tc testbuild.Toolchain, stripped bool) {
	bin := testbuild.Build(t, "apps/dbsvc", tc, stripped)
	dbname := pg.CreateDB(t, strings.NewReplacer(".", "_", "-", "_").Replace("dbsvc_"+tc.Name+map[bool]string{true: "_s"}[stripped]))
	sqlitePath := filepath.Join(t.TempDir(), "items.db")
	recv := otlptest.Start(t)
	svc := startService(t, recv, []string{bin, "serve", "127.0.0.1:0",
		"pq=" + pg.KeyValue(dbname), "pgx=" + pg.URL(dbname), "sqlite=" + sqlitePath}, nil)

	var reqs []dbRequest
	id := 0
	send := func(db, path, extra string) {
		id++
		reqs = append(reqs, dbRequest{db, path, id})
		svc.get(t, fmt.Sprintf("%s?db=%s&id=%d%s", path, db, id, extra), nil)
	}
	for _, d := range dbDrivers {
		for _, p := range []string{"/tx", "/fail", "/norows", "/prepared", "/conn"} {
			send(d.name, p, "")
		}
		for _, kind := range []string{"long", "binary", "nul"} {
			send(d.name, "/bad", "&kind="+kind)
		}
		var wg sync.WaitGroup
		for range concurrentHandlers {
			id++
			r := dbRequest{d.name, "/tx", id}
			reqs = append(reqs, r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc.get(t, fmt.Sprintf("/tx?db=%s&id=%d", r.db, r.id), nil)
			}()
		}
		wg.Wait()
	}
	runs := svc.stop(t)
	spans := recv.Spans()

	servers := map[int]otlptest.Span{}
	dbSpans := 0
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			q, _ := url.ParseQuery(fmt.Sprint(s.Attrs["url.query"]))
			n, _ := strconv.Atoi(q.Get("id"))
			servers[n] = s
		}
		if _, ok := s.Attrs["db.system.name"]; ok {
			dbSpans++
		}
	}
	for _, r := range reqs {
		root, ok := servers[r.id]
		if !ok {
			t.Errorf("%s %s id=%d: no server span", r.db, r.path, r.id)
			continue
		}
		var d = dbDrivers[0]
		for _, x := range dbDrivers {
			if x.name == r.db {
				d = x
			}
		}
		kids := otlptest.Children(spans, root.SpanID)
		want := dbAttrs(d.system, pg, dbname, sqlitePath, r.db == "pgx" && stripped)
		checkDBTree(t, r, d.errType, root, kids, want)
	}

	// Two hits per call: its entry and its return. Besides, each rollback
	// of a finished transaction costs 2 hits and makes no span: dbsvc's
	// deferred Rollback after Commit, and database/sql's own rollback when
	// it cancels a finished transaction's context (after every Commit and
	// Rollback).
	var hits uint64
	for name, n := range runs {
		if strings.HasPrefix(name, "database/sql/") {
			hits += n
		}
	}
	noops := uint64(0)
	for _, r := range reqs {
		switch r.path {
		case "/tx":
			noops += 2
		case "/conn":
			noops++
		}
	}
	perSpan := float64(hits-2*noops) / float64(dbSpans)
	t.Logf("database/sql: %d uprobe hits = %.3f per span × %d spans + 2 × %d rollbacks of finished transactions", hits, perSpan, dbSpans, noops)
	if hits != 2*uint64(dbSpans)+2*noops {
		t.Errorf("hits = %d, want 2×%d spans + 2×%d no-op rollbacks; runs: %v", hits, dbSpans, noops, runs)
	}
}

// dbAttrs are the attributes every span of a database carries.
func dbAttrs(system string, pg *pgtest.Server, dbname, sqlitePath string, noEndpoint bool) map[string]any {
	switch {
	case system == "sqlite":
		return map[string]any{"db.system.name": "sqlite", "db.namespace": sqlitePath}
	case noEndpoint: // pgx's connector keeps its DSN in a field only DWARF locates
		return map[string]any{"db.system.name": system}
	}
	return map[string]any{"db.system.name": system, "db.namespace": dbname,
		"server.address": "127.0.0.1", "server.port": int64(pg.Port)}
}

// checkDBTree checks the database spans under one request's server span.
func checkDBTree(t *testing.T, r dbRequest, errType string, root otlptest.Span, kids []otlptest.Span, want map[string]any) {
	t.Helper()
	marker := regexp.MustCompile(`\br` + strconv.Itoa(r.id) + `(_\d)?\b`)
	names := map[string]int{}
	for _, k := range kids {
		names[k.Name]++
		where := fmt.Sprintf("%s %s id=%d: span %q", r.db, r.path, r.id, k.Name)
		if k.Kind != tracepb.Span_SPAN_KIND_CLIENT || k.TraceID != root.TraceID {
			t.Errorf("%s: kind %v, trace %s (root's %s)", where, k.Kind, k.TraceID, root.TraceID)
		}
		if k.Start < root.Start || k.End > root.End || k.End < k.Start {
			t.Errorf("%s: [%d, %d] outside its parent's [%d, %d]", where, k.Start, k.End, root.Start, root.End)
		}
		if !hasAttrs(k.Attrs, want) {
			t.Errorf("%s: attributes %v, want %v", where, k.Attrs, want)
		}
		text, hasText := k.Attrs["db.query.text"].(string)
		switch k.Name {
		case "BEGIN", "COMMIT", "ROLLBACK", "PING":
			if hasText || k.Attrs["db.operation.name"] != k.Name {
				t.Errorf("%s: attributes %v", where, k.Attrs)
			}
		default:
			if r.path != "/bad" && !marker.MatchString(text) {
				t.Errorf("%s: db.query.text %q does not name request %d", where, text, r.id)
			}
			if !utf8.ValidString(text) || strings.ContainsRune(text, 0) || len(text) > 2048 {
				t.Errorf("%s: db.query.text is not clean: %d bytes, %q...", where, len(text), text[:min(len(text), 64)])
			}
		}
		if r.path != "/bad" && k.Error != (r.path == "/fail") { // a bad statement may fail or not
			t.Errorf("%s: error status %v", where, k.Error)
		}
	}
	expect := map[string]map[string]int{
		"/tx":       {"BEGIN": 1, "INSERT items": 1, "UPDATE items": 1, "SELECT items": 6, "COMMIT": 1},
		"/fail":     {"SELECT missing_table": 1},
		"/norows":   {"SELECT items": 1},
		"/prepared": {"PREPARE items": 1, "SELECT items": 10},
		"/conn":     {"PING": 1, "INSERT items": 1, "SELECT items": 1, "BEGIN": 1, "ROLLBACK": 1},
		"/bad":      {"SELECT": 1},
	}[r.path]
	if fmt.Sprint(names) != fmt.Sprint(expect) {
		t.Errorf("%s %s id=%d: children %v, want %v", r.db, r.path, r.id, names, expect)
	}
	switch r.path {
	case "/tx": // each fan-out query exactly once
		for i := range 5 {
			n := 0
			for _, k := range kids {
				if strings.Contains(fmt.Sprint(k.Attrs["db.query.text"]), fmt.Sprintf("r%d_%d ", r.id, i)) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s /tx id=%d: goroutine query %d seen %d times", r.db, r.id, i, n)
			}
		}
	case "/fail":
		for _, k := range kids {
			text := fmt.Sprint(k.Attrs["db.query.text"])
			if k.Attrs["error.type"] != errType || strings.Contains(text, "secret") || !strings.Contains(text, "name = ?") {
				t.Errorf("%s /fail: error.type %v (want %s), sanitized text %q", r.db, k.Attrs["error.type"], errType, text)
			}
		}
	}
}

// TestDatabaseQueryTextModes: GLSOTEL_DB_QUERY_TEXT=raw keeps literals,
// off drops the text.
func TestDatabaseQueryTextModes(t *testing.T) {
	bin := testbuild.Build(t, "apps/dbsvc", testbuild.Toolchains[0], false)
	for mode, want := range map[string]string{
		"raw": "SELECT name AS r1 FROM missing_table WHERE name = 'secret' AND id = ?",
		"off": "<nil>",
	} {
		t.Run(mode, func(t *testing.T) {
			recv := otlptest.Start(t)
			svc := startService(t, recv, []string{bin, "serve", "127.0.0.1:0", "sqlite=" + filepath.Join(t.TempDir(), "x.db")},
				[]string{"GLSOTEL_DB_QUERY_TEXT=" + mode})
			svc.get(t, "/fail?db=sqlite&id=1", nil)
			svc.stop(t)
			found := false
			for _, s := range recv.Spans() {
				if s.Name == "SELECT missing_table" {
					found = true
					if got := fmt.Sprint(s.Attrs["db.query.text"]); got != want {
						t.Errorf("db.query.text = %q, want %q", got, want)
					}
				}
			}
			if !found {
				t.Error("no span for the failing query")
			}
		})
	}
}
