package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// arrival is one request a rawUpstream read: on which of its connections
// (from 1), its id= query value, and its Traceparent header lines.
type arrival struct {
	conn int
	id   string
	tps  []string
}

// rawUpstream is an HTTP/1.1 server outside the agent's view that records
// what arrives; hangUp(conn, i) says to close connection conn at its i-th
// request (from 0), read but unanswered.
func rawUpstream(t *testing.T, hangUp func(conn, i int) bool) (addr string, arrivals func() []arrival) {
	var (
		mu  sync.Mutex
		got []arrival
	)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					mu.Lock()
					got = append(got, arrival{n, req.URL.Query().Get("id"), req.Header.Values("Traceparent")})
					mu.Unlock()
					if hangUp(n, i) {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	return ln.Addr().String(), func() []arrival {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// backClients maps each /back call's id to its client span (TRACE-SPAN).
func backClients(t *testing.T, spans []otlptest.Span) map[string]string {
	clients := map[string]string{}
	for _, s := range spans {
		if u, _ := s.Attrs["url.full"].(string); s.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.Contains(u, "/back?id=") {
			id := u[strings.Index(u, "id=")+3:]
			id, _, _ = strings.Cut(id, "&")
			if _, dup := clients[id]; dup {
				t.Errorf("request %.20s: two client spans", id)
			}
			clients[id] = s.TraceID + "-" + s.SpanID
		}
	}
	return clients
}

// TestClientRetry: net/http's transport sends a request again, on a new
// connection, when the kept-alive one it used closes without an answer.
// The retry is the same request and the same client span: it must carry
// that span's traceparent too (write_user used to inject it once per
// request and forget it). The upstream is a raw server that closes its
// first connection on the second request it reads.
func TestClientRetry(t *testing.T) {
	addr, arrivals := rawUpstream(t, func(conn, i int) bool { return conn == 1 && i == 1 })
	bin := testbuild.Build(t, "apps/chain", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	front := startService(t, recv, []string{bin, "serve", "127.0.0.1:0", "http://" + addr},
		[]string{"GLSOTEL_INJECT=" + injectPath(t)})
	const requests = 20 // after the first: one retried, the others on its new connection
	for i := 1; i <= requests; i++ {
		front.get(t, fmt.Sprintf("/front?id=%d&leaves=0", i), nil)
	}
	front.stop(t)

	clients := backClients(t, recv.Spans())
	got := arrivals()
	perID := map[string]int{}
	for _, a := range got {
		perID[a.id]++
		want := clients[a.id]
		if len(a.tps) != 1 || want == "" || !strings.Contains(a.tps[0], want) {
			t.Errorf("request %s on connection %d: traceparent %q, want one with the client span %s", a.id, a.conn, a.tps, want)
		}
	}
	if perID["2"] != 2 || len(got) != requests+1 {
		t.Errorf("arrivals %v: want request 2 twice (sent, then retried), the others once", got)
	}
	if !t.Failed() {
		t.Logf("%d requests, %d arrivals (request 2 retried on a new connection): each with its client span's traceparent", requests, len(got))
	}
}

// TestRequestLineLengths sends requests whose request line is every length
// from 30 to 4300 bytes (id= of 1..4270 bytes) through the client probe:
// each must arrive with exactly its client span's traceparent, or be
// counted. sk_msg reads request lines up to 2048 bytes ("inject ...
// not_request" beyond); write_user writes into the connection's 4 KiB
// bufio buffer and counts inject_no_room when the request line and headers
// leave too little of it.
func TestRequestLineLengths(t *testing.T) {
	addr, arrivals := rawUpstream(t, func(int, int) bool { return false })
	bin := testbuild.Build(t, "apps/chain", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	path := injectPath(t)
	front := startService(t, recv, []string{bin, "serve", "127.0.0.1:0", "http://" + addr}, []string{"GLSOTEL_INJECT=" + path})
	const longest = 4270
	for n := 1; n <= longest; n++ {
		front.get(t, "/front?leaves=0&id="+strings.Repeat("a", n), nil)
	}
	stats := front.stop(t)

	// url.full is cut at 128 bytes: spans are told apart by their ids.
	clients := map[string]bool{}
	for _, s := range recv.Spans() {
		if u, _ := s.Attrs["url.full"].(string); s.Kind == tracepb.Span_SPAN_KIND_CLIENT && strings.Contains(u, "/back?id=") {
			clients[s.TraceID+"-"+s.SpanID] = true
		}
	}
	if len(clients) != longest {
		t.Errorf("%d client spans, want %d", len(clients), longest)
	}
	got := arrivals()
	var missing, wrong int
	var first, last int
	for _, a := range got {
		var id string
		if len(a.tps) == 1 && len(a.tps[0]) == 55 {
			id = a.tps[0][3:52]
		}
		switch {
		case len(a.tps) == 0:
			if missing++; first == 0 {
				first = len(a.id)
			}
			last = len(a.id)
		case !clients[id]:
			if wrong++; wrong < 10 {
				t.Errorf("id of %d bytes: traceparent %q: no such client span, or a second request with it", len(a.id), a.tps)
			}
		}
		delete(clients, id)
	}
	var counted uint64
	if path == "sk_msg" {
		counted = stats["inject sk_msg not_request"]
	} else {
		counted = stats["counter inject_no_room"]
	}
	t.Logf("%s: %d request lines, %d with their traceparent, %d without (ids of %d..%d bytes), %d counted", path, len(got), len(got)-missing-wrong, missing, first, last, counted)
	if len(got) != longest || uint64(missing) != counted || wrong != 0 {
		t.Errorf("%d arrivals (want %d), %d without a traceparent but %d counted, %d wrong", len(got), longest, missing, counted, wrong)
	}
	if path == "sk_msg" && missing > 0 && first < 2048-len("GET /back?leaves=0&id= HTTP/1.1\r") {
		t.Errorf("sk_msg: a request line of %d bytes not injected (up to 2048 are)", first+len("GET /back?leaves=0&id= HTTP/1.1\r\n"))
	}
}
