package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// proxyRequests is how many requests TestReverseProxy sends (at least
// 1000); GLSOTEL_E2E_PROXY_REQUESTS asks for another count.
const proxyRequests = 1400

// proxyShapes are the requests TestReverseProxy sends, in turn: the root
// path bare and with a query, other paths with and without a query,
// POST and PUT bodies (with a length, or chunked). N is the request's
// number. Every request also carries X-Req-Id: rN, which the backend
// echoes (the only tag a bare GET / has).
var proxyShapes = []struct {
	name, method, path, query string
	body, chunked             bool
}{
	{name: "GET /", method: "GET", path: "/"},
	{name: "GET /?query", method: "GET", path: "/", query: "id=N"},
	{name: "GET path?query", method: "GET", path: "/api/items/N", query: "id=N&q=a+b&x=%2F"},
	{name: "GET path/", method: "GET", path: "/a/b/c/"},
	{name: "POST body", method: "POST", path: "/upload", query: "id=N", body: true},
	{name: "POST chunked", method: "POST", path: "/upload", query: "id=N&chunked=1", body: true, chunked: true},
	{name: "PUT body", method: "PUT", path: "/items/N", query: "id=N", body: true},
}

// proxyBodySizes are the body sizes cycled through (every other body is a
// random size up to 60 000 bytes instead).
var proxyBodySizes = []int{0, 1, 100, 1023, 1460, 2047, 4095, 4096, 4097, 8192, 16384, 32768, 50000, 65000}

// proxyEcho is what e2e/apps/proxy's backend answers.
type proxyEcho struct {
	Method, Path, Query, RID string
	Body                     int64
	SHA                      string
	Traceparent, Tracestate  []string
	Leaves                   int
	Remote                   string
}

// proxyReq is one request TestReverseProxy sends, and what came back.
type proxyReq struct {
	n                        int
	shape                    int
	method, path, query, rid string
	body                     []byte
	chunked                  bool
	leaves                   int
	trace, parent, state     string // the incoming traceparent's ids ("": none sent)
	echo                     proxyEcho
	err                      string
}

// TestReverseProxy (issue 19): a stdlib httputil.ReverseProxy in front of
// a traced service, both under the agent. Over 1000 requests from a
// keep-alive client, eight at a time: GET / (the root path), GETs with
// paths and queries, POST and PUT bodies of 0 to 65 000 bytes (some
// chunked); 40 % enter with a traceparent of their own (the whole chain
// must continue that trace), the others without (the proxy's server span
// starts it). Every request must make exactly one trace: the proxy's
// server span, its client span under it, the backend's server span under
// that, and the backend's own calls (0 to 2 /leaf client spans, each with
// its server span), nothing else. 100 % required.
//
// The ReverseProxy copies the incoming request's headers, Traceparent and
// Tracestate included, onto the request it sends: that traceparent is the
// trace's own, not one the application made, and the backend's server span
// must still be the proxy client span's child. Failures are told by class,
// with the count per request shape and examples.
func TestReverseProxy(t *testing.T) {
	total := proxyRequests
	if s := os.Getenv("GLSOTEL_E2E_PROXY_REQUESTS"); s != "" {
		var err error
		if total, err = strconv.Atoi(s); err != nil || total < 1 {
			t.Fatalf("GLSOTEL_E2E_PROXY_REQUESTS=%q", s)
		}
	}
	path := injectPath(t)
	bin := testbuild.Build(t, "apps/proxy", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	// A queue big enough that no span is dropped for want of room (checked).
	env := []string{"GLSOTEL_INJECT=" + path, "OTEL_BSP_MAX_QUEUE_SIZE=65536"}
	back := startService(t, recv, []string{bin, "backend", "127.0.0.1:0"}, append(slices.Clone(env), "OTEL_SERVICE_NAME=backend"))
	front := startService(t, recv, []string{bin, "proxy", "127.0.0.1:0", back.base}, append(slices.Clone(env), "OTEL_SERVICE_NAME=proxy"))

	rng := rand.New(rand.NewPCG(19, 19))
	reqs := make([]*proxyReq, total)
	for n := range reqs {
		sh := proxyShapes[n%len(proxyShapes)]
		num := strconv.Itoa(n)
		r := &proxyReq{n: n, shape: n % len(proxyShapes), method: sh.method, path: strings.ReplaceAll(sh.path, "N", num),
			query: strings.ReplaceAll(sh.query, "N", num), rid: "r" + num, chunked: sh.chunked, leaves: n % 3}
		if sh.body {
			size := proxyBodySizes[(n/len(proxyShapes))%len(proxyBodySizes)]
			if n/len(proxyShapes)%2 == 1 {
				size = rng.IntN(60001)
			}
			r.body = pattern(size)
		}
		if n%5 < 2 {
			r.trace, r.parent = fmt.Sprintf("e2e019%010x%016x", n, rng.Uint64()|1), fmt.Sprintf("%016x", rng.Uint64()|1)
			if n%10 == 0 {
				r.state = "congo=t" + num
			}
		}
		reqs[n] = r
	}

	const workers = 8
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers, DisableCompression: true}}
	jobs := make(chan *proxyReq)
	var wg sync.WaitGroup
	var dials atomic.Int64
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				sendProxyReq(client, front.base, r, &dials)
			}
		}()
	}
	for _, r := range reqs {
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	frontStats, backStats := front.stop(t), back.stop(t)
	upstream := map[string]bool{}
	for _, r := range reqs {
		upstream[r.echo.Remote] = true
	}
	t.Logf("%d requests in %v (%.0f/s), %d client connections to the proxy, %d from the proxy to the backend",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), dials.Load(), len(upstream))

	// What the backend saw: the request as sent, through the proxy.
	for _, r := range reqs {
		e, want := r.echo, r.body
		sum := sha256.Sum256(want)
		switch {
		case r.err != "":
		case e.Method != r.method || e.Path != r.path || e.Query != r.query || e.RID != r.rid || e.Leaves != r.leaves:
			r.err = fmt.Sprintf("backend saw %s %s?%s rid %s leaves %d", e.Method, e.Path, e.Query, e.RID, e.Leaves)
		case e.Body != int64(len(want)) || e.SHA != hex.EncodeToString(sum[:]):
			r.err = fmt.Sprintf("backend read a body of %d bytes (sha %.12s), sent %d", e.Body, e.SHA, len(want))
		case r.state != "" && !slices.Equal(e.Tracestate, []string{r.state}):
			r.err = fmt.Sprintf("backend saw tracestate %q, sent %q", e.Tracestate, r.state)
		}
	}

	spans := recv.Spans()
	traces := otlptest.Traces(spans)
	claimed := map[string]int{} // trace id -> request
	type tally struct{ found, total int }
	shapes := map[string]*tally{}
	type failure struct {
		n        int
		shapes   map[string]int // request shape -> how many
		examples []string
	}
	failures := map[string]*failure{} // what went wrong -> requests
	for _, r := range reqs {
		key := proxyShapes[r.shape].name + map[bool]string{false: ", no traceparent", true: ", traceparent"}[r.trace != ""]
		if shapes[key] == nil {
			shapes[key] = &tally{}
		}
		shapes[key].total++
		why, detail := "request failed, or the backend saw it altered", r.err
		if r.err == "" {
			why, detail = checkProxyTrace(r, path == "write_user", traces, spans, back.base, claimed)
		}
		if why == "" {
			shapes[key].found++
			continue
		}
		f := failures[why]
		if f == nil {
			f = &failure{shapes: map[string]int{}}
			failures[why] = f
		}
		f.shapes[key]++
		if len(f.examples) < 4 {
			u := r.path
			if r.query != "" {
				u += "?" + r.query
			}
			f.examples = append(f.examples, fmt.Sprintf("#%d %s %s body %d: %s", r.n, r.method, u, len(r.body), detail))
		}
		f.n++
	}
	var found int
	for _, k := range slices.Sorted(maps.Keys(shapes)) {
		found += shapes[k].found
		t.Logf("%-36s %5d/%d", k, shapes[k].found, shapes[k].total)
	}
	t.Logf("whole traces: %d/%d (%.1f %%)", found, total, 100*float64(found)/float64(total))
	for _, why := range slices.Sorted(maps.Keys(failures)) {
		f := failures[why]
		t.Errorf("%d requests: %s\n\tby shape: %v\n\te.g. %s", f.n, why, f.shapes, strings.Join(f.examples, "\n\t     "))
	}

	// Nothing else: every span is in one request's trace, or /quit's.
	var strays []string
	for id, tr := range traces {
		if _, ok := claimed[id]; ok {
			continue
		}
		for _, s := range tr {
			if s.Attrs["url.path"] != "/quit" {
				strays = append(strays, fmt.Sprintf("%s %s %q %v parent %s", s.Resource["service.name"], s.Kind, s.Name, s.Attrs["url.path"], s.Parent))
			}
		}
	}
	if len(strays) > 0 {
		t.Errorf("%d spans in no request's trace, e.g. %v", len(strays), strays[:min(len(strays), 8)])
	}

	// The agents' counts: nothing lost; every call armed got its lines.
	withTP, leaves := 0, 0
	for _, r := range reqs {
		if r.trace != "" {
			withTP++
		}
		leaves += r.leaves
	}
	for _, a := range []struct {
		name  string
		stats map[string]uint64
		agent *traced
		spans int
	}{
		{"proxy", frontStats, front, 2*total + 1},
		{"backend", backStats, back, total + 2*leaves + 1},
	} {
		lost := spanCounts(a.agent)
		if lost["exported"] != uint64(a.spans) || lost["ring_buffer_full"]+lost["queue_full"]+lost["export_failed"] != 0 {
			t.Errorf("%s: spans %v, want %d exported and none lost", a.name, lost, a.spans)
		}
		if path == "sk_msg" {
			if a.stats["inject sk_msg not_request"] != 0 || a.stats["inject sk_msg failed"] != 0 {
				t.Errorf("%s: sk_msg not_request %d, failed %d: want none", a.name, a.stats["inject sk_msg not_request"], a.stats["inject sk_msg failed"])
			}
		} else if a.stats["counter inject_no_room"] != 0 {
			t.Errorf("%s: write_user inject_no_room %d", a.name, a.stats["counter inject_no_room"])
		}
	}
	if path == "sk_msg" {
		t.Logf("sk_msg: proxy injected %d, replaced %d, not_request %d, failed %d (requests entering without a traceparent %d, with one %d); backend injected %d, not_request %d, failed %d (/leaf calls %d)",
			frontStats["inject sk_msg injected"], frontStats["inject sk_msg replaced"], frontStats["inject sk_msg not_request"], frontStats["inject sk_msg failed"], total-withTP, withTP,
			backStats["inject sk_msg injected"], backStats["inject sk_msg not_request"], backStats["inject sk_msg failed"], leaves)
		// The ReverseProxy forwards an incoming traceparent: its value is
		// replaced (the proxy's client span); the others get a line.
		if got, rep := frontStats["inject sk_msg injected"], frontStats["inject sk_msg replaced"]; got != uint64(total-withTP) || rep != uint64(withTP) {
			t.Errorf("proxy: sk_msg injected %d, replaced %d; want %d and %d", got, rep, total-withTP, withTP)
		}
		if got := backStats["inject sk_msg injected"]; got != uint64(leaves) {
			t.Errorf("backend: sk_msg injected %d requests, want %d (its /leaf calls)", got, leaves)
		}
	}
}

// sendProxyReq sends r to the proxy at base and decodes the backend's echo
// (r.err says what failed).
func sendProxyReq(c *http.Client, base string, r *proxyReq, dials *atomic.Int64) {
	url := base + r.path
	if r.query != "" {
		url += "?" + r.query
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // no length known: chunked
		}
	}
	req, err := http.NewRequest(r.method, url, body)
	if err != nil {
		r.err = err.Error()
		return
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				dials.Add(1)
			}
		},
	}))
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Req-Id", r.rid)
	req.Header.Set("X-Leaves", strconv.Itoa(r.leaves))
	if r.trace != "" {
		req.Header.Set("Traceparent", "00-"+r.trace+"-"+r.parent+"-01")
		if r.state != "" {
			req.Header.Set("Tracestate", r.state)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		r.err = err.Error()
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		r.err = fmt.Sprintf("%s: %v %.200s", resp.Status, err, b)
		return
	}
	if err := json.Unmarshal(b, &r.echo); err != nil {
		r.err = fmt.Sprintf("answer %.200q: %v", b, err)
	}
}

// checkProxyTrace says what is wrong with r's trace (why "" if nothing:
// a short class of failure, and what this request showed), and claims its
// trace id. The trace is the one r entered with, else the one the
// backend's traceparent names, else the one of the proxy server span with
// r's query.
func checkProxyTrace(r *proxyReq, writeUser bool, traces map[string][]otlptest.Span, spans []otlptest.Span, backBase string, claimed map[string]int) (why, detail string) {
	tid := r.trace
	var tpSpan string
	tps := r.echo.Traceparent
	// write_user writes before net/http writes the forwarded header: ours
	// comes first (what receivers take), the forwarded one after it.
	if writeUser && r.trace != "" && len(tps) == 2 && tps[1] == "00-"+r.trace+"-"+r.parent+"-01" {
		tps = tps[:1]
	}
	if len(tps) == 1 {
		if m := traceparentRE.FindStringSubmatch(tps[0]); m != nil {
			if tid == "" {
				tid = m[1]
			}
			if m[1] == tid {
				tpSpan = m[2]
			}
		}
	}
	if tid == "" && r.query != "" {
		for _, s := range spans {
			if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Resource["service.name"] == "proxy" && s.Attrs["url.query"] == r.query && s.Attrs["url.path"] == r.path {
				tid = s.TraceID
			}
		}
	}
	if tid == "" {
		return "no trace found", fmt.Sprintf("backend saw traceparent %q", r.echo.Traceparent)
	}
	if other, dup := claimed[tid]; dup {
		return "trace shared with another request", fmt.Sprintf("request %d, trace %s", other, tid)
	}
	claimed[tid] = r.n
	tr := traces[tid]
	of := func(svc string, kind tracepb.Span_SpanKind, leaf bool) []otlptest.Span {
		var out []otlptest.Span
		for _, s := range tr {
			if s.Resource["service.name"] == svc && s.Kind == kind && (s.Attrs["url.path"] == "/leaf" || strings.Contains(attrStr(s, "url.full"), "/leaf?")) == leaf {
				out = append(out, s)
			}
		}
		return out
	}
	reqMatches := func(s otlptest.Span) bool {
		return s.Attrs["http.request.method"] == r.method && s.Attrs["url.path"] == r.path && attrStr(s, "url.query") == r.query &&
			s.Attrs["http.response.status_code"] == int64(200)
	}
	// whose names a span's parent.
	whose := func(parent string, kids ...otlptest.Span) string {
		for _, k := range kids {
			if parent == k.SpanID {
				return "a " + strings.ToLower(strings.TrimPrefix(k.Kind.String(), "SPAN_KIND_")) + " span of " + fmt.Sprint(k.Resource["service.name"])
			}
		}
		switch parent {
		case "":
			return "none"
		case r.parent:
			return "the incoming traceparent's span"
		}
		return "another span"
	}

	ps := of("proxy", tracepb.Span_SPAN_KIND_SERVER, false)
	if len(ps) != 1 {
		return fmt.Sprintf("%d proxy server spans, want 1", len(ps)), ""
	}
	if !reqMatches(ps[0]) {
		return "proxy server span's attributes", fmt.Sprintf("%q %v", ps[0].Name, ps[0].Attrs)
	}
	if r.trace == "" && ps[0].Parent != "" {
		return "proxy server span has a parent, want a new trace", ps[0].Parent
	}
	if r.trace != "" && (ps[0].Parent != r.parent || !ps[0].RemoteParent) {
		return "proxy server span not under the incoming traceparent", ps[0].Parent
	}
	pc := of("proxy", tracepb.Span_SPAN_KIND_CLIENT, false)
	if len(pc) != 1 {
		return fmt.Sprintf("%d proxy client spans, want 1", len(pc)), ""
	}
	bs := of("backend", tracepb.Span_SPAN_KIND_SERVER, false)
	if pc[0].Parent != ps[0].SpanID {
		why = "proxy client span under " + whose(pc[0].Parent) + ", not the proxy server span"
		if len(bs) == 1 {
			why += "; backend server span under " + whose(bs[0].Parent, pc[0], ps[0])
			if r.trace != "" && slices.Equal(r.echo.Traceparent, []string{"00-" + r.trace + "-" + r.parent + "-01"}) {
				why += " (it got the incoming traceparent, forwarded unchanged)"
			}
			if leavesOK(tr, bs[0], r) && len(tr) == 3+2*r.leaves {
				why += "; otherwise whole (the backend's calls under it, no span missing or extra)"
			}
		}
		return why, fmt.Sprintf("backend saw traceparent %q", r.echo.Traceparent)
	}
	wantURL := backBase + r.path
	if r.query != "" {
		wantURL += "?" + r.query
	}
	if pc[0].Attrs["url.full"] != wantURL || pc[0].Attrs["http.request.method"] != r.method || pc[0].Attrs["http.response.status_code"] != int64(200) {
		return "proxy client span's attributes", fmt.Sprintf("%q %v, want url.full %s", pc[0].Name, pc[0].Attrs, wantURL)
	}
	if tpSpan != pc[0].SpanID {
		why = "backend did not get the proxy client span's traceparent"
		if r.trace != "" && slices.Equal(r.echo.Traceparent, []string{"00-" + r.trace + "-" + r.parent + "-01"}) {
			why += ": it got the incoming one"
		}
		return why, fmt.Sprintf("backend saw %q", r.echo.Traceparent)
	}
	if len(bs) != 1 {
		return fmt.Sprintf("%d backend server spans, want 1", len(bs)), ""
	}
	if bs[0].Parent != pc[0].SpanID || !bs[0].RemoteParent {
		return "backend server span under " + whose(bs[0].Parent, ps[0]) + ", not the proxy client span", ""
	}
	if !reqMatches(bs[0]) {
		return "backend server span's attributes", fmt.Sprintf("%q %v", bs[0].Name, bs[0].Attrs)
	}
	if !leavesOK(tr, bs[0], r) {
		return "backend's /leaf calls not all under its server span, each with its own server span", ""
	}
	if want := 3 + 2*r.leaves; len(tr) != want {
		return "extra spans in the trace", fmt.Sprintf("%d spans, want %d", len(tr), want)
	}
	return "", ""
}

// leavesOK: the backend's server span bs has r.leaves /leaf client
// children in trace tr, each the parent of one /leaf server span.
func leavesOK(tr []otlptest.Span, bs otlptest.Span, r *proxyReq) bool {
	var n int
	for _, c := range tr {
		if c.Kind != tracepb.Span_SPAN_KIND_CLIENT || !strings.Contains(attrStr(c, "url.full"), "/leaf?") {
			continue
		}
		n++
		if c.Parent != bs.SpanID || c.Resource["service.name"] != "backend" || !strings.Contains(attrStr(c, "url.full"), "/leaf?rid="+r.rid+"&from=") {
			return false
		}
		if k := otlptest.Children(tr, c.SpanID); len(k) != 1 || k[0].Attrs["url.path"] != "/leaf" || k[0].Resource["service.name"] != "backend" || !k[0].RemoteParent {
			return false
		}
	}
	return n == r.leaves
}

var (
	traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)
	spansLine     = regexp.MustCompile(`(?m)^spans (?:exported|lost (\S+)) (\d+)$`)
)

func attrStr(s otlptest.Span, key string) string {
	v, _ := s.Attrs[key].(string)
	return v
}

// spanCounts reads `--stats`' span lines from a stopped agent: "exported"
// and each loss reason.
func spanCounts(s *traced) map[string]uint64 {
	out := map[string]uint64{}
	for _, m := range spansLine.FindAllStringSubmatch(s.stderr.String(), -1) {
		k := m[1]
		if k == "" {
			k = "exported"
		}
		out[k], _ = strconv.ParseUint(m[2], 10, 64)
	}
	return out
}
