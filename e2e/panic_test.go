package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// panicKinds are httpsvc's /panic?kind= values and the error.type of each
// panic value's type.
var panicKinds = []struct{ kind, errType string }{
	{"string", "string"},
	{"error", "*fmt.wrapError"},
	{"value", "main.panicValue"},
	{"pointer", "*main.panicValue"},
	{"abort", "*errors.errorString"}, // http.ErrAbortHandler
	{"nil", "runtime.errorString"},   // a nil pointer dereference
	{"index", "runtime.boundsError"},
}

// TestHandlerPanics: a handler that panics, recovered by net/http, never
// returns from ServeHTTP. Its server span still ends, with status Error and
// the panic value's type as error.type, keeping the child it made; it
// parents nothing later. A panic recovered by middleware below ServeHTTP
// ends nothing: the request goes on and answers 500. Requests after the
// panics have whole trees. Every release, stripped (type names from the
// offsets table), and position-independent.
func TestHandlerPanics(t *testing.T) {
	for _, tc := range testbuild.Releases {
		t.Run(tc.Name, func(t *testing.T) { testHandlerPanics(t, tc, false) })
	}
	t.Run(testbuild.Releases[len(testbuild.Releases)-1].Name+"-stripped", func(t *testing.T) {
		testHandlerPanics(t, testbuild.Releases[len(testbuild.Releases)-1], true)
	})
	// PIE: the type descriptors' run-time addresses are off by the load bias.
	pie := testbuild.PIE(testbuild.Releases[len(testbuild.Releases)-1])
	t.Run(pie.Name, func(t *testing.T) { testHandlerPanics(t, pie, false) })
	t.Run(pie.Name+"-stripped", func(t *testing.T) { testHandlerPanics(t, pie, true) })
}

func testHandlerPanics(t *testing.T, tc testbuild.Toolchain, stripped bool) {
	bin := testbuild.Build(t, "apps/httpsvc", tc, stripped)
	recv := otlptest.Start(t)
	svc := startTraced(t, recv, bin)
	// A new connection each: the transport would retry a GET whose reused
	// connection closes without an answer.
	fresh := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	const rounds = 3
	for r := range rounds {
		for _, k := range panicKinds {
			id := fmt.Sprintf("%s-%d", k.kind, r)
			if resp, err := fresh.Get(svc.base + "/panic?kind=" + k.kind + "&id=" + id); err == nil {
				resp.Body.Close()
				t.Errorf("/panic?kind=%s answered %s", k.kind, resp.Status)
			}
			resp, err := fresh.Get(svc.base + "/recovered?kind=" + k.kind + "&id=r" + id)
			if err != nil {
				t.Fatalf("/recovered?kind=%s: %v", k.kind, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("/recovered?kind=%s: %s", k.kind, resp.Status)
			}
			svc.get(t, "/work?id=after-"+id, nil)
		}
	}
	svc.stop(t)

	spans := recv.Spans()
	servers := map[string]otlptest.Span{}
	for _, s := range spans {
		if q, ok := s.Attrs["url.query"].(string); ok && s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Attrs["url.path"] != "/leaf" {
			id := q[strings.LastIndex(q, "id=")+3:]
			if _, dup := servers[id]; dup {
				t.Errorf("request %s: two server spans", id)
			}
			servers[id] = s
		}
	}
	// calls lists the from= of the client calls under s, each with its
	// /leaf server span.
	calls := func(s otlptest.Span) []string {
		var got []string
		for _, c := range otlptest.Children(spans, s.SpanID) {
			u, _ := c.Attrs["url.full"].(string)
			if c.Kind != tracepb.Span_SPAN_KIND_CLIENT || c.TraceID != s.TraceID {
				t.Errorf("%s: unexpected child %s %v", s.Name, c.Name, c.Attrs)
				continue
			}
			if leaf := otlptest.Children(spans, c.SpanID); len(leaf) != 1 || leaf[0].Attrs["url.path"] != "/leaf" {
				t.Errorf("%s: call %s has children %v, want its /leaf server span", s.Name, u, leaf)
			}
			got = append(got, u[strings.LastIndex(u, "=")+1:])
		}
		return got
	}
	for r := range rounds {
		for _, k := range panicKinds {
			id := fmt.Sprintf("%s-%d", k.kind, r)
			s, ok := servers[id]
			switch {
			case !ok:
				t.Errorf("/panic?kind=%s: no server span", k.kind)
			case !s.Error || s.Attrs["error.type"] != k.errType || s.Attrs["http.route"] != "/panic" || s.Attrs["http.response.status_code"] != nil:
				t.Errorf("/panic?kind=%s: error %v, attrs %v; want error.type %s, no status code", k.kind, s.Error, s.Attrs, k.errType)
			default:
				if got := calls(s); len(got) != 1 || got[0] != "before-panic" {
					t.Errorf("/panic?kind=%s: calls %v, want [before-panic]", k.kind, got)
				}
			}
			s, ok = servers["r"+id]
			switch {
			case !ok:
				t.Errorf("/recovered?kind=%s: no server span", k.kind)
			case !s.Error || s.Attrs["error.type"] != "500" || s.Attrs["http.response.status_code"] != int64(500):
				t.Errorf("/recovered?kind=%s: error %v, attrs %v; want a 500", k.kind, s.Error, s.Attrs)
			default:
				if got := calls(s); strings.Join(got, ",") != "before-panic,after-recover" && strings.Join(got, ",") != "after-recover,before-panic" {
					t.Errorf("/recovered?kind=%s: calls %v, want before-panic and after-recover", k.kind, got)
				}
			}
			if s, ok := servers["after-"+id]; !ok {
				t.Errorf("/work after /panic?kind=%s: no server span", k.kind)
			} else {
				if s.Parent != "" {
					t.Errorf("/work after /panic?kind=%s: parent %s, want a new trace", k.kind, s.Parent)
				}
				checkWorkTree(t, spans, s, "after-"+id, svc.port)
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d panics, %d recovered by middleware, %d requests after them: spans as they should be", rounds*len(panicKinds), rounds*len(panicKinds), rounds*len(panicKinds))
	}
}
