package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// routeCase is a request and the http.route its server span must carry
// ("": none, and the span is named by the method alone).
type routeCase struct{ method, path, route string }

// routeApps are the e2e apps of the routers users run on net/http, each
// with middleware that replaces the request (r.WithContext) and nested or
// mounted routers, and the route each request must get, in the router's
// own syntax. stripped says whether the route is still known without
// DWARF (gorilla and echo keep it in structs whose offsets only DWARF
// gives).
var routeApps = []struct {
	app      string
	stripped bool
	cases    []routeCase
}{
	{"muxsvc", true, []routeCase{
		{"GET", "/", "/{$}"},
		{"GET", "/users/42", "/users/{id}"},
		{"GET", "/users/42/posts/7", "/users/{id}/posts/{post}"},
		{"POST", "/users/", "/users/"},
		{"GET", "/api/v1/items/9", "/api/v1/items/{id}"},
		{"POST", "/api/v1/items", "/api/v1/items"},
		{"GET", "/api/v1/files/a/b.txt", "/api/v1/files/{path...}"},
		{"GET", "/static/css/site.css", "/static/"},
		{"GET", "/nope", ""},
		{"GET", "/api/v1/nope", ""},
		{"GET", "/timed/3", "/timed/{id}"},
	}},
	{"chisvc", true, routerCases(0)},
	{"gorillasvc", false, routerCases(1)},
	{"ginsvc", true, routerCases(2)},
	{"echosvc", false, routerCases(3)},
}

// routerRequests are what the four router apps serve alike (the same
// routes, parameters, mounts and groups), with the route each must name in
// chi's, gorilla's, gin's and echo's syntax.
var routerRequests = []struct {
	method, path string
	routes       [4]string
}{
	{"GET", "/", [4]string{"/", "/", "/", "/"}},
	{"GET", "/users/42", [4]string{"/users/{id}", "/users/{id}", "/users/:id", "/users/:id"}},
	{"GET", "/users/42/posts/7", [4]string{"/users/{id}/posts/{post}", "/users/{id}/posts/{post}", "/users/:id/posts/:post", "/users/:id/posts/:post"}},
	{"POST", "/users", [4]string{"/users", "/users", "/users", "/users"}},
	{"GET", "/static/css/site.css", [4]string{"/static/*", "/static/", "/static/*filepath", "/static/*"}},
	{"GET", "/api/v1/items/9", [4]string{"/api/v1/items/{id:[0-9]+}", "/api/v1/items/{id:[0-9]+}", "/api/v1/items/:id", "/api/v1/items/:id"}},
	{"POST", "/api/v1/items", [4]string{"/api/v1/items", "/api/v1/items", "/api/v1/items", "/api/v1/items"}},
	{"GET", "/api/v1/orders/5/lines/2", [4]string{"/api/v1/orders/{order}/lines/{line}", "/api/v1/orders/{order}/lines/{line}", "/api/v1/orders/:order/lines/:line", "/api/v1/orders/:order/lines/:line"}},
	{"GET", "/nope", [4]string{}},
	{"GET", "/users/42/nope", [4]string{}},
	// 405: echo names the route whose method did not match.
	{"DELETE", "/users/42", [4]string{"", "", "", "/users/:id"}},
}

// routerCases are routerRequests with router i's routes.
func routerCases(i int) []routeCase {
	var cs []routeCase
	for _, r := range routerRequests {
		cs = append(cs, routeCase{r.method, r.path, r.routes[i]})
	}
	return cs
}

// routeRounds: each case is sent this many times, from several goroutines
// at once (each request's routers record for its own goroutine).
const routeRounds = 25

// TestRoutes: behind middleware that replaces the request and nested or
// mounted routers, every server span's http.route is the template that
// chose its handler, and its name is "METHOD route"; where no route
// matched, neither (the name is the method). ServeMux on every release
// with patterns and stripped; the routers with this Go, stripped where
// they can be.
//
// In a test VM (prebuilt fixtures, one build each) the newest release
// alone: what is checked there is that the kernel takes the programs.
func TestRoutes(t *testing.T) {
	prebuilt := os.Getenv(testbuild.PrebuiltEnv) != ""
	for _, a := range routeApps {
		tcs := []testbuild.Toolchain{testbuild.Releases[len(testbuild.Releases)-1]}
		if a.app == "muxsvc" && !prebuilt {
			tcs = testbuild.Releases
		}
		for _, tc := range tcs {
			t.Run(a.app+"/"+tc.Name, func(t *testing.T) { testRoutes(t, a.app, tc, false, a.cases) })
		}
		if prebuilt {
			continue
		}
		t.Run(a.app+"/stripped", func(t *testing.T) {
			cases := a.cases
			if !a.stripped {
				cases = nil
				for _, c := range a.cases {
					cases = append(cases, routeCase{c.method, c.path, ""})
				}
			}
			testRoutes(t, a.app, tcs[len(tcs)-1], true, cases)
		})
	}
}

func testRoutes(t *testing.T, app string, tc testbuild.Toolchain, stripped bool, cases []routeCase) {
	bin := testbuild.Build(t, "apps/"+app, tc, stripped)
	recv := otlptest.Start(t)
	svc := startTraced(t, recv, bin)
	type job struct {
		c routeCase
		n int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for range 2 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				req, _ := http.NewRequest(j.c.method, fmt.Sprintf("%s%s?n=%d", svc.base, j.c.path, j.n), nil)
				resp, err := svc.client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || (resp.StatusCode >= 300) != (strings.Contains(j.c.path, "nope") || j.c.method == "DELETE") {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s %s: %v %v", j.c.method, j.c.path, err, resp))
					mu.Unlock()
				}
			}
		}()
	}
	for n := range routeRounds {
		for _, c := range cases {
			jobs <- job{c, n}
		}
	}
	close(jobs)
	wg.Wait()
	for _, e := range errs {
		t.Error("unexpected answer:", e)
	}
	stats := svc.stop(t)
	if n := stats["route_lost"]; n != 0 {
		t.Errorf("route_lost %d", n)
	}

	want := map[string]routeCase{}
	for _, c := range cases {
		want[c.method+" "+c.path] = c
	}
	got := map[string]int{}
	for _, s := range recv.Spans() {
		if s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Attrs["url.path"] == "/quit" {
			continue
		}
		method, _ := s.Attrs["http.request.method"].(string)
		path, _ := s.Attrs["url.path"].(string)
		c, ok := want[method+" "+path]
		if !ok {
			t.Errorf("unexpected server span %s %v", s.Name, s.Attrs)
			continue
		}
		route, _ := s.Attrs["http.route"].(string)
		wantName := strings.TrimSpace(c.method + " " + c.route)
		if route != c.route || s.Name != wantName {
			t.Errorf("%s %s: span %q, http.route %q; want %q, %q", method, path, s.Name, route, wantName, c.route)
			continue
		}
		got[method+" "+path]++
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != routeRounds {
			t.Errorf("%s: %d of %d server spans with the right route", k, got[k], routeRounds)
		}
	}
	if !t.Failed() {
		t.Logf("%s: %d requests, %d routes, every span's http.route and name exact", app, routeRounds*len(cases), len(cases))
	}
}
