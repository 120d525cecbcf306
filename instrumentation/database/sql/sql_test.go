package sql

import (
	"bytes"
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
