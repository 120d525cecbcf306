package sql

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/instrumentation/database/sql/internal/sqlconv"
	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/internal/spantest"
	"github.com/glsotel/glsotel/instrumentation/probe"
)

var (
	opQuery    = op(probeDbOpDB_OP_QUERY)
	opExec     = op(probeDbOpDB_OP_EXEC)
	opPrepare  = op(probeDbOpDB_OP_PREPARE)
	opBegin    = op(probeDbOpDB_OP_BEGIN)
	opCommit   = op(probeDbOpDB_OP_COMMIT)
	opRollback = op(probeDbOpDB_OP_ROLLBACK)
	opPing     = op(probeDbOpDB_OP_PING)
)

// call is a query on PostgreSQL; mod changes it per case.
func call(o op, text string, mod func(*event)) event {
	e := event{base: span.Base{StartNs: 1000, EndNs: 5000, Flags: 1}, op: o, text: []byte(text), textLen: uint64(len(text))}
	if mod != nil {
		mod(&e)
	}
	return e
}

var pg = database{system: "postgresql", endpoint: sqlconv.Endpoint{Namespace: "shop", Address: "db.internal", Port: 5432}}

// pgAttrs are what every span on pg carries.
var pgAttrs = spantest.Attrs{
	"db.system.name": "postgresql", "db.namespace": "shop", "server.address": "db.internal", "server.port": 5432,
}

func TestToSpan(t *testing.T) {
	long := "SELECT id FROM users WHERE name IN (" + strings.Repeat("'ü', ", 1000) + "'x')"
	tests := []struct {
		desc       string
		e          event
		db         database
		mode       QueryText
		wantName   string
		wantStatus codes.Code
		over       spantest.Attrs // changes to pgAttrs; nil removes
	}{
		{
			desc: "query, sanitized", e: call(opQuery, "SELECT name FROM users WHERE id = 42 AND tag = 'vip'", nil), db: pg,
			wantName: "SELECT users",
			over: spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "users",
				"db.query.text": "SELECT name FROM users WHERE id = ? AND tag = ?"},
		},
		{
			desc: "query, raw", e: call(opQuery, "SELECT name FROM users WHERE id = 42", nil), db: pg, mode: QueryTextRaw,
			wantName: "SELECT users",
			over: spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "users",
				"db.query.text": "SELECT name FROM users WHERE id = 42"},
		},
		{
			desc: "query, text off", e: call(opQuery, "SELECT name FROM users WHERE id = 42", nil), db: pg, mode: QueryTextOff,
			wantName: "SELECT users",
			over:     spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "users"},
		},
		{
			desc: "placeholders stay", e: call(opExec, "INSERT INTO orders (id, total) VALUES ($1, $2)", nil), db: pg,
			wantName: "INSERT orders",
			over: spantest.Attrs{"db.operation.name": "INSERT", "db.collection.name": "orders",
				"db.query.text": "INSERT INTO orders (id, total) VALUES ($1, $2)"},
		},
		{
			desc: "join: no collection", e: call(opQuery, "SELECT * FROM a JOIN b ON a.id = b.id", nil), db: pg,
			wantName: "SELECT",
			over:     spantest.Attrs{"db.operation.name": "SELECT", "db.query.text": "SELECT * FROM a JOIN b ON a.id = b.id"},
		},
		{
			desc: "not a known statement: named after the system", e: call(opExec, "frobnicate all", nil), db: pg,
			wantName: "postgresql",
			over:     spantest.Attrs{"db.query.text": "frobnicate all"},
		},
		{
			desc: "prepare names the statement's collection", e: call(opPrepare, "SELECT name FROM users WHERE id = $1", nil), db: pg,
			wantName: "PREPARE users",
			over: spantest.Attrs{"db.operation.name": "PREPARE", "db.collection.name": "users",
				"db.query.text": "SELECT name FROM users WHERE id = $1"},
		},
		{desc: "begin", e: call(opBegin, "", nil), db: pg, wantName: "BEGIN", over: spantest.Attrs{"db.operation.name": "BEGIN"}},
		{desc: "commit", e: call(opCommit, "", nil), db: pg, wantName: "COMMIT", over: spantest.Attrs{"db.operation.name": "COMMIT"}},
		{desc: "rollback", e: call(opRollback, "", nil), db: pg, wantName: "ROLLBACK", over: spantest.Attrs{"db.operation.name": "ROLLBACK"}},
		{desc: "ping", e: call(opPing, "", nil), db: pg, wantName: "PING", over: spantest.Attrs{"db.operation.name": "PING"}},
		{
			desc: "error", e: call(opQuery, "SELECT 1 FROM missing", func(e *event) { e.errType = "*github.com/lib/pq.Error" }), db: pg,
			wantName: "SELECT missing", wantStatus: codes.Error,
			over: spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "missing",
				"db.query.text": "SELECT ? FROM missing", "error.type": "*github.com/lib/pq.Error"},
		},
		{
			desc: "error of a commit", e: call(opCommit, "", func(e *event) { e.errType = "_OTHER" }), db: pg,
			wantName: "COMMIT", wantStatus: codes.Error,
			over: spantest.Attrs{"db.operation.name": "COMMIT", "error.type": "_OTHER"},
		},
		{
			desc: "sqlite: a namespace, no server", e: call(opQuery, "SELECT 1", nil),
			db:       database{system: "sqlite", endpoint: sqlconv.Endpoint{Namespace: "/var/lib/app.db"}},
			wantName: "SELECT",
			over: spantest.Attrs{"db.system.name": "sqlite", "db.namespace": "/var/lib/app.db", "server.address": nil, "server.port": nil,
				"db.operation.name": "SELECT", "db.query.text": "SELECT ?"},
		},
		{
			desc: "unknown driver, no DSN", e: call(opExec, "DELETE FROM t", nil), db: database{system: "other_sql"},
			wantName: "DELETE t",
			over: spantest.Attrs{"db.system.name": "other_sql", "db.namespace": nil, "server.address": nil, "server.port": nil,
				"db.operation.name": "DELETE", "db.collection.name": "t", "db.query.text": "DELETE FROM t"},
		},
		{
			desc: "invalid UTF-8 and NUL become U+FFFD", e: call(opQuery, "SELECT x\xff\x00y FROM t", nil), db: pg, mode: QueryTextRaw,
			wantName: "SELECT t",
			over: spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "t",
				"db.query.text": "SELECT x\uFFFD\uFFFDy FROM t"},
		},
		{
			desc: "cut statement: no half rune, collection still found", mode: QueryTextRaw,
			e: call(opQuery, long[:TextMax], func(e *event) { e.textLen = uint64(len(long)) }), db: pg,
			wantName: "SELECT users",
			over: spantest.Attrs{"db.operation.name": "SELECT", "db.collection.name": "users",
				"db.query.text": strings.TrimSuffix(long[:TextMax], "\xc3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			cached := tt.db
			cached.stmts = map[string]stmt{}
			// Without the statement cache, then with it: missed, then hit.
			for _, db := range []database{tt.db, cached, cached} {
				s := toSpan(tt.e, db, tt.mode, probe.Clock{}, nil)
				if s.Name != tt.wantName || s.Kind != trace.SpanKindClient || s.Status != tt.wantStatus {
					t.Errorf("name %q kind %v status %v, want %q client %v", s.Name, s.Kind, s.Status, tt.wantName, tt.wantStatus)
				}
				spantest.Check(t, s.Attributes, pgAttrs.With(tt.over))
			}
		})
	}
}

// The e2e apps of OpenTelemetry Go's auto-instrumentation run these on
// SQLite (mattn/go-sqlite3): a multi-line CREATE and an INSERT into a
// single-quoted table name, which SQLite takes for an identifier there.
func TestToSpanSQLiteStatements(t *testing.T) {
	sqlite := database{system: "sqlite"}
	for _, tt := range []struct{ text, name, op, coll string }{
		{
			"CREATE TABLE contacts (\n\t\t\t\t\t\t\tcontact_id INTEGER PRIMARY KEY,\n\t\t\t\t\t\t\tfirst_name TEXT NOT NULL,\n\t\t\t\t\t\t\tphone TEXT NOT NULL UNIQUE);",
			"CREATE contacts", "CREATE", "contacts",
		},
		{
			"INSERT INTO 'contacts'\n\t\t\t\t\t\t('first_name', 'last_name', 'email', 'phone') VALUES\n\t\t\t\t\t\t('Moshe', 'Levi', 'moshe@gmail.com', '052-1234567');",
			"INSERT contacts", "INSERT", "contacts",
		},
		{"SELECT * FROM 'contacts'", "SELECT contacts", "SELECT", "contacts"},
		{"UPDATE 'contacts' SET 'name' = ? WHERE id = ?", "UPDATE contacts", "UPDATE", "contacts"},
		{"DELETE FROM 'contacts' WHERE id = ?", "DELETE contacts", "DELETE", "contacts"},
		{"SELECT * FROM 'main'.'contacts' 'c'", "SELECT main.contacts", "SELECT", "main.contacts"},
		{"INSERT INTO 'it''s' VALUES (1)", "INSERT it's", "INSERT", "it's"},
		{"INSERT INTO 'contacts VALUES (1)", "INSERT", "INSERT", ""}, // unclosed: no name
		{"INSERT INTO X'00' VALUES (1)", "INSERT", "INSERT", ""},     // a blob is no name
	} {
		s := toSpan(call(opExec, tt.text, nil), sqlite, QueryTextRaw, probe.Clock{}, nil)
		want := spantest.Attrs{"db.system.name": "sqlite", "db.operation.name": tt.op, "db.query.text": tt.text}
		if tt.coll != "" {
			want["db.collection.name"] = tt.coll
		}
		if s.Name != tt.name {
			t.Errorf("%q: name %q, want %q", tt.text, s.Name, tt.name)
		}
		spantest.Check(t, s.Attributes, want)
	}
}

// TestToSpanStatementSweep: whatever blanks and comments come before a
// statement and between its words, and however its table is quoted, the
// span is named "OPERATION table" with db.operation.name and
// db.collection.name set, and db.query.text (raw) is the text as written.
func TestToSpanStatementSweep(t *testing.T) {
	// Quoting styles, by the systems that take them for identifiers.
	type quoting struct {
		open, close string
		systems     []string
	}
	everywhere := []string{"postgresql", "mysql", "sqlite", "microsoft.sql_server", "oracle.db", "clickhouse", "other_sql"}
	quotings := []quoting{
		{"", "", everywhere},
		{`"`, `"`, []string{"postgresql", "sqlite", "microsoft.sql_server", "oracle.db", "clickhouse", "other_sql"}},
		{"`", "`", []string{"mysql", "sqlite", "clickhouse"}},
		{"[", "]", []string{"sqlite", "microsoft.sql_server"}},
		{"'", "'", []string{"sqlite"}},
	}
	// Statements: %s is the table; op is db.operation.name.
	stmts := []struct{ op, text string }{
		{"SELECT", "SELECT id,\n\tname FROM %s WHERE id = ?"},
		{"SELECT", "select * from %s"},
		{"INSERT", "INSERT INTO %s\n\t\t(a, b) VALUES\n\t\t(?, ?);"},
		{"INSERT", "insert into %s values (1)"},
		{"UPDATE", "UPDATE %s SET a = ? WHERE id = ?"},
		{"DELETE", "DELETE FROM %s WHERE id = ?"},
		{"CREATE", "CREATE TABLE %s (\n\tid INTEGER PRIMARY KEY,\n\tname TEXT NOT NULL\n);"},
		{"CREATE", "CREATE TABLE IF NOT EXISTS %s (id int)"},
		{"DROP", "DROP TABLE IF EXISTS %s"},
		{"ALTER", "ALTER TABLE %s ADD COLUMN c int"},
		{"SELECT", "WITH x AS (SELECT 1) SELECT * FROM %s"},
	}
	// Blanks and comments, put together at random before the statement
	// and between its words.
	fillers := []string{
		" ", "  ", "\t", "\n", "\r\n", "\n\t\t", "\f", "\v",
		"-- comment\n", "--\n", "-- SELECT x FROM y\n", "-- it's\r\n",
		"/* comment */", "/**/", "/* multi\n * line\n */", "/* FROM other */", "/* 'x' */",
	}
	rng := rand.New(rand.NewPCG(19, 5))
	filler := func(min int) string {
		var b strings.Builder
		for n := min + rng.IntN(4); n > 0; n-- {
			f := fillers[rng.IntN(len(fillers))]
			if strings.HasPrefix(f, "/*") && rng.IntN(2) == 0 {
				f = " " + f + " "
			}
			b.WriteString(f)
		}
		return b.String()
	}
	// spaced replaces each single space between words by blanks and
	// comments, so a comment never ends up glued inside a word.
	spaced := func(text string) string {
		parts := strings.Split(text, " ")
		var b strings.Builder
		for i, p := range parts {
			if i > 0 {
				if rng.IntN(3) == 0 {
					b.WriteString(" ")
				} else {
					b.WriteString(filler(1))
				}
			}
			b.WriteString(p)
		}
		return b.String()
	}
	n := 0
	for _, q := range quotings {
		for _, sys := range q.systems {
			// A statement cache per mode, as an agent has one mode.
			dbs := map[QueryText]database{
				QueryTextRaw:       {system: sys, stmts: map[string]stmt{}},
				QueryTextSanitized: {system: sys, stmts: map[string]stmt{}},
			}
			for _, table := range []struct{ written, want string }{
				{q.open + "contacts" + q.close, "contacts"},
				{q.open + "main" + q.close + "." + q.open + "contacts" + q.close, "main.contacts"},
			} {
				for _, st := range stmts {
					for range 8 {
						text := filler(0) + spaced(fmt.Sprintf(st.text, table.written))
						if sys == "mysql" && rng.IntN(4) == 0 {
							text = "# mysql comment\n" + text
						}
						n++
						// Raw: the text as written; sanitized: blanks kept,
						// comments and literals gone.
						for mode, wantText := range map[QueryText]string{QueryTextRaw: text, QueryTextSanitized: sqlconv.Sanitize(text, sys)} {
							s := toSpan(call(opExec, text, nil), dbs[mode], mode, probe.Clock{}, nil)
							want := st.op + " " + table.want
							got := spantest.Map(t, s.Attributes)
							if s.Name != want || got["db.operation.name"] != st.op || got["db.collection.name"] != table.want || got["db.query.text"] != wantText {
								t.Errorf("%s %s %q:\nname %q, db.operation.name %v, db.collection.name %v, db.query.text %q; want %q, %q, %q, %q",
									sys, mode, text, s.Name, got["db.operation.name"], got["db.collection.name"], got["db.query.text"], want, st.op, table.want, wantText)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d statements", n)
}

// statement never leaves half a UTF-8 sequence at a cut, whatever the cut.
func TestStatementCut(t *testing.T) {
	text := []byte(strings.Repeat("aé€😀", 200))
	for n := 0; n <= len(text); n++ {
		got := statement(text[:n], uint64(len(text)))
		if !utf8.ValidString(got) || !bytes.HasPrefix(text, []byte(got)) || n-len(got) >= utf8.UTFMax {
			t.Fatalf("cut at %d: %q", n, got)
		}
	}
	if got := statement([]byte("ab\xff"), 3); got != "ab\xff" {
		t.Errorf("a whole statement is kept as is (cleaning comes later): %q", got)
	}
}

func TestHooksHaveSignatures(t *testing.T) {
	spec, err := loadProbe()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if _, ok := spec.Programs[h.Entry]; !ok {
			t.Errorf("%s: no program %s", h.Symbol, h.Entry)
		}
		if _, ok := spec.Programs[h.Return]; !ok {
			t.Errorf("%s: no program %s", h.Symbol, h.Return)
		}
	}
	if len(spec.Programs) != 2*len(hooks) {
		t.Errorf("%d programs for %d hooks", len(spec.Programs), len(hooks))
	}
}
