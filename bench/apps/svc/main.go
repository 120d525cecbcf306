// Command svc is the target service of glsotel's benchmarks: the same
// small service run bare, under the agent, or instrumented in-process with
// the OpenTelemetry Go SDK, so the cost of each way of tracing it can be
// compared.
//
//	svc upstream ADDR                     GET /item?id=N answers "item N";
//	                                      the dependency the service calls
//	svc serve ADDR UPSTREAM_URL [--inproc] the service under test
//
// Both serve on ADDR (HOST:PORT, port 0 for a free one), print
// "listening HOST:PORT" once ready and stop at GET /quit, after answering.
//
// GET /work?id=N (N in 1..1000) does exactly, in this order:
//
//  1. one client call, GET UPSTREAM_URL/item?id=N with the request's
//     context, through a shared keep-alive http.Client;
//  2. one SQLite query (modernc.org/sqlite, pure Go, a temporary file
//     holding table items of 1000 rows), SELECT name FROM items WHERE id = ?
//     with QueryRowContext and the request's context, on a goroutine the
//     handler spawns and waits for;
//
// then answers 200 "work N item-N". An id outside 1..1000 answers 404 (no
// row), a failed call 502. The handler is shaped so one request holds one
// of each kind of work the agent traces: a server span, an HTTP client span,
// a database client span, and a goroutine created under the request whose
// span must still find its parent. Nothing else happens on the request path
// (no logging, no sleeping, no randomness: the upstream and the database
// answer from memory or the page cache), so what a benchmark measures on
// top of the bare service is the cost of tracing it. (The driver itself
// starts a goroutine per query to watch the context for cancellation; that
// is part of the work, traced or not.)
//
// With --inproc the service traces itself the way a careful user would
// without an agent: otelhttp.NewHandler around the server, otelhttp's
// Transport in the client, and a CLIENT span around QueryRowContext and Scan
// as otelsql makes it (span "SELECT items", db.system.name=sqlite,
// db.query.text, db.operation.name=SELECT, db.collection.name=items, status
// Error and error.type on an error other than no rows). The tracer provider
// is the SDK's with a BatchSpanProcessor and an OTLP exporter, set up from
// the standard environment:
//
//	OTEL_SDK_DISABLED=true            no SDK: the instrumentation runs on
//	                                  the no-op global provider
//	OTEL_TRACES_EXPORTER              otlp (default) or none (spans are
//	                                  recorded, then handed to no processor)
//	OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL  grpc, or http/protobuf (default)
//	OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT and the other OTEL_EXPORTER_OTLP_*
//	                                  read by the exporter itself
//	OTEL_BSP_*, OTEL_TRACES_SAMPLER[_ARG]  read by the SDK itself
//	OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES  the resource (service.name
//	                                  defaults to svc)
//
// The propagator is W3C tracecontext and baggage. At /quit the provider is
// shut down, flushing what is queued, before the process exits (giving up
// after 5s, as when the collector is unreachable).
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite"
)

const (
	rows  = 1000
	query = "SELECT name FROM items WHERE id = ?"
	// conns bounds the database's connection pool; every one of them is
	// kept idle between requests, so none is reopened under load.
	conns = 32
)

// dbAttrs are the attributes of the in-process database span.
var dbAttrs = []attribute.KeyValue{
	semconv.DBSystemNameSQLite,
	semconv.DBQueryText(query),
	semconv.DBOperationName("SELECT"),
	semconv.DBCollectionName("items"),
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: svc upstream ADDR | svc serve ADDR UPSTREAM_URL [--inproc]")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "svc:", err)
	os.Exit(1)
}

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "upstream":
		upstream(os.Args[2])
	case (len(os.Args) == 4 || len(os.Args) == 5 && os.Args[4] == "--inproc") && os.Args[1] == "serve":
		serve(os.Args[2], strings.TrimSuffix(os.Args[3], "/"), len(os.Args) == 5)
	default:
		usage()
	}
}

// listen listens on addr or exits.
func listen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err)
	}
	return ln
}

// run serves mux, with GET /quit added and wrapped by wrap, on ln until GET
// /quit.
func run(ln net.Listener, mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	quit := make(chan struct{})
	var once sync.Once
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		once.Do(func() { close(quit) })
	})
	srv := &http.Server{Handler: wrap(mux)}
	go srv.Serve(ln)
	fmt.Println("listening", ln.Addr())
	<-quit
	// Shutdown waits for the /quit handler to have answered.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

func upstream(addr string) {
	ln := listen(addr)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /item", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "item "+r.URL.Query().Get("id")+"\n")
	})
	run(ln, mux, func(h http.Handler) http.Handler { return h })
}

type service struct {
	upstream string // http://HOST:PORT
	client   *http.Client
	db       *sql.DB
	tracer   trace.Tracer // nil unless --inproc
}

func serve(addr, upstreamURL string, inproc bool) {
	ln := listen(addr)
	dir, err := os.MkdirTemp("", "svc")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	db, err := openDB(dir + "/items.db")
	if err != nil {
		os.RemoveAll(dir)
		fail(err)
	}
	defer db.Close()

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 512
	transport.MaxIdleConnsPerHost = 512
	s := &service{upstream: upstreamURL, client: &http.Client{Transport: transport}, db: db}
	wrap := func(h http.Handler) http.Handler { return h }

	var shutdown func(context.Context) error
	if inproc {
		shutdown, err = setupOTel(context.Background())
		if err != nil {
			os.RemoveAll(dir)
			fail(err)
		}
		s.client.Transport = otelhttp.NewTransport(transport)
		s.tracer = otel.Tracer("svc/database/sql")
		wrap = func(h http.Handler) http.Handler { return otelhttp.NewHandler(h, "svc") }
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", s.work)
	run(ln, mux, wrap)

	if shutdown != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "svc: tracer provider shutdown:", err)
		}
	}
}

// openDB creates table items of rows rows in a new SQLite database at path,
// in two statements.
func openDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	for _, stmt := range []string{
		"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < " + strconv.Itoa(rows) + ") " +
			"INSERT INTO items (id, name) SELECT i, 'item-' || i FROM n",
	} {
		if _, err := db.Exec(stmt); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func (s *service) work(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	ctx := r.Context()

	// (1) One client call.
	req, err := http.NewRequestWithContext(ctx, "GET", s.upstream+"/item?id="+strconv.Itoa(id), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		http.Error(w, "upstream failed", http.StatusBadGateway)
		return
	}

	// (2) One query, on a goroutine of its own.
	var name string
	done := make(chan error, 1)
	go func() { done <- s.lookup(ctx, id, &name) }()
	switch err := <-done; {
	case errors.Is(err, sql.ErrNoRows):
		http.Error(w, "no item "+strconv.Itoa(id), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "work "+strconv.Itoa(id)+" "+name+"\n")
}

// lookup reads item id's name; with --inproc, inside a database client span.
func (s *service) lookup(ctx context.Context, id int, name *string) error {
	if s.tracer == nil {
		return s.db.QueryRowContext(ctx, query, id).Scan(name)
	}
	ctx, span := s.tracer.Start(ctx, "SELECT items",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(dbAttrs...))
	defer span.End()
	err := s.db.QueryRowContext(ctx, query, id).Scan(name)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		span.SetAttributes(semconv.ErrorType(err))
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// setupOTel installs the SDK's tracer provider and the W3C propagators, per
// the OTEL_* environment; it returns the provider's Shutdown.
func setupOTel(ctx context.Context) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		// The Go SDK does not read OTEL_SDK_DISABLED: keep the global
		// no-op provider.
		return func(context.Context) error { return nil }, nil
	}

	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("svc")), // OTEL_SERVICE_NAME overrides it
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}

	switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
		protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if protocol == "" {
			protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		var exporter sdktrace.SpanExporter
		switch protocol {
		case "grpc":
			exporter, err = otlptracegrpc.New(ctx)
		case "", "http/protobuf":
			exporter, err = otlptracehttp.New(ctx)
		default:
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: want grpc or http/protobuf", protocol)
		}
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exporter)) // OTEL_BSP_* apply
	case "none":
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: want otlp or none", exp)
	}

	tp := sdktrace.NewTracerProvider(opts...) // OTEL_TRACES_SAMPLER applies
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
