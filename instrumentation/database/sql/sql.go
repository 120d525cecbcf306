// Package sql instruments database/sql: one CLIENT span per call of an
// exported DB, Conn, Tx or Stmt method that talks to the database (Query,
// QueryRow, Exec, Prepare, Begin, Commit, Rollback, Ping and their Context
// forms), two uprobe hits per call. Its parent is the live span owning the
// call's context (or that context's nearest owned ancestor), else the
// calling goroutine's GLS context, else none (a new trace).
//
// The driver is named from the type of DB.connector (or, for sql.Open's
// own connector, of its driver); server.address, server.port and
// db.namespace come from the data source name when the connector keeps it
// as a string, read once per database from the target's memory.
package sql

import (
	"encoding/binary"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation/database/sql/internal/sqlconv"
	"github.com/glsotel/glsotel/instrumentation/internal/span"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// Fields are the struct offsets the probe reads in BPF.
var Fields = []offsets.Field{
	"database/sql.DB.connector", "database/sql.Conn.db", "database/sql.Tx.db",
	"database/sql.Tx.ctx", "database/sql.Tx.done", "database/sql.Stmt.db", "database/sql.Stmt.query",
	"database/sql.dsnConnector.driver",
}

// readFields are read from the target's memory in user space, once per
// database: sql.Open's connector keeps the data source name.
var readFields = []offsets.Field{"database/sql.dsnConnector.dsn"}

// TextMax is how much of a statement a span carries (bpf: DB_TEXT_MAX):
// longer ones are cut there, on a UTF-8 boundary.
const TextMax = 2048

// QueryText says how db.query.text is recorded (GLSOTEL_DB_QUERY_TEXT).
type QueryText = sqlconv.QueryMode

// The QueryText settings.
const (
	QueryTextSanitized = sqlconv.QuerySanitized // literals replaced by ?; the default
	QueryTextRaw       = sqlconv.QueryRaw       // as the program wrote it
	QueryTextOff       = sqlconv.QueryOff       // not recorded
)

// ParseQueryText reads a GLSOTEL_DB_QUERY_TEXT value ("" is sanitized).
func ParseQueryText(s string) (QueryText, error) { return sqlconv.ParseQueryMode(s) }

// hooks are the methods spanned; each is optional, since the linker drops
// the ones a program never calls.
var hooks = func() []probe.Hook {
	var hs []probe.Hook
	for _, m := range []string{
		"DB.QueryContext", "DB.ExecContext", "DB.PrepareContext", "DB.BeginTx", "DB.PingContext",
		"Conn.QueryContext", "Conn.ExecContext", "Conn.PrepareContext", "Conn.BeginTx", "Conn.PingContext",
		"Tx.QueryContext", "Tx.ExecContext", "Tx.PrepareContext", "Tx.Commit", "Tx.rollback",
		"Stmt.QueryContext", "Stmt.ExecContext",
	} {
		typ, method, _ := strings.Cut(m, ".")
		prog := "uprobe_database_sql_" + typ + "_" + method
		hs = append(hs, probe.Hook{
			Symbol:   "database/sql.(*" + typ + ")." + method,
			Entry:    prog,
			Return:   prog + "_ret",
			Optional: true,
		})
	}
	return hs
}()

// New declares the database/sql probe; sink receives each finished span
// on the agent's event goroutine, and must copy the attributes it keeps.
func New(sink func(exporter.Span), text QueryText) *probe.Probe {
	dbs := map[connector]database{}
	full := make([]byte, eventSize) // Handle runs on one goroutine: one buffer serves
	var attrs []attribute.KeyValue
	return &probe.Probe{
		Name:       "database/sql",
		Spec:       loadProbe,
		Hooks:      hooks,
		Fields:     slices.Concat(propagation.Fields, propagation.ContextFields, Fields),
		ReadFields: readFields,
		Failure:    probe.FailWarn,
		Kinds:      []uint32{uint32(probeEventKindEVENT_KIND_DB_CLIENT)},
		Handle: func(t *probe.Target, raw []byte) {
			// The event is cut after the statement's bytes.
			clear(full[copy(full, raw):])
			ev := probe.View[probeDbEvent](full)
			e := decode(ev) // e.text is in full: used before the next event
			c := connector{ev.ConnectorItab, ev.ConnectorData, ev.DriverItab}
			db, ok := dbs[c]
			if !ok {
				db = describe(t, c)
				if len(dbs) >= maxDatabases {
					clear(dbs) // a program opening databases without end: forget, then relearn
				}
				dbs[c] = db
			}
			if ev.ErrItab != 0 {
				e.errType = span.ErrorType(t, ev.ErrItab)
			}
			s := toSpan(e, db, text, t.Clock, attrs)
			attrs = s.Attributes
			sink(s)
		},
	}
}

// eventSize is a whole event; the ring buffer carries only its used part.
var eventSize = int(unsafe.Sizeof(probeDbEvent{}))

// maxDatabases bounds the per-target cache of described databases.
const maxDatabases = 1024

// connector identifies a database: its DB.connector interface (and the
// driver's itab, if it is sql.Open's connector).
type connector struct{ itab, data, driverItab uint64 }

// database is what spans of one DB share.
type database struct {
	system   string // db.system.name
	endpoint sqlconv.Endpoint
	// stmts keeps what each statement text turns into: programs repeat
	// their statements, and summarizing and sanitizing one costs more
	// than the rest of its span (nil: nothing kept).
	stmts map[string]stmt
}

// stmt is what spans of one statement text share.
type stmt struct{ text, operation, collection, sanitized, name string }

// maxStmts bounds a database's statement cache; when full it is cleared.
const maxStmts = 1024

// statement summarizes the statement b (whole bytes long; b may be its
// start) and, for mode sanitized, sanitizes it.
func (db database) statement(b []byte, whole uint64, mode QueryText) stmt {
	cache := db.stmts != nil && whole == uint64(len(b)) // a cut statement is not kept
	if cache {
		if st, ok := db.stmts[string(b)]; ok {
			return st
		}
	}
	var st stmt
	st.text = sqlconv.Clean(statement(b, whole))
	st.operation, st.collection = sqlconv.Summary(st.text, db.system)
	st.name = sqlconv.SpanName(st.operation, st.collection, db.system)
	if mode == QueryTextSanitized && st.text != "" {
		st.sanitized = sqlconv.Sanitize(st.text, db.system)
	}
	if cache {
		if len(db.stmts) >= maxStmts {
			clear(db.stmts)
		}
		db.stmts[string(b)] = st
	}
	return st
}

// describe names the driver of a database and, when its connector keeps
// the data source name as a string, where it lives. The name comes from
// itabs the event carries; the data source name is read from the target's
// memory (once per database; not at all if the program has exited by then).
func describe(t *probe.Target, c connector) database {
	typ, _ := t.ItabType(c.itab)
	var dsn string
	switch strings.TrimPrefix(typ, "*") {
	case "database/sql.dsnConnector": // sql.Open of a driver without OpenConnector
		typ, _ = t.ItabType(c.driverItab)
		if offs, err := t.Bin.Fields(readFields); err == nil && t.Mem != nil {
			dsn = readString(t, c.data+offs["database/sql.dsnConnector.dsn"])
		}
	case "github.com/jackc/pgx/v5/stdlib.driverConnector", "github.com/jackc/pgx/v4/stdlib.driverConnector":
		// sql.Open("pgx", dsn): the name is the data source name.
		name := offsets.Field(strings.TrimPrefix(typ, "*") + ".name")
		if offs, err := t.Bin.Fields([]offsets.Field{name}); err == nil && t.Mem != nil {
			dsn = readString(t, c.data+offs[name])
		}
	}
	system := sqlconv.System(typ)
	return database{system: system, endpoint: sqlconv.ParseDSN(system, dsn), stmts: map[string]stmt{}}
}

// dsnMax bounds how much of a data source name is read.
const dsnMax = 4096

func readWord(t *probe.Target, addr uint64) uint64 {
	var b [8]byte
	if _, err := t.Mem.ReadAt(b[:], int64(addr)); err != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b[:])
}

// readString reads the Go string whose header is at addr ("" on failure).
func readString(t *probe.Target, addr uint64) string {
	ptr, n := readWord(t, addr), readWord(t, addr+8)
	if ptr == 0 || n == 0 || n > dsnMax {
		return ""
	}
	b := make([]byte, n)
	if _, err := t.Mem.ReadAt(b, int64(ptr)); err != nil {
		return ""
	}
	return string(b)
}

// op is what a call does (enum db_op).
type op uint32

// opNames name the calls that are not statements.
var opNames = map[op]string{
	op(probeDbOpDB_OP_PREPARE): "PREPARE", op(probeDbOpDB_OP_BEGIN): "BEGIN",
	op(probeDbOpDB_OP_COMMIT): "COMMIT", op(probeDbOpDB_OP_ROLLBACK): "ROLLBACK",
	op(probeDbOpDB_OP_PING): "PING",
}

// event is what the probe reports, free of BPF types.
type event struct {
	base    span.Base
	op      op
	text    []byte // the statement's first bytes
	textLen uint64 // its whole length
	errType string // "" when the call returned no error
}

func decode(ev *probeDbEvent) event {
	s := ev.Span
	n := min(ev.TextLen, uint64(len(ev.Text)))
	return event{
		base: span.Base{
			StartNs: s.StartNs, EndNs: s.EndNs, TraceID: s.Sc.TraceId, SpanID: s.Sc.SpanId,
			Flags: s.Sc.Flags, Parent: s.ParentSpanId, ParentRemote: s.ParentRemote != 0,
		},
		op:      op(ev.Op),
		text:    ev.Text[:n],
		textLen: ev.TextLen,
	}
}

// attrCap fits every attribute a span can have.
const attrCap = 9

// toSpan applies the database client semantic conventions; the attributes
// are built in buf (span.Attrs).
func toSpan(e event, db database, mode QueryText, clock probe.Clock, buf []attribute.KeyValue) exporter.Span {
	st := db.statement(e.text, e.textLen, mode)
	text, operation, collection, name := st.text, st.operation, st.collection, st.name
	if opName, ok := opNames[e.op]; ok {
		operation = opName
		if e.op != op(probeDbOpDB_OP_PREPARE) {
			collection = ""
		}
		name = sqlconv.SpanName(operation, collection, db.system)
	}
	attrs := append(span.Attrs(buf, attrCap), attribute.String("db.system.name", db.system))
	if db.endpoint.Namespace != "" {
		attrs = append(attrs, attribute.String("db.namespace", db.endpoint.Namespace))
	}
	if operation != "" {
		attrs = append(attrs, attribute.String("db.operation.name", operation))
	}
	if collection != "" {
		attrs = append(attrs, attribute.String("db.collection.name", collection))
	}
	if text != "" {
		switch mode {
		case QueryTextSanitized:
			attrs = append(attrs, attribute.String("db.query.text", st.sanitized))
		case QueryTextRaw:
			attrs = append(attrs, attribute.String("db.query.text", text))
		}
	}
	if db.endpoint.Address != "" {
		attrs = append(attrs, attribute.String("server.address", db.endpoint.Address))
		if db.endpoint.Port != 0 {
			attrs = append(attrs, attribute.Int("server.port", db.endpoint.Port))
		}
	}
	s := e.base.Span(name, trace.SpanKindClient, clock)
	if e.errType != "" {
		s.Status = codes.Error
		attrs = append(attrs, attribute.String("error.type", e.errType))
	}
	s.Attributes = attrs
	return s
}

// statement is the text as far as it was read: a statement longer than
// TextMax is cut on a rune boundary, so no sequence is broken in half.
func statement(b []byte, whole uint64) string {
	if whole > uint64(len(b)) {
		// Drop a sequence the cut left incomplete.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return string(b)
}
