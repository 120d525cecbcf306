package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/testbuild"
)

const (
	concurrentRequests = 200
	// incoming is the traceparent the adopted request carries.
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
	incomingState  = "congo=t61rcWkgMzE"
	userAgent      = "glsotel-e2e/1.0"
)

// from lists where /work makes its client calls (e2e/apps/httpsvc).
var from = []string{"handler", "g1", "g2", "g3", "pool", "late"}

// TestHTTPTraces runs httpsvc under `glsotel run` with spans exported to an
// OTLP/gRPC receiver, sends 200 concurrent requests (and one carrying a
// traceparent, one carrying a malformed one), and checks every trace tree,
// on every supported Go release and both map layouts, with and without
// symbols.
func TestHTTPTraces(t *testing.T) {
	variants := []struct {
		tc       testbuild.Toolchain
		stripped bool
	}{}
	for _, tc := range testbuild.Releases {
		variants = append(variants, struct {
			tc       testbuild.Toolchain
			stripped bool
		}{tc, false})
	}
	variants = append(variants, struct {
		tc       testbuild.Toolchain
		stripped bool
	}{testbuild.Releases[1], true})
	for _, v := range variants {
		name := v.tc.Name
		if v.stripped {
			name += "-stripped"
		}
		t.Run(name, func(t *testing.T) { testHTTPTraces(t, v.tc, v.stripped) })
	}
}

func testHTTPTraces(t *testing.T, tc testbuild.Toolchain, stripped bool) {
	bin := testbuild.Build(t, "apps/httpsvc", tc, stripped)
	recv := otlptest.Start(t)
	svc := startTraced(t, recv, bin)

	var wg sync.WaitGroup
	for i := 1; i <= concurrentRequests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc.get(t, fmt.Sprintf("/work?id=%d", i), nil)
		}()
	}
	wg.Wait()
	// 40 more headers: the map spans 8 swiss groups or 8 hmap buckets.
	adopted := map[string]string{
		"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-01", "tracestate": incomingState,
	}
	for i := range 40 {
		adopted[fmt.Sprintf("X-Filler-%02d", i)] = "x"
	}
	svc.get(t, "/work?id=adopted", adopted)
	svc.get(t, "/work?id=malformed", map[string]string{
		"traceparent": "ff-" + incomingTrace + "-" + incomingParent + "-01",
	})
	stats := svc.stop(t)

	spans := recv.Spans()
	servers := map[string]otlptest.Span{} // id query -> /work server span
	for _, s := range spans {
		if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Attrs["url.path"] == "/work" {
			servers[strings.TrimPrefix(s.Attrs["url.query"].(string), "id=")] = s
		}
	}
	traces := map[string]bool{}
	for i := 1; i <= concurrentRequests; i++ {
		id := strconv.Itoa(i)
		root, ok := servers[id]
		if !ok {
			t.Errorf("request %s: no server span", id)
			continue
		}
		if root.Parent != "" {
			t.Errorf("request %s: server span has parent %s, want a new trace", id, root.Parent)
		}
		checkWorkTree(t, spans, root, id, svc.port)
		traces[root.TraceID] = true
	}
	if len(traces) != len(servers)-2 && len(servers) == concurrentRequests+2 {
		t.Errorf("%d requests share %d trace ids", concurrentRequests, len(traces))
	}

	if s, ok := servers["adopted"]; !ok {
		t.Error("adopted request: no server span")
	} else {
		if s.TraceID != incomingTrace || s.Parent != incomingParent || !s.RemoteParent || s.TraceState != incomingState {
			t.Errorf("adopted request: trace %s parent %s remote %v state %q, want the incoming traceparent/tracestate",
				s.TraceID, s.Parent, s.RemoteParent, s.TraceState)
		}
		checkWorkTree(t, spans, s, "adopted", svc.port)
	}
	if s, ok := servers["malformed"]; !ok {
		t.Error("malformed traceparent: no server span")
	} else if s.TraceID == incomingTrace || s.Parent != "" {
		t.Errorf("malformed traceparent was not ignored: trace %s parent %s", s.TraceID, s.Parent)
	}

	res := spans[0].Resource
	if res["service.name"] != "httpsvc" || !strings.HasPrefix(res["process.runtime.version"].(string), tc.Name[:6]) {
		t.Errorf("resource: %v", res)
	}

	// Cost: BPF run counts per request (every /work makes 6 client calls,
	// each served by /leaf; plus /quit).
	works := concurrentRequests + 2
	served, calls := works*(1+len(from))+1, works*len(from)
	perServer := float64(stats["net/http/server/uprobe_net_http_serverHandler_ServeHTTP"]+
		stats["net/http/server/uprobe_net_http_serverHandler_ServeHTTP_ret"]) / float64(served)
	// The client's third hit arms traceparent injection (sk_msg here).
	perClient := hitsPerCall(stats, uint64(calls))
	t.Logf("uprobe hits: %.3f per server request (%d requests), %.3f per client request (%d requests); %d spans",
		perServer, served, perClient, calls, len(spans))
	if perServer != 2 || perClient != 3 {
		t.Errorf("uprobe hits per request: server %.3f, client %.3f; want 2 and 3", perServer, perClient)
	}
	// And one where httpsvc's ServeMux tells the route it chose.
	if n := stats["net/http/server/uprobe_net_http_ServeMux_findHandler_ret"]; n != uint64(served) {
		t.Errorf("ServeMux route hits %d, want one per request (%d)", n, served)
	}
}

// checkWorkTree: the /work server span has exactly one CLIENT child per
// call site, each in its trace, for its own request, with the attributes
// semantic conventions ask for, and each the parent of the /leaf server
// span it called (injected traceparent).
func checkWorkTree(t *testing.T, spans []otlptest.Span, root otlptest.Span, id string, port int64) {
	t.Helper()
	want := map[string]any{
		"http.request.method": "GET", "url.scheme": "http", "url.path": "/work", "url.query": "id=" + id,
		"http.route": "/work", "http.response.status_code": int64(200), "server.address": "127.0.0.1",
		"server.port": port, "client.address": "127.0.0.1", "network.peer.address": "127.0.0.1",
		"network.protocol.version": "1.1", "user_agent.original": userAgent,
	}
	if root.Name != "GET /work" || !hasAttrs(root.Attrs, want) {
		t.Errorf("request %s: server span %q attrs %v, want %v", id, root.Name, root.Attrs, want)
	}
	var got []string
	for _, c := range otlptest.Children(spans, root.SpanID) {
		u, _ := c.Attrs["url.full"].(string)
		if c.TraceID != root.TraceID || c.Kind != tracepb.Span_SPAN_KIND_CLIENT || c.Name != "GET" ||
			!strings.Contains(u, "/leaf?id="+id+"&from=") ||
			!hasAttrs(c.Attrs, map[string]any{"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": port, "http.response.status_code": int64(200), "network.protocol.version": "1.1"}) {
			t.Errorf("request %s: bad child %q %v", id, c.Name, c.Attrs)
			continue
		}
		got = append(got, u[strings.LastIndex(u, "=")+1:])
		// The call carried the client span's traceparent: /leaf's
		// server span is its child.
		if leaf := otlptest.Children(spans, c.SpanID); len(leaf) != 1 || leaf[0].Attrs["url.path"] != "/leaf" || !leaf[0].RemoteParent {
			t.Errorf("request %s: call %s has children %v, want the /leaf server span", id, u, leaf)
		}
	}
	slices.Sort(got)
	if w := slices.Sorted(slices.Values(from)); !slices.Equal(got, w) {
		t.Errorf("request %s: client calls under the server span: %v, want %v", id, got, w)
	}
}

func hasAttrs(got, want map[string]any) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// traced is a service running under `glsotel run --stats`.
type traced struct {
	cmd    *exec.Cmd
	base   string
	port   int64
	stderr *bytes.Buffer
	client *http.Client
}

func startTraced(t *testing.T, recv *otlptest.Receiver, bin string, env ...string) *traced {
	t.Helper()
	return startService(t, recv, []string{bin, "serve", "127.0.0.1:0"}, env)
}

// startService runs the program args (a fixture that prints "listening
// HOST:PORT") under `glsotel run --stats`, exporting to recv.
func startService(t testing.TB, recv *otlptest.Receiver, args, env []string) *traced {
	t.Helper()
	cmd := exec.Command(glsotelBin, append([]string{"run", "--stats", "--"}, args...)...)
	cmd.Env = append(otelEnv(recv), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &traced{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("service did not start (%q, %v):\n%s", line, err, s.stderr)
	}
	go io.Copy(io.Discard, stdout)
	s.base = "http://" + addr
	s.port, _ = strconv.ParseInt(addr[strings.LastIndexByte(addr, ':')+1:], 10, 64)
	s.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrentRequests}}
	return s
}

func (s *traced) get(t testing.TB, path string, headers map[string]string) {
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("User-Agent", userAgent)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", path, err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %s", path, resp.Status)
	}
}

var (
	runsLine   = regexp.MustCompile(`(?m)^runs (\S+) (\d+)$`)
	injectLine = regexp.MustCompile(`(?m)^(inject \S+ \S+) (\d+)$`)
	// "counter NAME N": the programs' own counts (probe.Session.Counters).
	counterLine = regexp.MustCompile(`(?m)^(counter \S+) (\d+)$`)
)

// stop ends the service (GET /quit), waits for the agent to flush, and
// returns its BPF run counts ("probe/program"), injection outcomes
// ("inject PATH OUTCOME") and counters ("counter NAME").
func (s *traced) stop(t testing.TB) map[string]uint64 {
	t.Helper()
	s.get(t, "/quit", nil)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent: %v\n%s", err, s.stderr)
		}
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("agent did not exit:\n%s", s.stderr)
	}
	stats := map[string]uint64{}
	for _, re := range []*regexp.Regexp{runsLine, injectLine, counterLine} {
		for _, m := range re.FindAllStringSubmatch(s.stderr.String(), -1) {
			stats[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
		}
	}
	return stats
}

// TestAttachExeReattach: `glsotel attach --exe` waits for the service,
// traces it, and traces it again after it restarts (a sidecar outliving
// its target), each run with its own process.pid.
func TestAttachExeReattach(t *testing.T) {
	bin := testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	agent := exec.Command(glsotelBin, "attach", "--exe", bin)
	agent.Env = otelEnv(recv)
	lines := streamStderr(t, agent)
	waitLine(t, lines, "waiting for the target to start")

	pids := map[string]int{}
	for _, run := range []string{"first", "second"} {
		svc := exec.Command(bin, "serve", "127.0.0.1:0")
		out, _ := svc.StdoutPipe()
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		pids[run] = svc.Process.Pid
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr := strings.TrimPrefix(strings.TrimSpace(line), "listening ")
		waitLine(t, lines, fmt.Sprintf("msg=attached pid=%d", svc.Process.Pid))
		s := &traced{base: "http://" + addr, client: http.DefaultClient}
		s.get(t, "/work?id="+run, nil)
		s.get(t, "/quit", nil)
		svc.Wait()
		waitLine(t, lines, fmt.Sprintf("msg=\"target exited\" pid=%d", svc.Process.Pid))
	}
	agent.Process.Signal(os.Interrupt)
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent: %v", err)
	}
	spans := recv.Spans()
	for run, pid := range pids {
		var root *otlptest.Span
		for _, s := range spans {
			if s.Attrs["url.query"] == "id="+run && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				root = &s
			}
		}
		if root == nil {
			t.Errorf("%s run: no server span", run)
			continue
		}
		if root.Resource["process.pid"] != int64(pid) {
			t.Errorf("%s run: process.pid %v, want %d", run, root.Resource["process.pid"], pid)
		}
		if n := len(otlptest.Children(spans, root.SpanID)); n != len(from) {
			t.Errorf("%s run: %d client spans under the server span, want %d", run, n, len(from))
		}
	}
}

// TestAttachExeEvery: `glsotel attach --exe PATH` with PATH as the
// targets see it (each runs in its own mount namespace, with the binary on
// a tmpfs the agent's namespace does not have, as in a sidecar) traces
// every process of it, those running at attach and one started later, each
// with its own process.pid.
func TestAttachExeEvery(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) to give targets their own mount namespace")
	}
	bin := testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false)
	dir := t.TempDir() // empty here; a tmpfs holding the binary in each target's namespace
	exe := filepath.Join(dir, "svc")
	start := func() (*exec.Cmd, string) {
		t.Helper()
		svc := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			fmt.Sprintf("mount -t tmpfs none %[1]s && cp %[2]s %[3]s && exec %[3]s serve 127.0.0.1:0", dir, bin, exe))
		out, _ := svc.StdoutPipe()
		svc.Stderr = os.Stderr
		if err := svc.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Process.Kill(); svc.Wait() })
		line, _ := bufio.NewReader(out).ReadString('\n')
		addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
		if !ok {
			t.Fatalf("target: %q", line)
		}
		return svc, "http://" + addr
	}
	first, firstURL := start()
	second, secondURL := start()
	if _, err := os.Stat(exe); err == nil {
		t.Fatalf("%s is visible to the agent: the test needs it not to be", exe)
	}
	recv := otlptest.Start(t)
	agent := exec.Command(glsotelBin, "attach", "--exe", exe)
	agent.Env = otelEnv(recv)
	lines := streamStderr(t, agent)
	waitLine(t, lines, "no such file here")
	// Both running processes, in either order.
	waitLines(t, lines, fmt.Sprintf("msg=attached pid=%d", first.Process.Pid), fmt.Sprintf("msg=attached pid=%d", second.Process.Pid))
	third, thirdURL := start()
	waitLine(t, lines, fmt.Sprintf("msg=attached pid=%d", third.Process.Pid))
	want := map[string]int{"first": first.Process.Pid, "second": second.Process.Pid, "third": third.Process.Pid}
	for run, base := range map[string]string{"first": firstURL, "second": secondURL, "third": thirdURL} {
		s := &traced{base: base, client: http.DefaultClient}
		s.get(t, "/work?id="+run, nil)
	}
	time.Sleep(500 * time.Millisecond) // the batch delay is 200 ms
	agent.Process.Signal(os.Interrupt)
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent: %v", err)
	}
	spans := recv.Spans()
	for run, pid := range want {
		var roots []otlptest.Span
		for _, s := range spans {
			if s.Attrs["url.query"] == "id="+run && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				roots = append(roots, s)
			}
		}
		if len(roots) != 1 {
			t.Errorf("%s process: %d server spans, want 1", run, len(roots))
			continue
		}
		if roots[0].Resource["process.pid"] != int64(pid) {
			t.Errorf("%s process: process.pid %v, want %d", run, roots[0].Resource["process.pid"], pid)
		}
		if n := len(otlptest.Children(spans, roots[0].SpanID)); n != len(from) {
			t.Errorf("%s process: %d client spans under the server span, want %d", run, n, len(from))
		}
	}
}

func otelEnv(recv *otlptest.Receiver) []string {
	return append(os.Environ(),
		"OTEL_SDK_DISABLED=false", "OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.Endpoint, "OTEL_TRACES_SAMPLER=parentbased_always_on",
		"OTEL_SERVICE_NAME=", "OTEL_RESOURCE_ATTRIBUTES=", "OTEL_BSP_SCHEDULE_DELAY=200")
}

// streamStderr starts cmd and delivers its stderr line by line.
func streamStderr(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	r, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	waitLines(t, lines, want)
}

// waitLines waits until a line containing each of wants has come, in any
// order.
func waitLines(t *testing.T, lines <-chan string, wants ...string) {
	t.Helper()
	left := slices.Clone(wants)
	deadline := time.After(30 * time.Second)
	for len(left) > 0 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("agent ended before printing %q", left)
			}
			left = slices.DeleteFunc(left, func(w string) bool { return strings.Contains(l, w) })
		case <-deadline:
			t.Fatalf("no %q from the agent in 30s", left)
		}
	}
}

// TestSampling: the decision is made in BPF when a trace starts in this
// process and inherited by every span under it, so a trace is exported
// whole or not at all; parentbased follows the incoming sampled flag.
func TestSampling(t *testing.T) {
	bin := testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false)
	for _, tc := range []struct {
		sampler, arg string
		min, max     int // /work traces exported, of 100
	}{
		{"always_off", "", 0, 0},
		{"traceidratio", "0.5", 30, 70},
		{"parentbased_always_on", "", 100, 100},
	} {
		t.Run(tc.sampler, func(t *testing.T) {
			recv := otlptest.Start(t)
			svc := startTraced(t, recv, bin, "OTEL_TRACES_SAMPLER="+tc.sampler, "OTEL_TRACES_SAMPLER_ARG="+tc.arg)
			for i := 0; i < 100; i++ {
				svc.get(t, fmt.Sprintf("/work?id=%d", i), nil)
			}
			// An incoming unsampled parent: parentbased drops the trace.
			svc.get(t, "/work?id=unsampled", map[string]string{"traceparent": "00-" + incomingTrace + "-" + incomingParent + "-00"})
			svc.stop(t)
			spans := recv.Spans()
			roots := 0
			for _, s := range spans {
				if s.Kind != tracepb.Span_SPAN_KIND_SERVER || s.Attrs["url.path"] != "/work" {
					continue
				}
				if s.TraceID == incomingTrace && strings.HasPrefix(tc.sampler, "parentbased") {
					t.Errorf("trace with an unsampled remote parent was exported")
				}
				if s.TraceID != incomingTrace {
					roots++
				}
				if n := len(otlptest.Children(spans, s.SpanID)); n != len(from) {
					t.Errorf("%s: a sampled trace has %d of its %d client spans", s.Attrs["url.query"], n, len(from))
				}
			}
			t.Logf("%s %s: %d of 100 traces exported", tc.sampler, tc.arg, roots)
			if roots < tc.min || roots > tc.max {
				t.Errorf("%d traces exported, want %d..%d", roots, tc.min, tc.max)
			}
		})
	}
}

// TestCollectorDown: with no collector, the service answers as usual, the
// agent reports the lost spans in one line per interval and exits.
func TestCollectorDown(t *testing.T) {
	bin := testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	svc := startTraced(t, recv, bin, "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_TIMEOUT=500")
	start := time.Now()
	for i := 0; i < 50; i++ {
		svc.get(t, fmt.Sprintf("/work?id=%d", i), nil)
	}
	svc.stop(t)
	t.Logf("50 requests and agent exit in %v", time.Since(start))
	if n := strings.Count(svc.stderr.String(), `msg="spans lost"`); n < 1 || n > 3 {
		t.Errorf("%d loss reports, want one per 10s:\n%s", n, svc.stderr)
	}
	if len(recv.Spans()) != 0 {
		t.Error("spans reached the wrong receiver")
	}
}
