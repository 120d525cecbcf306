//go:build ignore

// database/sql: one CLIENT span per call of an exported DB, Conn, Tx or
// Stmt method. The exported *Context methods are hooked (the methods
// without Context and the QueryRow ones call them), so a call is one span
// however many times database/sql retries it on a bad connection, and no
// driver-level call makes a second one. Two uprobe hits per call: the
// entry and the RET that returns.
//
// Parent: the live span owning the call's context (or its nearest owned
// ancestor; Commit and Rollback use the transaction's context), else the
// goroutine's GLS context, else a new trace.
#include "glsotel/span.h"
#include "glsotel/context.h"

volatile const __u64 off_database_sql_DB_connector;
volatile const __u64 off_database_sql_Conn_db;
volatile const __u64 off_database_sql_Tx_db;
volatile const __u64 off_database_sql_Tx_ctx;
volatile const __u64 off_database_sql_Tx_done;
volatile const __u64 off_database_sql_Stmt_db;
volatile const __u64 off_database_sql_Stmt_query;
volatile const __u64 off_database_sql_dsnConnector_driver;

/* The statement text kept per call: the first DB_TEXT_MAX bytes. A power
 * of two, so a mask bounds reads for the verifier. */
#define DB_TEXT_MAX 2048
/* Calls in flight at once, over all targets; the oldest is dropped beyond. */
#define DB_MAX_CALLS 4096

/* What the call does: the converter names the span after it. */
enum db_op {
	DB_OP_QUERY = 1,
	DB_OP_EXEC = 2,
	DB_OP_PREPARE = 3,
	DB_OP_BEGIN = 4,
	DB_OP_COMMIT = 5,
	DB_OP_ROLLBACK = 6,
	DB_OP_PING = 7,
};

/* One call, kept from entry to return, then sent as is (cut after the
 * text's valid bytes). */
struct db_event {
	enum event_kind kind;
	__u32 op; /* enum db_op */
	struct span_base span;
	__u64 connector_itab; /* DB.connector: which driver (named in user space) */
	__u64 connector_data;
	__u64 driver_itab;    /* if the connector is sql.Open's dsnConnector: its driver's itab */
	__u64 err_itab;       /* the returned error's itab (0: no error) */
	__u64 text_len;       /* the statement's whole length in bytes */
	__u8 text[DB_TEXT_MAX];
};
const struct db_event *unused_db_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));
const enum db_op *unused_db_op __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a call that panics never returns: its record ages out */
	__uint(max_entries, DB_MAX_CALLS);
	__type(key, struct gls_key);
	__type(value, struct db_event);
} db_calls SEC(".maps");

/* Too big for the stack: the entry builds its record here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct db_event);
} db_scratch SEC(".maps");

/* text_bytes is how many bytes of a statement of len bytes are kept, in a
 * form the verifier bounds (a branch, not a mask). */
static __always_inline __u32 text_bytes(__u64 len)
{
	__u32 n = DB_TEXT_MAX;
	if (len < DB_TEXT_MAX)
		n = len;
	asm volatile("" : "+r"(n));
	if (n > DB_TEXT_MAX)
		n = DB_TEXT_MAX;
	return n;
}

/* db_start starts the span of a call on database db with context ctx (the
 * interface's data word) and statement text (ptr, len); it keeps the
 * record only when the span is sampled. */
static __always_inline int db_start(struct pt_regs *regs, __u32 op, __u64 db, __u64 ctx, __u64 text, __u64 text_len)
{
	__u64 g = GO_G(regs);
	__u32 zero = 0;
	struct db_event *e = bpf_map_lookup_elem(&db_scratch, &zero);
	if (!e || !db)
		return 0;
	struct gls_entry parent;
	if (ctx_context(ctx, &parent) || current_context(g, &parent))
		start_span(&e->span, &parent.sc, 0);
	else
		start_span(&e->span, NULL, 0);
	if (!span_sampled(&e->span))
		return 0; /* unsampled: no event, nothing kept */
	e->span.goid = g_goid(g);
	e->kind = EVENT_KIND_DB_CLIENT;
	e->op = op;
	e->err_itab = 0;
	e->connector_itab = e->connector_data = 0;
	read_iface(db + off_database_sql_DB_connector, &e->connector_itab, &e->connector_data);
	/* Read now, whatever the connector's type (user space decides): the
	 * program may be gone when its events are converted. */
	e->driver_itab = read_ptr(e->connector_data + off_database_sql_dsnConnector_driver + off_runtime_iface_tab);
	e->text_len = text ? text_len : 0;
	if (text && bpf_probe_read_user(e->text, text_bytes(e->text_len), (void *)text))
		e->text_len = 0;
	struct gls_key k = { .tgid = current_tgid(), .goid = e->span.goid };
	bpf_map_update_elem(&db_calls, &k, e, BPF_ANY);
	return 0;
}

/* db_end sends the call's record with the returned error's itab. */
static __always_inline int db_end(struct pt_regs *regs, __u64 err_itab)
{
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(GO_G(regs)) };
	struct db_event *e = bpf_map_lookup_elem(&db_calls, &k);
	if (!e)
		return 0;
	e->span.end_ns = bpf_ktime_get_ns();
	e->err_itab = err_itab;
	if (bpf_ringbuf_output(&events, e, __builtin_offsetof(struct db_event, text) + text_bytes(e->text_len), events_flags()))
		count_drop(EVENT_KIND_DB_CLIENT);
	bpf_map_delete_elem(&db_calls, &k);
	return 0;
}

/* Arguments of the hooked methods (Go register ABI): the receiver in RAX,
 * a context.Context in RBX/RCX (itab, data), a query string in RDI/RSI. */
#define RECV(r) GO_ARG1(r)
#define CTX(r) GO_ARG3(r)
#define QUERY(r) GO_ARG4(r), GO_REG(r, si)
#define FIELD(p, off) read_ptr((p) + (off))

/* Results: (*T, error) leaves the error's itab in RBX, (Result, error) in
 * RCX, a lone error in RAX. */
#define ERR_AFTER_PTR(r) GO_ARG2(r)
#define ERR_AFTER_IFACE(r) GO_ARG3(r)
#define ERR_ONLY(r) GO_RET1(r)

/* The statement of a Stmt: its query string field. */
static __always_inline int stmt_start(struct pt_regs *regs, __u32 op)
{
	__u64 s = RECV(regs);
	struct { __u64 ptr, len; } q = {};
	if (!s || bpf_probe_read_user(&q, sizeof(q), (void *)(s + off_database_sql_Stmt_query)))
		return 0;
	return db_start(regs, op, FIELD(s, off_database_sql_Stmt_db), CTX(regs), q.ptr, q.len);
}

/* Commit and Rollback take no context: the transaction's own (derived
 * from BeginTx's) is the call's context. On a finished transaction they
 * only return ErrTxDone (a deferred Rollback after Commit): no span. */
static __always_inline int tx_end_start(struct pt_regs *regs, __u32 op)
{
	__u64 tx = RECV(regs);
	__u32 done = 1; /* Tx.done is an atomic.Bool: its uint32 comes first */
	if (!tx || bpf_probe_read_user(&done, sizeof(done), (void *)(tx + off_database_sql_Tx_done)) || done)
		return 0;
	__u64 ctx = FIELD(tx, off_database_sql_Tx_ctx + off_runtime_iface_data);
	return db_start(regs, op, FIELD(tx, off_database_sql_Tx_db), ctx, 0, 0);
}

/* ---- DB ---- */

// func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error)
SEC("uprobe/database_sql_DB_QueryContext")
int uprobe_database_sql_DB_QueryContext(struct pt_regs *r) { return db_start(r, DB_OP_QUERY, RECV(r), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_DB_QueryContext_ret")
int uprobe_database_sql_DB_QueryContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (Result, error)
SEC("uprobe/database_sql_DB_ExecContext")
int uprobe_database_sql_DB_ExecContext(struct pt_regs *r) { return db_start(r, DB_OP_EXEC, RECV(r), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_DB_ExecContext_ret")
int uprobe_database_sql_DB_ExecContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_IFACE(r)); }

// func (db *DB) PrepareContext(ctx context.Context, query string) (*Stmt, error)
SEC("uprobe/database_sql_DB_PrepareContext")
int uprobe_database_sql_DB_PrepareContext(struct pt_regs *r) { return db_start(r, DB_OP_PREPARE, RECV(r), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_DB_PrepareContext_ret")
int uprobe_database_sql_DB_PrepareContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (db *DB) BeginTx(ctx context.Context, opts *TxOptions) (*Tx, error)
SEC("uprobe/database_sql_DB_BeginTx")
int uprobe_database_sql_DB_BeginTx(struct pt_regs *r) { return db_start(r, DB_OP_BEGIN, RECV(r), CTX(r), 0, 0); }
SEC("uprobe/database_sql_DB_BeginTx_ret")
int uprobe_database_sql_DB_BeginTx_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (db *DB) PingContext(ctx context.Context) error
SEC("uprobe/database_sql_DB_PingContext")
int uprobe_database_sql_DB_PingContext(struct pt_regs *r) { return db_start(r, DB_OP_PING, RECV(r), CTX(r), 0, 0); }
SEC("uprobe/database_sql_DB_PingContext_ret")
int uprobe_database_sql_DB_PingContext_ret(struct pt_regs *r) { return db_end(r, ERR_ONLY(r)); }

/* ---- Conn: its DB is Conn.db ---- */

// func (c *Conn) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error)
SEC("uprobe/database_sql_Conn_QueryContext")
int uprobe_database_sql_Conn_QueryContext(struct pt_regs *r) { return db_start(r, DB_OP_QUERY, FIELD(RECV(r), off_database_sql_Conn_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Conn_QueryContext_ret")
int uprobe_database_sql_Conn_QueryContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (c *Conn) ExecContext(ctx context.Context, query string, args ...any) (Result, error)
SEC("uprobe/database_sql_Conn_ExecContext")
int uprobe_database_sql_Conn_ExecContext(struct pt_regs *r) { return db_start(r, DB_OP_EXEC, FIELD(RECV(r), off_database_sql_Conn_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Conn_ExecContext_ret")
int uprobe_database_sql_Conn_ExecContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_IFACE(r)); }

// func (c *Conn) PrepareContext(ctx context.Context, query string) (*Stmt, error)
SEC("uprobe/database_sql_Conn_PrepareContext")
int uprobe_database_sql_Conn_PrepareContext(struct pt_regs *r) { return db_start(r, DB_OP_PREPARE, FIELD(RECV(r), off_database_sql_Conn_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Conn_PrepareContext_ret")
int uprobe_database_sql_Conn_PrepareContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (c *Conn) BeginTx(ctx context.Context, opts *TxOptions) (*Tx, error)
SEC("uprobe/database_sql_Conn_BeginTx")
int uprobe_database_sql_Conn_BeginTx(struct pt_regs *r) { return db_start(r, DB_OP_BEGIN, FIELD(RECV(r), off_database_sql_Conn_db), CTX(r), 0, 0); }
SEC("uprobe/database_sql_Conn_BeginTx_ret")
int uprobe_database_sql_Conn_BeginTx_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (c *Conn) PingContext(ctx context.Context) error
SEC("uprobe/database_sql_Conn_PingContext")
int uprobe_database_sql_Conn_PingContext(struct pt_regs *r) { return db_start(r, DB_OP_PING, FIELD(RECV(r), off_database_sql_Conn_db), CTX(r), 0, 0); }
SEC("uprobe/database_sql_Conn_PingContext_ret")
int uprobe_database_sql_Conn_PingContext_ret(struct pt_regs *r) { return db_end(r, ERR_ONLY(r)); }

/* ---- Tx: its DB is Tx.db ---- */

// func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*Rows, error)
SEC("uprobe/database_sql_Tx_QueryContext")
int uprobe_database_sql_Tx_QueryContext(struct pt_regs *r) { return db_start(r, DB_OP_QUERY, FIELD(RECV(r), off_database_sql_Tx_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Tx_QueryContext_ret")
int uprobe_database_sql_Tx_QueryContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (Result, error)
SEC("uprobe/database_sql_Tx_ExecContext")
int uprobe_database_sql_Tx_ExecContext(struct pt_regs *r) { return db_start(r, DB_OP_EXEC, FIELD(RECV(r), off_database_sql_Tx_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Tx_ExecContext_ret")
int uprobe_database_sql_Tx_ExecContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_IFACE(r)); }

// func (tx *Tx) PrepareContext(ctx context.Context, query string) (*Stmt, error)
SEC("uprobe/database_sql_Tx_PrepareContext")
int uprobe_database_sql_Tx_PrepareContext(struct pt_regs *r) { return db_start(r, DB_OP_PREPARE, FIELD(RECV(r), off_database_sql_Tx_db), CTX(r), QUERY(r)); }
SEC("uprobe/database_sql_Tx_PrepareContext_ret")
int uprobe_database_sql_Tx_PrepareContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (tx *Tx) Commit() error
SEC("uprobe/database_sql_Tx_Commit")
int uprobe_database_sql_Tx_Commit(struct pt_regs *r) { return tx_end_start(r, DB_OP_COMMIT); }
SEC("uprobe/database_sql_Tx_Commit_ret")
int uprobe_database_sql_Tx_Commit_ret(struct pt_regs *r) { return db_end(r, ERR_ONLY(r)); }

/* Rollback is small enough to be inlined into its callers, where no probe
 * sees it; every rollback goes through rollback, also the one database/sql
 * makes when the transaction's context is cancelled. */
// func (tx *Tx) rollback(discardConn bool) error
SEC("uprobe/database_sql_Tx_rollback")
int uprobe_database_sql_Tx_rollback(struct pt_regs *r) { return tx_end_start(r, DB_OP_ROLLBACK); }
SEC("uprobe/database_sql_Tx_rollback_ret")
int uprobe_database_sql_Tx_rollback_ret(struct pt_regs *r) { return db_end(r, ERR_ONLY(r)); }

/* ---- Stmt: its DB is Stmt.db, its text Stmt.query ---- */

// func (s *Stmt) QueryContext(ctx context.Context, args ...any) (*Rows, error)
SEC("uprobe/database_sql_Stmt_QueryContext")
int uprobe_database_sql_Stmt_QueryContext(struct pt_regs *r) { return stmt_start(r, DB_OP_QUERY); }
SEC("uprobe/database_sql_Stmt_QueryContext_ret")
int uprobe_database_sql_Stmt_QueryContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_PTR(r)); }

// func (s *Stmt) ExecContext(ctx context.Context, args ...any) (Result, error)
SEC("uprobe/database_sql_Stmt_ExecContext")
int uprobe_database_sql_Stmt_ExecContext(struct pt_regs *r) { return stmt_start(r, DB_OP_EXEC); }
SEC("uprobe/database_sql_Stmt_ExecContext_ret")
int uprobe_database_sql_Stmt_ExecContext_ret(struct pt_regs *r) { return db_end(r, ERR_AFTER_IFACE(r)); }
