package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// injectPath is the injection both agents use: GLSOTEL_E2E_INJECT, else
// what auto picks on this host (sk_msg under lockdown). make vmtest runs
// the test in guest kernels with each path.
func injectPath(t testing.TB) string {
	if p := os.Getenv("GLSOTEL_E2E_INJECT"); p != "" {
		return p
	}
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err == nil && !strings.Contains(string(b), "[none]") {
		return "sk_msg"
	}
	t.Fatalf("set GLSOTEL_E2E_INJECT: this kernel is not locked down (lockdown: %q, %v)", b, err)
	return ""
}

const (
	appTrace = "0af7651916cd43dd8448eb211c80319c"
	appSpan  = "b7ad6b7169203331"
)

// TestCrossProcessPropagation runs two instrumented processes, front (A)
// calling back (B) over keep-alive HTTP/1.1 on 127.0.0.1, and checks that
// every request makes ONE trace: A server -> A client -> B server -> B's
// own client calls -> their server spans. 100 concurrent requests may not
// cross-talk; bodies arrive intact; a traceparent the application set is
// neither duplicated nor replaced.
func TestCrossProcessPropagation(t *testing.T) {
	path := injectPath(t)
	recv := otlptest.Start(t)
	front, back := startChain(t, recv, path, "serve")

	answers := map[string]string{} // id -> what B saw
	var mu sync.Mutex
	ask := func(id, query string) {
		body, err := fetch(front.client, front.base+"/front?id="+id+query)
		if err != nil {
			t.Errorf("request %s: %v", id, err)
			return
		}
		mu.Lock()
		answers[id] = body
		mu.Unlock()
	}
	const concurrent = 100
	var wg sync.WaitGroup
	for i := range concurrent {
		wg.Add(1)
		go func() { defer wg.Done(); ask(fmt.Sprintf("c%d", i), "") }()
	}
	wg.Wait()
	for i := range 20 { // one after another: the same connections again
		ask(fmt.Sprintf("s%d", i), "")
	}
	bodies := map[string]string{"b0": "&body=0", "b1": "&body=1", "b4m": "&body=4194304", "bchunked": "&body=100000&chunked=1"}
	for id, q := range bodies {
		ask(id, q)
	}
	ask("app", "&tp=00-"+appTrace+"-"+appSpan+"-01")
	// A request entering with tracestate and baggage: both go on to back.
	in, err := http.NewRequest("GET", front.base+"/front?id=w3c", nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Header.Set("Traceparent", "00-"+incomingTrace+"-"+incomingParent+"-01")
	in.Header.Set("Tracestate", incomingState)
	in.Header.Set("Baggage", "userId=alice,region=eu")
	if resp, err := front.client.Do(in); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers["w3c"] = string(b)
	}
	frontStats, backStats := front.stop(t), back.stop(t)

	for id, body := range answers {
		want := "proto=HTTP/1.1 traceparent=1 "
		if !strings.HasPrefix(body, want) {
			t.Errorf("request %s: back saw %q, want %q...", id, body, want)
		}
	}
	for id, q := range bodies {
		var n int
		fmt.Sscanf(q[strings.Index(q, "=")+1:], "%d", &n)
		if want := fmt.Sprintf("body=%d sha=%x", n, sha256.Sum256(pattern(n))); !strings.Contains(answers[id], want) {
			t.Errorf("request %s: back read %q, want %q", id, answers[id], want)
		}
	}

	if want := `tracestate=["` + incomingState + `"] baggage=["userId=alice,region=eu"]`; !strings.Contains(answers["w3c"], want) {
		t.Errorf("tracestate and baggage: back saw %q, want %q", answers["w3c"], want)
	}

	spans := recv.Spans()
	byQuery := func(kind tracepb.Span_SpanKind, path, query string) []otlptest.Span {
		var out []otlptest.Span
		for _, s := range spans {
			if s.Kind == kind && s.Attrs["url.path"] == path && s.Attrs["url.query"] == query {
				out = append(out, s)
			}
		}
		return out
	}
	traces := map[string]string{}
	for id := range answers {
		if id == "app" {
			continue
		}
		fs := byQuery(tracepb.Span_SPAN_KIND_SERVER, "/front", "id="+id+bodies[id])
		if id == "w3c" {
			if len(fs) == 1 && (fs[0].TraceID != incomingTrace || fs[0].Parent != incomingParent) {
				t.Errorf("w3c request: front server span in trace %s under %s", fs[0].TraceID, fs[0].Parent)
			}
			if len(fs) == 1 {
				fs[0].Parent = "" // checked: the rest of its tree is like the others'
			}
		}
		if len(fs) != 1 || fs[0].Parent != "" {
			t.Errorf("request %s: %d front server spans (%v), want one root", id, len(fs), fs)
			continue
		}
		root := fs[0]
		if other, dup := traces[root.TraceID]; dup {
			t.Errorf("requests %s and %s share trace %s", id, other, root.TraceID)
		}
		traces[root.TraceID] = id
		checkChain(t, spans, root, id)
	}

	// The application's own traceparent: sent once, unchanged; the client
	// span joins its trace under the span it names.
	if bs := byQuery(tracepb.Span_SPAN_KIND_SERVER, "/back", "id=app"); len(bs) != 1 || bs[0].TraceID != appTrace || bs[0].Parent != appSpan {
		t.Errorf("app-set traceparent: back server spans %v, want one in trace %s under %s", bs, appTrace, appSpan)
	}
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.HasSuffix(fmt.Sprint(s.Attrs["url.full"]), "/back?id=app") &&
			(s.TraceID != appTrace || s.Parent != appSpan) {
			t.Errorf("app-set traceparent: client span in trace %s under %s, want %s under %s", s.TraceID, s.Parent, appTrace, appSpan)
		}
	}

	// Cost and counts: every A->B call and every B->B call was armed and
	// injected once.
	calls := uint64(len(answers))
	frontClient := hitsPerCall(frontStats, calls)
	t.Logf("%s: front client uprobe hits per request %.3f", path, frontClient)
	if frontClient != 3 {
		t.Errorf("front: %.3f uprobe hits per client request, want 3 (entry, return, injection)", frontClient)
	}
	if path == "sk_msg" {
		if got := frontStats["inject sk_msg injected"]; got != calls-1 {
			t.Errorf("front: sk_msg injected %d requests, want %d (every one but the app's)", got, calls-1)
		}
		if got := backStats["inject sk_msg injected"]; got != 2*calls {
			t.Errorf("back: sk_msg injected %d requests, want %d", got, 2*calls)
		}
		t.Logf("sk_msg injected front %d, back %d", frontStats["inject sk_msg injected"], backStats["inject sk_msg injected"])
	}
}

// startChain runs chain's back (mode serve or serve-tls) and its front
// under glsotel with GLSOTEL_INJECT=path, both exporting to recv.
func startChain(t testing.TB, recv *otlptest.Receiver, path, mode string) (front, back *traced) {
	t.Helper()
	bin := testbuild.Build(t, "apps/chain", testbuild.Toolchains[0], false)
	env := []string{"GLSOTEL_INJECT=" + path}
	back = startService(t, recv, []string{bin, mode, "127.0.0.1:0"}, env)
	if mode == "serve-tls" {
		back.base = strings.Replace(back.base, "http://", "https://", 1)
		back.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	front = startService(t, recv, []string{bin, "serve", "127.0.0.1:0", back.base}, env)
	return front, back
}

// checkChain: root (A's /front server span) has one client child calling
// /back, whose server span in B has two client children calling /leaf,
// each with its server span: all in root's trace.
func checkChain(t *testing.T, spans []otlptest.Span, root otlptest.Span, id string) {
	t.Helper()
	kids := otlptest.Children(spans, root.SpanID)
	if len(kids) != 1 || kids[0].Kind != tracepb.Span_SPAN_KIND_CLIENT || !strings.Contains(fmt.Sprint(kids[0].Attrs["url.full"]), "/back?id="+id) {
		t.Errorf("request %s: front server span's children %v, want one client call to /back", id, kids)
		return
	}
	backs := otlptest.Children(spans, kids[0].SpanID)
	if len(backs) != 1 || backs[0].Kind != tracepb.Span_SPAN_KIND_SERVER || backs[0].Attrs["url.path"] != "/back" || !backs[0].RemoteParent {
		t.Errorf("request %s: client span's children %v, want back's server span with a remote parent", id, backs)
		return
	}
	leaves := otlptest.Children(spans, backs[0].SpanID)
	var from []string
	for _, c := range leaves {
		u := fmt.Sprint(c.Attrs["url.full"])
		if c.Kind != tracepb.Span_SPAN_KIND_CLIENT || !strings.Contains(u, "/leaf?id="+id+"&") {
			t.Errorf("request %s: back's child %q %v", id, c.Name, c.Attrs)
			continue
		}
		from = append(from, u[strings.LastIndex(u, "=")+1:])
		if s := otlptest.Children(spans, c.SpanID); len(s) != 1 || s[0].Attrs["url.path"] != "/leaf" {
			t.Errorf("request %s: /leaf call from %s has children %v, want its server span", id, from[len(from)-1], s)
		}
	}
	if len(from) != 2 {
		t.Errorf("request %s: back made calls from %v, want handler and goroutine", id, from)
	}
	for _, s := range spans {
		q, _ := s.Attrs["url.query"].(string)
		u, _ := s.Attrs["url.full"].(string)
		if (strings.HasPrefix(q, "id="+id+"&") || q == "id="+id || strings.Contains(u, "id="+id+"&") || strings.HasSuffix(u, "id="+id)) && s.TraceID != root.TraceID {
			t.Errorf("request %s: span %q (%s %s) in trace %s, want %s", id, s.Name, q, u, s.TraceID, root.TraceID)
		}
	}
}

// hitsPerCall is the client probe's uprobe hits per request: entry,
// returns and whichever injection hook ran.
func hitsPerCall(stats map[string]uint64, calls uint64) float64 {
	var n uint64
	for name, v := range stats {
		if strings.HasPrefix(name, "net/http/client") {
			n += v
		}
	}
	return float64(n) / float64(calls)
}

func fetch(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s %s", url, resp.Status, b)
	}
	return string(b), err
}

// pattern is the body chain's front sends (e2e/apps/chain).
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestInjectionTLS: requests over TLS (HTTP/1.1 and h2) are never
// corrupted and their client spans are right. sk_msg cannot reach them
// (the socket carries ciphertext): the callee starts its own trace.
// write_user writes into the plaintext of HTTP/1.1 over TLS; h2 has its
// own writer, which it does not hook.
func TestInjectionTLS(t *testing.T) {
	path := injectPath(t)
	recv := otlptest.Start(t)
	front, back := startChain(t, recv, path, "serve-tls")
	for _, tc := range []struct{ id, query, proto string }{
		{"tls", "&body=100000", "HTTP/1.1"},
		{"h2", "&body=100000&proto=h2", "HTTP/2.0"},
	} {
		body, err := fetch(front.client, front.base+"/front?id="+tc.id+tc.query)
		injected := path == "write_user" && tc.proto == "HTTP/1.1"
		want := fmt.Sprintf("proto=%s traceparent=%d body=100000 sha=%x", tc.proto, map[bool]int{false: 0, true: 1}[injected], sha256.Sum256(pattern(100000)))
		if err != nil || !strings.HasPrefix(body, want) {
			t.Errorf("%s: answer %q, %v; want %q...", tc.id, body, err, want)
		}
	}
	front.stop(t)
	back.stop(t)
	spans := recv.Spans()
	for _, id := range []string{"tls", "h2"} {
		var client, server *otlptest.Span
		for _, s := range spans {
			if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.HasSuffix(fmt.Sprint(s.Attrs["url.full"]), "/back?id="+id) {
				client = &s
			}
			if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Attrs["url.path"] == "/back" && strings.HasPrefix(fmt.Sprint(s.Attrs["url.query"]), "id="+id) {
				server = &s
			}
		}
		if client == nil || server == nil {
			t.Errorf("%s: client span %v, back's server span %v", id, client, server)
			continue
		}
		if !strings.HasPrefix(fmt.Sprint(client.Attrs["url.full"]), "https://127.0.0.1:") || client.Attrs["http.response.status_code"] != int64(200) || client.Error {
			t.Errorf("%s: client span %q %v", id, client.Name, client.Attrs)
		}
		joined := server.Parent == client.SpanID && server.TraceID == client.TraceID
		if want := path == "write_user" && id == "tls"; joined != want {
			t.Errorf("%s over %s: back's server span under the client span: %v, want %v (parent %s)", id, path, joined, want, server.Parent)
		}
	}
}
