package jaegertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The testdata are answers of the pinned Jaeger (deploy/jaeger/config.yaml)
// to glsotel's agent: e2e/apps/chain as "front" calling "back" (one
// request, id=1, and front's /quit), e2e/apps/dbsvc on SQLite (/tx id=1,
// /fail id=2) and e2e/apps/httpsvc (/fail, /recovered?kind=string).
const (
	chainTrace  = "b742079cfc0c80bc5a703d1571251dee"
	dbFailTrace = "c265cdf093e1f91757e757638e09ee7c"
	frontPid    = int64(17717)
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func byID(t *testing.T, traces []Trace, id string) Trace {
	t.Helper()
	for _, tr := range traces {
		if tr.ID == id {
			return tr
		}
	}
	t.Fatalf("no trace %s among %d", id, len(traces))
	return Trace{}
}

// shape is a span tree as "KIND name (service)" lines, children indented
// under their parent.
func shape(spans []Span) string {
	var b strings.Builder
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + s.Kind + " " + s.Name + " (" + s.Service + ")\n")
		for _, c := range Children(spans, s.SpanID) {
			walk(c, depth+1)
		}
	}
	for _, r := range Roots(spans) {
		walk(r, 0)
	}
	return b.String()
}

const chainShape = `SERVER GET /front (front)
  CLIENT GET (front)
    SERVER GET /back (back)
      CLIENT GET (back)
        SERVER GET /leaf (back)
      CLIENT GET (back)
        SERVER GET /leaf (back)
`

func TestDecodeV1(t *testing.T) {
	traces, err := DecodeV1(read(t, "traces_front.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(traces) != 2 {
		t.Fatalf("%d traces, want 2 (the request's and /quit's)", len(traces))
	}
	tr := byID(t, traces, chainTrace)
	if got := shape(tr.Spans); got != chainShape {
		t.Errorf("tree:\n%swant:\n%s", got, chainShape)
	}
	root := Roots(tr.Spans)[0]
	want := Span{
		TraceID: chainTrace, SpanID: "322395ad3dd829ed", Name: "GET /front", Kind: "SERVER", Service: "front",
		Scope: "github.com/glsotel/glsotel", StatusCode: "UNSET",
		Attrs: map[string]any{
			"client.address": "127.0.0.1", "client.port": int64(49852), "http.request.method": "GET",
			"http.response.status_code": int64(200), "http.route": "/front", "network.peer.address": "127.0.0.1",
			"network.peer.port": int64(49852), "network.protocol.version": "1.1", "server.address": "127.0.0.1",
			"server.port": int64(45901), "url.path": "/front", "url.query": "id=1", "url.scheme": "http",
			"user_agent.original": "curl/7.88.1",
		},
		Resource: map[string]any{
			"service.name": "front", "process.executable.name": "chain", "process.pid": frontPid,
			"process.runtime.name": "go", "process.runtime.version": "go1.26.8", "telemetry.distro.name": "glsotel",
			"telemetry.distro.version": "dev", "telemetry.sdk.language": "go",
		},
		Start: time.UnixMicro(1796420715715124).UTC(), End: time.UnixMicro(1796420715715124 + 1839).UTC(),
	}
	if !reflect.DeepEqual(root, want) {
		t.Errorf("root span\n%+v\nwant\n%+v", root, want)
	}
	client := Children(tr.Spans, root.SpanID)[0]
	if client.ParentSpanID != root.SpanID || client.Attrs["url.full"] != "http://127.0.0.1:36813/back?id=1" || client.RemoteParent {
		t.Errorf("client span %+v", client)
	}
	back := Children(tr.Spans, client.SpanID)[0]
	if back.Resource["service.name"] != "back" || back.Resource["process.pid"] == frontPid || back.Attrs["http.route"] != "/back" {
		t.Errorf("back's server span %+v", back)
	}
}

// TestDecodeV3: the v3 answer for the same trace decodes to the same
// spans (times to the µs v1 keeps), and tells the remote parents.
func TestDecodeV3(t *testing.T) {
	v3, err := DecodeV3(read(t, "trace_v3_chain.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(v3) != 1 || v3[0].ID != chainTrace {
		t.Fatalf("traces %+v", v3)
	}
	if got := shape(v3[0].Spans); got != chainShape {
		t.Errorf("tree:\n%swant:\n%s", got, chainShape)
	}
	v1s, err := DecodeV1(read(t, "traces_front.json"))
	if err != nil {
		t.Fatal(err)
	}
	v1 := byID(t, v1s, chainTrace)
	if len(v1.Spans) != len(v3[0].Spans) {
		t.Fatalf("v1 %d spans, v3 %d", len(v1.Spans), len(v3[0].Spans))
	}
	remote := map[string]int{}
	for i, s := range v3[0].Spans {
		if s.RemoteParent {
			remote[s.Name]++
		}
		o := v1.Spans[i]
		if !s.Start.Truncate(time.Microsecond).Equal(o.Start) || s.End.Sub(s.Start).Truncate(time.Microsecond) != o.End.Sub(o.Start) {
			t.Errorf("span %s: v3 [%v, %v], v1 [%v, %v]", s.SpanID, s.Start, s.End, o.Start, o.End)
		}
		s.Start, s.End, s.RemoteParent = o.Start, o.End, false
		if !reflect.DeepEqual(s, o) {
			t.Errorf("span %s:\nv3 %+v\nv1 %+v", s.SpanID, s, o)
		}
	}
	// Each server span under a client span of another process (or of
	// the same one, over HTTP) has a remote parent; the others not.
	if want := map[string]int{"GET /back": 1, "GET /leaf": 2}; !reflect.DeepEqual(remote, want) {
		t.Errorf("spans with remote parents: %v, want %v", remote, want)
	}
}

func TestDecodeStatus(t *testing.T) {
	db, err := DecodeV3(read(t, "trace_v3_dbfail.json"))
	if err != nil {
		t.Fatal(err)
	}
	tr := byID(t, db, dbFailTrace)
	if got, want := shape(tr.Spans), "SERVER GET /fail (dbsvc)\n  CLIENT SELECT missing_table (dbsvc)\n"; got != want {
		t.Errorf("tree:\n%swant:\n%s", got, want)
	}
	root := Roots(tr.Spans)[0]
	q := Children(tr.Spans, root.SpanID)[0]
	if root.StatusCode != "UNSET" || root.Attrs["http.response.status_code"] != int64(200) {
		t.Errorf("server span: status %s, attrs %v", root.StatusCode, root.Attrs)
	}
	if q.StatusCode != "ERROR" || q.Attrs["error.type"] != "*modernc.org/sqlite.Error" || q.Attrs["db.system.name"] != "sqlite" ||
		q.Attrs["db.query.text"] != "SELECT name AS r2 FROM missing_table WHERE name = ? AND id = ?" {
		t.Errorf("query span: status %s, attrs %v", q.StatusCode, q.Attrs)
	}
	// The same in v1: status from otel.status_code, the error tag dropped.
	v1, err := DecodeV1(read(t, "traces_dbsvc.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(v1) != 4 {
		t.Errorf("dbsvc: %d traces, want 4 (CREATE at start, /tx, /fail, /quit)", len(v1))
	}
	for _, s := range byID(t, v1, dbFailTrace).Spans {
		if s.SpanID == q.SpanID && (s.StatusCode != "ERROR" || s.Attrs["error"] != nil || !reflect.DeepEqual(s.Attrs, q.Attrs)) {
			t.Errorf("v1 query span: status %s, attrs %v; v3 attrs %v", s.StatusCode, s.Attrs, q.Attrs)
		}
	}

	// 5xx server spans: status Error.
	h, err := DecodeV1(read(t, "traces_httpsvc.json"))
	if err != nil {
		t.Fatal(err)
	}
	errs := map[string]int64{}
	for _, tr := range h {
		for _, s := range tr.Spans {
			if s.StatusCode == "ERROR" {
				errs[s.Kind+" "+s.Name] = s.Attrs["http.response.status_code"].(int64)
			}
		}
	}
	if want := map[string]int64{"SERVER GET /fail": 503, "SERVER GET /recovered": 500}; !reflect.DeepEqual(errs, want) {
		t.Errorf("spans with status Error: %v, want %v", errs, want)
	}
}

func TestRootsChildren(t *testing.T) {
	t0 := time.Unix(100, 0)
	spans := []Span{
		{SpanID: "c", ParentSpanID: "a", Start: t0.Add(2)},
		{SpanID: "b", ParentSpanID: "a", Start: t0.Add(1)},
		{SpanID: "a", ParentSpanID: "ffffffffffffffff", Start: t0}, // parent elsewhere
		{SpanID: "d", Start: t0.Add(5)},
	}
	ids := func(s []Span) (out []string) {
		for _, x := range s {
			out = append(out, x.SpanID)
		}
		return out
	}
	if got := ids(Roots(spans)); !reflect.DeepEqual(got, []string{"a", "d"}) {
		t.Errorf("roots %v", got)
	}
	if got := ids(Children(spans, "a")); !reflect.DeepEqual(got, []string{"b", "c"}) {
		t.Errorf("children %v", got)
	}
	if got := Children(spans, "d"); got != nil {
		t.Errorf("leaf's children %v", got)
	}
}

func TestDecodeNumbers(t *testing.T) {
	// 64-bit integers as strings (as Jaeger writes them) or as numbers;
	// short v1 trace ids; array, bytes and kvlist values.
	body := `{"result":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]},
	"scopeSpans":[{"scope":{},"spans":[{"traceId":"000000000000000000000000000000AB","spanId":"00000000000000CD","kind":1,
	"startTimeUnixNano":1000,"endTimeUnixNano":"2000","status":{"code":1,"message":"fine"},"flags":768,"parentSpanId":"00000000000000EF",
	"attributes":[{"key":"i","value":{"intValue":7}},{"key":"j","value":{"intValue":"-9223372036854775808"}},
	{"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"boolValue":true}},{"key":"x","value":{"bytesValue":"AQI="}},
	{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"u"},{"intValue":"1"}]}}},
	{"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}},
	{"key":"@jaeger@warnings","value":{"arrayValue":{"values":[{"stringValue":"w"}]}}}]}]}]}]}}`
	traces, err := DecodeV3([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	s := traces[0].Spans[0]
	want := Span{
		TraceID: "000000000000000000000000000000ab", SpanID: "00000000000000cd", ParentSpanID: "00000000000000ef",
		RemoteParent: true, Kind: "INTERNAL", Service: "s", StatusCode: "OK", StatusMessage: "fine",
		Attrs: map[string]any{"i": int64(7), "j": int64(-9223372036854775808), "d": 1.5, "b": true, "x": []byte{1, 2},
			"a": []any{"u", int64(1)}, "m": map[string]any{"k": "v"}},
		Resource: map[string]any{"service.name": "s"},
		Start:    time.Unix(0, 1000).UTC(), End: time.Unix(0, 2000).UTC(), Warnings: []string{"w"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("span\n%+v\nwant\n%+v", s, want)
	}
	v1, err := DecodeV1([]byte(`{"data":[{"traceID":"ab","spans":[{"traceID":"ab","spanID":"00000000000000cd","references":[{"refType":"FOLLOWS_FROM","traceID":"ab","spanID":"1"},{"refType":"CHILD_OF","traceID":"ab","spanID":"00000000000000ef"}],"processID":"p1","tags":[{"key":"f","type":"float64","value":2.5},{"key":"n","type":"int64","value":9007199254740993}]}],"processes":{"p1":{"serviceName":"s","tags":[]}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := v1[0].Spans[0]; s.TraceID != want.TraceID || s.ParentSpanID != want.ParentSpanID || s.Attrs["n"] != int64(9007199254740993) || s.Attrs["f"] != 2.5 || s.Kind != "UNSPECIFIED" {
		t.Errorf("v1 span %+v", s)
	}
}

// TestClient: the requests Client makes, and Jaeger's errors.
func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/traces" && r.URL.Query().Get("service") == "front" && r.URL.Query().Get("limit") == "1000":
			w.Write(read(t, "traces_front.json"))
		case r.URL.Path == "/api/v3/traces/"+chainTrace:
			w.Write(read(t, "trace_v3_chain.json"))
		case strings.HasPrefix(r.URL.Path, "/api/v3/traces/"):
			http.Error(w, `{"error":{"httpCode":404,"message":"No traces found"}}`, http.StatusNotFound)
		default:
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL + "/"}
	ctx := context.Background()
	traces, err := c.Traces(ctx, "front")
	if err != nil || len(traces) != 2 {
		t.Fatalf("Traces: %d, %v", len(traces), err)
	}
	tr, err := c.Trace(ctx, chainTrace)
	if err != nil || len(tr.Spans) != 7 {
		t.Fatalf("Trace: %d spans, %v", len(tr.Spans), err)
	}
	if _, err := c.Trace(ctx, "0123"); err == nil || !strings.Contains(err.Error(), "No traces found") {
		t.Errorf("missing trace: %v", err)
	}
}
