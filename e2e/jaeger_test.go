package e2e

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk"

	"github.com/glsotel/glsotel/internal/jaegertest"
	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// TestJaeger exports the end-to-end scenarios to a real Jaeger (v2, the
// version deploy/jaeger pins), over OTLP/gRPC and over OTLP/HTTP
// (protobuf), and reads every trace back through Jaeger's query API: the
// cross-process chain (front -> back, two instrumented processes),
// database/sql on SQLite (dbsvc), and httpsvc's fan-out, 5xx and route
// pattern. Each request must come back as exactly one trace whose tree,
// span kinds, names, key attributes, status and resource are what the
// agent exported; the numbers of traces and spans are exact.
func TestJaeger(t *testing.T) {
	path := injectPath(t)
	bins := jaegerBins{
		chain:   testbuild.Build(t, "apps/chain", testbuild.Toolchains[0], false),
		dbsvc:   testbuild.Build(t, "apps/dbsvc", testbuild.Toolchains[0], false),
		httpsvc: testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false),
	}
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(proto, "/", "-"), func(t *testing.T) { testJaeger(t, proto, path, bins) })
	}
}

type jaegerBins struct{ chain, dbsvc, httpsvc string }

const (
	jaegerChainRequests = 20
	jaegerTxRequests    = 3 // dbsvc /tx
	jaegerFailRequests  = 2 // dbsvc /fail (a failing query) and httpsvc /fail (503)
	jaegerWorkRequests  = 2 // httpsvc /work
)

func testJaeger(t *testing.T, proto, inject string, bins jaegerBins) {
	start := time.Now()
	j := jaegertest.Start(t)
	endpoint := "http://" + j.OTLPGRPC
	if proto == "http/protobuf" {
		endpoint = j.OTLPHTTP // the agent appends /v1/traces
	}
	// startService exports to recv.Endpoint; the variables after it win.
	recv := &otlptest.Receiver{Endpoint: endpoint}
	env := func(service string) []string {
		return []string{"OTEL_EXPORTER_OTLP_PROTOCOL=" + proto, "OTEL_EXPORTER_OTLP_INSECURE=true",
			"OTEL_SERVICE_NAME=" + service, "GLSOTEL_INJECT=" + inject}
	}
	sqlitePath := filepath.Join(t.TempDir(), "items.db")
	back := startService(t, recv, []string{bins.chain, "serve", "127.0.0.1:0"}, env("back"))
	front := startService(t, recv, []string{bins.chain, "serve", "127.0.0.1:0", back.base}, env("front"))
	db := startService(t, recv, []string{bins.dbsvc, "serve", "127.0.0.1:0", "sqlite=" + sqlitePath}, env("dbsvc"))
	web := startService(t, recv, []string{bins.httpsvc, "serve", "127.0.0.1:0"}, env("httpsvc"))
	svcs := map[string]*traced{"front": front, "back": back, "dbsvc": db, "httpsvc": web}
	up := time.Since(start)
	for _, s := range svcs {
		t.Cleanup(func() { s.cmd.Process.Kill() }) // if the test ends early
	}

	// The requests, all at once.
	var wg sync.WaitGroup
	do := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	for i := 1; i <= jaegerChainRequests; i++ {
		do(func() {
			body, err := fetch(front.client, fmt.Sprintf("%s/front?id=%d", front.base, i))
			if err != nil || !strings.HasPrefix(body, "proto=HTTP/1.1 traceparent=1 ") {
				t.Errorf("/front?id=%d: %q, %v", i, body, err)
			}
		})
	}
	for i := 1; i <= jaegerTxRequests; i++ {
		do(func() { db.get(t, fmt.Sprintf("/tx?db=sqlite&id=%d", i), nil) })
	}
	for i := 1; i <= jaegerFailRequests; i++ {
		do(func() { db.get(t, fmt.Sprintf("/fail?db=sqlite&id=%d", 100+i), nil) })
		do(func() {
			resp, err := web.client.Get(fmt.Sprintf("%s/fail?id=f%d", web.base, i))
			if err != nil {
				t.Errorf("httpsvc /fail: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Errorf("httpsvc /fail: %s, want 503", resp.Status)
			}
		})
	}
	for i := 1; i <= jaegerWorkRequests; i++ {
		do(func() { web.get(t, fmt.Sprintf("/work?id=w%d", i), nil) })
	}
	do(func() { web.get(t, "/items/7", nil) })
	wg.Wait()
	served := time.Since(start)
	pids := stopAll(t, svcs)
	t.Logf("%s: Jaeger and 4 traced services up in %v, %d requests served by %v, agents flushed and exited by %v", proto,
		up.Round(time.Millisecond), jaegerChainRequests+jaegerTxRequests+2*jaegerFailRequests+jaegerWorkRequests+1,
		served.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	c := j.Client()
	ctx := context.Background()
	// Per service: its traces (each holding spans of it), how many, and
	// the span total over them.
	want := map[string]struct{ traces, spans int }{
		"front": {jaegerChainRequests + 1, jaegerChainRequests*7 + 1}, // + /quit
		"back":  {jaegerChainRequests + 1, jaegerChainRequests*7 + 1},
		// CREATE TABLE at start-up, /tx (11 spans), /fail (2), /quit.
		"dbsvc": {1 + jaegerTxRequests + jaegerFailRequests + 1, 1 + 11*jaegerTxRequests + 2*jaegerFailRequests + 1},
		// /work (1 + 6 calls + 6 /leaf), /fail, /items/7, /quit.
		"httpsvc": {jaegerWorkRequests + jaegerFailRequests + 2, 13*jaegerWorkRequests + jaegerFailRequests + 2},
	}
	got := map[string][]jaegertest.Trace{}
	for _, service := range []string{"front", "back", "dbsvc", "httpsvc"} {
		w := want[service]
		got[service] = jaegertest.WaitTraces(t, c, service, w.traces, 15*time.Second)
		n := 0
		for _, tr := range got[service] {
			n += len(tr.Spans)
		}
		if len(got[service]) != w.traces || n != w.spans {
			t.Errorf("%s: Jaeger has %d traces, %d spans; want %d, %d", service, len(got[service]), n, w.traces, w.spans)
		}
	}
	t.Logf("%s: traces queryable %v after start", proto, time.Since(start).Round(time.Millisecond))
	// front's traces and back's are the same but for each one's /quit.
	backIDs := map[string]bool{}
	for _, id := range traceIDs(got["back"]) {
		backIDs[id] = true
	}
	shared := 0
	for _, id := range traceIDs(got["front"]) {
		if backIDs[id] {
			shared++
		}
	}
	if shared != jaegerChainRequests {
		t.Errorf("front and back share %d traces, want %d", shared, jaegerChainRequests)
	}

	bases := map[string]string{"front": front.base, "back": back.base, "dbsvc": db.base, "httpsvc": web.base}
	exes := map[string]string{"front": "chain", "back": "chain", "dbsvc": "dbsvc", "httpsvc": "httpsvc"}
	expect := map[string]string{} // the root's name and url.query -> the tree
	b := back.base
	for i := 1; i <= jaegerChainRequests; i++ {
		id := strconv.Itoa(i)
		expect["GET /front id="+id] = fmt.Sprintf(`SERVER "GET /front" front method=GET path=/front query=id=%[1]s route=/front status=200
  CLIENT "GET" front method=GET url=%[2]s/back?id=%[1]s status=200
    SERVER "GET /back" back method=GET path=/back query=id=%[1]s route=/back status=200 remote
      CLIENT "GET" back method=GET url=%[2]s/leaf?id=%[1]s&from=goroutine status=200
        SERVER "GET /leaf" back method=GET path=/leaf query=id=%[1]s&from=goroutine route=/leaf status=200 remote
      CLIENT "GET" back method=GET url=%[2]s/leaf?id=%[1]s&from=handler status=200
        SERVER "GET /leaf" back method=GET path=/leaf query=id=%[1]s&from=handler route=/leaf status=200 remote
`, id, b)
	}
	for _, s := range []string{"front", "back", "dbsvc", "httpsvc"} {
		expect[s+" GET /quit"] = fmt.Sprintf("SERVER \"GET /quit\" %s method=GET path=/quit route=/quit status=200\n", s)
	}
	sql := func(name, text string) string {
		return fmt.Sprintf("  CLIENT %q dbsvc db=sqlite ns=%s text=%q\n", name, sqlitePath, text)
	}
	expect["dbsvc CREATE items"] = strings.TrimPrefix(sql("CREATE items", "CREATE TABLE IF NOT EXISTS items (id integer, name text)"), "  ")
	for i := 1; i <= jaegerTxRequests; i++ {
		r := "r" + strconv.Itoa(i)
		tree := fmt.Sprintf("SERVER \"GET /tx\" dbsvc method=GET path=/tx query=db=sqlite&id=%d route=/tx status=200\n", i)
		kids := []string{
			strings.Replace(sql("BEGIN", ""), ` text=""`, "", 1), strings.Replace(sql("COMMIT", ""), ` text=""`, "", 1),
			sql("INSERT items", "INSERT INTO items (id, name) SELECT ?, ? AS "+r),
			sql("UPDATE items", "UPDATE items AS "+r+" SET name = ? WHERE id = ?"),
			sql("SELECT items", "SELECT count(*) AS "+r+" FROM items WHERE id = ?"),
		}
		for g := range 5 {
			kids = append(kids, sql("SELECT items", fmt.Sprintf("SELECT name AS %s_%d FROM items WHERE id = ?", r, g)))
		}
		sort.Strings(kids)
		expect[fmt.Sprintf("GET /tx db=sqlite&id=%d", i)] = tree + strings.Join(kids, "")
	}
	for i := 1; i <= jaegerFailRequests; i++ {
		id := 100 + i
		expect[fmt.Sprintf("GET /fail db=sqlite&id=%d", id)] = fmt.Sprintf(
			"SERVER \"GET /fail\" dbsvc method=GET path=/fail query=db=sqlite&id=%d route=/fail status=200\n", id) +
			strings.Replace(sql("SELECT missing_table", fmt.Sprintf("SELECT name AS r%d FROM missing_table WHERE name = ? AND id = ?", id)),
				"\n", " error.type=*modernc.org/sqlite.Error ERROR\n", 1)
		expect[fmt.Sprintf("GET /fail id=f%d", i)] = fmt.Sprintf(
			"SERVER \"GET /fail\" httpsvc method=GET path=/fail query=id=f%d route=/fail status=503 error.type=503 ERROR\n", i)
	}
	for i := 1; i <= jaegerWorkRequests; i++ {
		tree := fmt.Sprintf("SERVER \"GET /work\" httpsvc method=GET path=/work query=id=w%d route=/work status=200\n", i)
		var kids []string
		for _, f := range from {
			q := fmt.Sprintf("id=w%d&from=%s", i, f)
			kids = append(kids, fmt.Sprintf("  CLIENT \"GET\" httpsvc method=GET url=%s/leaf?%s status=200\n"+
				"    SERVER \"GET /leaf\" httpsvc method=GET path=/leaf query=%s route=/leaf status=200 remote\n", web.base, q, q))
		}
		sort.Strings(kids)
		expect[fmt.Sprintf("GET /work id=w%d", i)] = tree + strings.Join(kids, "")
	}
	expect["GET /items/{id} "] = "SERVER \"GET /items/{id}\" httpsvc method=GET path=/items/7 route=/items/{id} status=200\n"

	// Every trace: one root, the tree expected for its request (read
	// through /api/v3/traces/ID, and the same through /api/traces), each
	// request's in a trace of its own.
	seen := map[string]string{} // root key -> trace id
	for _, service := range []string{"front", "back", "dbsvc", "httpsvc"} {
		for _, tr := range got[service] {
			v1Roots := jaegertest.Roots(tr.Spans)
			if len(v1Roots) != 1 || v1Roots[0].ParentSpanID != "" {
				t.Errorf("%s: trace %s has roots %v, want one, with no parent", service, tr.ID, names(v1Roots))
				continue
			}
			root := v1Roots[0]
			query, _ := root.Attrs["url.query"].(string)
			key := root.Name + " " + query // the request
			if root.Name == "GET /quit" || root.Name == "CREATE items" {
				key = root.Service + " " + root.Name
			}
			if prev, dup := seen[key]; dup {
				if prev != tr.ID {
					t.Errorf("request %q has traces %s and %s", key, prev, tr.ID)
				}
				continue // front's and back's: the same trace
			}
			seen[key] = tr.ID
			wantTree, ok := expect[key]
			if !ok {
				t.Errorf("%s: unexpected trace %s:\n%s", service, tr.ID, render(tr.Spans, false))
				continue
			}
			v3, err := c.Trace(ctx, tr.ID)
			if err != nil {
				t.Errorf("trace %s: %v", tr.ID, err)
				continue
			}
			if gotTree := render(v3.Spans, true); gotTree != wantTree {
				t.Errorf("request %q: trace %s is\n%swant\n%s", key, tr.ID, gotTree, wantTree)
			}
			if a, b := render(tr.Spans, false), render(v3.Spans, false); a != b {
				t.Errorf("request %q: /api/traces gives\n%s/api/v3/traces gives\n%s", key, a, b)
			}
			if key == "GET /front id=1" && proto == "grpc" {
				t.Logf("trace %s of /front?id=1 as Jaeger returned it (v3):\n%s", tr.ID, renderIDs(v3.Spans))
			}
			checkSpans(t, key, v3, pids, exes, bases)
		}
	}
	for key := range expect {
		if _, ok := seen[key]; !ok {
			t.Errorf("request %q: no trace", key)
		}
	}
}

// stopAll ends the services (GET /quit) at once, waits for their agents
// to flush and exit, and returns each target's pid ("msg=attached pid=N").
func stopAll(t *testing.T, svcs map[string]*traced) map[string]int64 {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	for name, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := fetch(s.client, s.base+"/quit")
			if err == nil {
				done := make(chan error, 1)
				go func() { done <- s.cmd.Wait() }()
				select {
				case err = <-done:
				case <-time.After(60 * time.Second):
					s.cmd.Process.Kill()
					err = fmt.Errorf("agent did not exit in 60s")
				}
			}
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	pids := map[string]int64{}
	for name, s := range svcs {
		if errs[name] != nil {
			t.Fatalf("%s: %v\n%s", name, errs[name], s.stderr)
		}
		m := attachedPid.FindStringSubmatch(s.stderr.String())
		if m == nil {
			t.Fatalf("%s: agent named no pid:\n%s", name, s.stderr)
		}
		pids[name], _ = strconv.ParseInt(m[1], 10, 64)
	}
	return pids
}

var attachedPid = regexp.MustCompile(`msg=attached pid=(\d+)`)

// render draws a span tree, one span a line, children (indented) in the
// order of their lines: kind, name, service, key attributes, status,
// and "remote" for a remote parent (when withRemote).
func render(spans []jaegertest.Span, withRemote bool) string {
	var walk func(s jaegertest.Span, depth int) string
	walk = func(s jaegertest.Span, depth int) string {
		line := fmt.Sprintf("%s%s %q %s", strings.Repeat("  ", depth), s.Kind, s.Name, s.Service)
		for _, k := range []struct{ attr, short string }{
			{"http.request.method", "method"}, {"url.path", "path"}, {"url.query", "query"}, {"http.route", "route"},
			{"url.full", "url"}, {"http.response.status_code", "status"}, {"db.system.name", "db"},
			{"db.namespace", "ns"}, {"db.query.text", "text"}, {"error.type", "error.type"},
		} {
			if v, ok := s.Attrs[k.attr]; ok {
				if k.short == "text" {
					v = fmt.Sprintf("%q", v)
				}
				line += fmt.Sprintf(" %s=%v", k.short, v)
			}
		}
		if s.StatusCode != "UNSET" {
			line += " " + s.StatusCode
		}
		if s.StatusMessage != "" {
			line += fmt.Sprintf(" (%s)", s.StatusMessage)
		}
		if withRemote && s.RemoteParent {
			line += " remote"
		}
		var kids []string
		for _, c := range jaegertest.Children(spans, s.SpanID) {
			kids = append(kids, walk(c, depth+1))
		}
		sort.Strings(kids)
		return line + "\n" + strings.Join(kids, "")
	}
	var out []string
	for _, r := range jaegertest.Roots(spans) {
		out = append(out, walk(r, 0))
	}
	sort.Strings(out)
	return strings.Join(out, "")
}

// renderIDs draws the tree with span ids and parents, for the log.
func renderIDs(spans []jaegertest.Span) string {
	var b strings.Builder
	var walk func(s jaegertest.Span, depth int)
	walk = func(s jaegertest.Span, depth int) {
		fmt.Fprintf(&b, "%s%s %s %q (%s) parent=%s remote=%v\n", strings.Repeat("  ", depth), s.SpanID, s.Kind, s.Name, s.Service,
			map[bool]string{true: s.ParentSpanID, false: "-"}[s.ParentSpanID != ""], s.RemoteParent)
		for _, c := range jaegertest.Children(spans, s.SpanID) {
			walk(c, depth+1)
		}
	}
	for _, r := range jaegertest.Roots(spans) {
		walk(r, 0)
	}
	return b.String()
}

// checkSpans: every span of the trace is in it, carries its process's
// resource, has no Jaeger warnings, and lies within its parent when both
// are in one process; clients name the address they called.
func checkSpans(t *testing.T, key string, tr jaegertest.Trace, pids map[string]int64, exes, bases map[string]string) {
	t.Helper()
	byID := map[string]jaegertest.Span{}
	for _, s := range tr.Spans {
		byID[s.SpanID] = s
	}
	for _, s := range tr.Spans {
		where := fmt.Sprintf("request %q: span %s %q (%s)", key, s.SpanID, s.Name, s.Service)
		res := map[string]any{
			"service.name": s.Service, "process.pid": pids[s.Service], "process.executable.name": exes[s.Service],
			"process.runtime.name": "go", "telemetry.sdk.language": "go", "telemetry.distro.name": "glsotel",
			"telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": sdk.Version(),
		}
		if s.TraceID != tr.ID || !hasAttrs(s.Resource, res) || s.Scope != "github.com/glsotel/glsotel" {
			t.Errorf("%s: trace %s, scope %q, resource %v; want %v", where, s.TraceID, s.Scope, s.Resource, res)
		}
		if len(s.Warnings) > 0 {
			t.Errorf("%s: Jaeger warns %q", where, s.Warnings)
		}
		if s.End.Before(s.Start) {
			t.Errorf("%s: ends before it starts", where)
		}
		if p, ok := byID[s.ParentSpanID]; ok {
			if p.Service == s.Service && (s.Start.Before(p.Start) || s.End.After(p.End)) {
				t.Errorf("%s: [%v, %v] outside its parent's [%v, %v]", where, s.Start, s.End, p.Start, p.End)
			}
			// A server span's parent is the client span that called it,
			// over the network: remote, even in the same process.
			if want := p.Kind == "CLIENT"; s.RemoteParent != want {
				t.Errorf("%s: remote parent %v under a %s span, want %v", where, s.RemoteParent, p.Kind, want)
			}
		}
		if s.Kind == "SERVER" {
			port, _ := strconv.ParseInt(bases[s.Service][strings.LastIndexByte(bases[s.Service], ':')+1:], 10, 64)
			if s.Attrs["server.port"] != port || s.Attrs["url.scheme"] != "http" || s.Attrs["network.protocol.version"] != "1.1" {
				t.Errorf("%s: attributes %v, want server.port %d", where, s.Attrs, port)
			}
		}
	}
}

func traceIDs(traces []jaegertest.Trace) []string {
	var ids []string
	for _, tr := range traces {
		ids = append(ids, tr.ID)
	}
	return ids
}

func names(spans []jaegertest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Kind+" "+s.Name)
	}
	return out
}
