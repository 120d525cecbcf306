// Package compose_test runs deploy/compose/docker-compose.yml for real: a
// Docker engine, the images built here (the agent's by make image, the
// demo's, Jaeger from the pinned source build, PostgreSQL from this host's),
// requests through front -> back -> PostgreSQL, and every trace read back
// through Jaeger's query API.
package compose_test

import (
	"bufio"
	"context"
	"errors"
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
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/internal/jaegertest"
	"github.com/glsotel/glsotel/internal/promtext"
	"github.com/glsotel/glsotel/propagation"
)

// requests is how many /shop requests the test drives; every fifth asks
// for an item that does not exist (404 all the way down).
const requests = 20

type stack struct {
	root, project string
	env           []string
	ports         map[string]int
}

// run runs a command from the repository root with the stack's
// environment and fails the test with its output when it fails.
func (s *stack) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = s.root, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *stack) compose(t *testing.T, args ...string) string {
	t.Helper()
	return s.run(t, "docker-compose", append([]string{"-p", s.project, "-f", "deploy/compose/docker-compose.yml"}, args...)...)
}

func (s *stack) url(port string, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.ports[port], path)
}

// container is the id of service's container.
func (s *stack) container(t *testing.T, service string) string {
	t.Helper()
	return strings.TrimSpace(s.compose(t, "ps", "-q", service))
}

func TestCompose(t *testing.T) {
	s := &stack{root: jaegertest.Root(t), ports: map[string]int{}}
	s.env = os.Environ()
	s.run(t, "scripts/docker.sh")
	tag := fmt.Sprintf("e2e-%d", os.Getpid())
	s.project = "glsotel-" + tag
	images := map[string]string{
		"GLSOTEL_IMAGE":    "glsotel:" + tag,
		"DEMO_FRONT_IMAGE": "glsotel-demo-front:" + tag,
		"DEMO_BACK_IMAGE":  "glsotel-demo-back:" + tag,
		"JAEGER_IMAGE":     "glsotel-e2e-jaeger:v1.75.0",
		"POSTGRES_IMAGE":   "glsotel-e2e-postgres:15",
	}
	for k, v := range images {
		s.env = append(s.env, k+"="+v)
	}
	names := []string{"FRONT_PORT", "BACK_PORT", "PG_PORT", "JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT",
		"JAEGER_UI_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_METRICS_PORT", "FRONT_AGENT_METRICS_PORT", "BACK_AGENT_METRICS_PORT"}
	for i, p := range jaegertest.FreePorts(t, len(names)) {
		s.ports[names[i]] = p
		s.env = append(s.env, fmt.Sprintf("%s=%d", names[i], p))
	}

	start := time.Now()
	s.run(t, "make", "--no-print-directory", "image", "IMAGE="+images["GLSOTEL_IMAGE"])
	s.run(t, "deploy/compose/build-demo-images.sh")
	s.run(t, "e2e/compose/jaeger-image.sh", images["JAEGER_IMAGE"])
	s.run(t, "e2e/compose/postgres-image.sh", images["POSTGRES_IMAGE"])
	t.Cleanup(func() {
		exec.Command("docker", "rmi", images["GLSOTEL_IMAGE"], images["DEMO_FRONT_IMAGE"], images["DEMO_BACK_IMAGE"]).Run()
	})
	for _, img := range []string{"GLSOTEL_IMAGE", "DEMO_FRONT_IMAGE", "DEMO_BACK_IMAGE", "JAEGER_IMAGE", "POSTGRES_IMAGE"} {
		t.Logf("image %s: %s", images[img], strings.TrimSpace(s.run(t, "docker", "image", "ls", "--format", "{{.Size}}", images[img])))
	}
	t.Logf("images built in %v", time.Since(start).Round(time.Second))

	mountsBefore := dockerMounts(t)
	s.compose(t, "up", "-d")
	down := func() {
		exec.Command("docker-compose", "-p", s.project, "-f", filepath.Join(s.root, "deploy/compose/docker-compose.yml"), "down", "-v", "--remove-orphans").Run()
	}
	t.Cleanup(down)
	up := time.Now()
	for _, svc := range []string{"glsotel-front", "glsotel-back"} {
		s.waitLog(t, svc, "msg=attached pid=1 ")
	}
	waitOK(t, s.url("FRONT_PORT", "/healthz"))
	t.Logf("stack up and attached in %v", time.Since(up).Round(100*time.Millisecond))

	// The injection path the sidecars chose: sk_msg under lockdown.
	lockdown, err := propagation.Lockdown()
	if err != nil {
		t.Fatal(err)
	}
	want := "path=write_user"
	if lockdown != "none" {
		want = "path=sk_msg"
	}
	for _, svc := range []string{"glsotel-front", "glsotel-back"} {
		l := s.logs(t, svc)
		if !strings.Contains(l, `msg="traceparent injection" `+want) {
			t.Errorf("%s (lockdown %s): no %q in its log:\n%s", svc, lockdown, want, l)
		}
		// sk_msg: sockops sits on the app's own cgroup (the host's
		// hierarchy, mounted in), not a whole hierarchy.
		if want == "path=sk_msg" && !strings.Contains(l, `msg="sk_msg injector" cgroup=/host/sys/fs/cgroup/unified/`) {
			t.Errorf("%s: the injector did not find the app's cgroup:\n%s", svc, l)
		}
	}

	wantStatus := map[string]int{}
	for i := range requests {
		id := strconv.Itoa(i%3 + 1)
		if i%5 == 4 {
			id = "99"
		}
		resp, err := http.Get(s.url("FRONT_PORT", "/shop/"+id))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := http.StatusOK
		if id == "99" {
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			t.Fatalf("/shop/%s: %s, want %d", id, resp.Status, want)
		}
		wantStatus[id] = want
	}

	traces := s.shopTraces(t)
	for _, tr := range traces {
		checkTree(t, s, tr)
	}
	if len(traces) > 0 {
		t.Logf("trace %s as Jaeger returned it:\n%s", traces[0].ID, tree(traces[0].Spans, "", ""))
	}

	// Every outgoing request of front got its traceparent at the socket
	// layer (or from write_user), and no span was lost.
	front := metrics(t, s.url("FRONT_AGENT_METRICS_PORT", "/metrics"))
	back := metrics(t, s.url("BACK_AGENT_METRICS_PORT", "/metrics"))
	if lockdown != "none" {
		if got := front[`glsotel_inject_total{path="sk_msg",outcome="injected"}`]; got != requests {
			t.Errorf("front's sidecar injected %v requests over sk_msg, want %d", got, requests)
		}
	}
	for name, m := range map[string]map[string]float64{"front": front, "back": back} {
		for k, v := range m {
			if strings.HasPrefix(k, "glsotel_spans_lost_total") && v != 0 {
				t.Errorf("%s's sidecar: %s %v", name, k, v)
			}
		}
	}

	t.Run("capabilities", func(t *testing.T) { checkCapabilities(t, s, images["GLSOTEL_IMAGE"]) })

	// Down: nothing of the stack is left, BPF programs included.
	progs := append(s.bpfPrograms(t, "glsotel-front"), s.bpfPrograms(t, "glsotel-back")...)
	if len(progs) == 0 {
		t.Error("the sidecars hold no BPF programs")
	}
	s.compose(t, "down", "-v", "--remove-orphans")
	label := "label=com.docker.compose.project=" + s.project
	for _, kind := range []string{"container", "network", "volume"} {
		args := []string{kind, "ls", "-q", "--filter", label}
		if kind == "container" {
			args = []string{"ps", "-a", "-q", "--filter", label}
		}
		if out := strings.TrimSpace(s.run(t, "docker", args...)); out != "" {
			t.Errorf("after down, %ss of %s are left: %s", kind, s.project, out)
		}
	}
	for _, id := range progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("after down, BPF program %d of a sidecar is still loaded", id)
		}
	}
	if after := dockerMounts(t); len(after) > len(mountsBefore) {
		t.Errorf("after down, mounts are left: %v", slices.DeleteFunc(after, func(m string) bool { return slices.Contains(mountsBefore, m) }))
	}
}

// shopTraces waits until Jaeger has every /shop request's trace, whole.
func (s *stack) shopTraces(t *testing.T) []jaegertest.Trace {
	t.Helper()
	c := &jaegertest.Client{Base: s.url("JAEGER_UI_PORT", "")}
	var shop []jaegertest.Trace
	deadline := time.Now().Add(45 * time.Second)
	for {
		all, err := c.Traces(context.Background(), "front")
		shop = shop[:0]
		whole := 0
		for _, tr := range all {
			if slices.ContainsFunc(tr.Spans, func(sp jaegertest.Span) bool { return sp.Name == "GET /shop/{id}" }) {
				shop = append(shop, tr)
				if len(tr.Spans) == 5 {
					whole++
				}
			}
		}
		if err == nil && len(shop) == requests && whole == requests {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger has %d /shop traces (%d whole), want %d (err %v)", len(shop), whole, requests, err)
		}
		time.Sleep(time.Second)
	}
	// The v3 API tells remote parents: read each trace whole through it.
	out := make([]jaegertest.Trace, len(shop))
	for i, tr := range shop {
		full, err := c.Trace(context.Background(), tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = full
	}
	return out
}

// checkTree asserts one /shop request's trace: front SERVER -> front
// CLIENT -> back SERVER (remote parent) -> two back database spans.
func checkTree(t *testing.T, s *stack, tr jaegertest.Trace) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Errorf("trace %s: %s\n%s", tr.ID, fmt.Sprintf(format, args...), tree(tr.Spans, "", ""))
	}
	if len(tr.Spans) != 5 {
		fail("%d spans, want 5", len(tr.Spans))
		return
	}
	roots := jaegertest.Roots(tr.Spans)
	if len(roots) != 1 || roots[0].ParentSpanID != "" {
		fail("roots %d, want one without a parent", len(roots))
		return
	}
	srv := roots[0]
	status := srv.Attrs["http.response.status_code"]
	if srv.Kind != "SERVER" || srv.Service != "front" || srv.Name != "GET /shop/{id}" || srv.Attrs["http.route"] != "/shop/{id}" ||
		srv.StatusCode == "ERROR" || (status != int64(200) && status != int64(404)) {
		fail("front server span %+v", srv)
	}
	cl := jaegertest.Children(tr.Spans, srv.SpanID)
	if len(cl) != 1 || cl[0].Kind != "CLIENT" || cl[0].Service != "front" || cl[0].Name != "GET" ||
		cl[0].Attrs["http.response.status_code"] != status ||
		!strings.HasPrefix(fmt.Sprint(cl[0].Attrs["url.full"]), s.url("BACK_PORT", "/items/")) {
		fail("front's client spans %+v", cl)
		return
	}
	bs := jaegertest.Children(tr.Spans, cl[0].SpanID)
	if len(bs) != 1 || bs[0].Kind != "SERVER" || bs[0].Service != "back" || bs[0].Name != "GET /items/{id}" ||
		!bs[0].RemoteParent || bs[0].Attrs["http.response.status_code"] != status {
		fail("back server spans under front's client span %+v", bs)
		return
	}
	db := jaegertest.Children(tr.Spans, bs[0].SpanID)
	var names []string
	for _, d := range db {
		names = append(names, d.Name)
		if d.Kind != "CLIENT" || d.Service != "back" || d.Attrs["db.system.name"] != "postgresql" || !strings.HasPrefix(fmt.Sprint(d.Attrs["db.query.text"]), "SELECT ") {
			fail("database span %+v", d)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"SELECT items", "SELECT stock"}) {
		fail("database spans %v, want SELECT items and SELECT stock", names)
	}
	for _, sp := range tr.Spans {
		// The pid as the app sees it: pid 1 of its container.
		if sp.Resource["process.pid"] != int64(1) {
			fail("span %s: process.pid %v, want 1", sp.Name, sp.Resource["process.pid"])
		}
	}
}

// tree renders spans as an indented tree (for failures and the log).
func tree(spans []jaegertest.Span, parent, indent string) string {
	var b strings.Builder
	list := jaegertest.Children(spans, parent)
	if parent == "" {
		list = jaegertest.Roots(spans)
	}
	for _, sp := range list {
		remote := ""
		if sp.RemoteParent {
			remote = " (remote parent)"
		}
		fmt.Fprintf(&b, "%s%s %s [%s] %s status=%s%s\n", indent, sp.Kind, sp.Name, sp.Service, sp.SpanID, sp.StatusCode, remote)
		b.WriteString(tree(spans, sp.SpanID, indent+"  "))
	}
	return b.String()
}

// checkCapabilities runs the agent image against front with the measured
// minimal set less one capability at a time: each run must fail with the
// line that names what is missing (and the whole set attaches, as the
// stack's own sidecars show).
func checkCapabilities(t *testing.T, s *stack, image string) {
	minimal := []string{"SYS_ADMIN", "SYS_PTRACE"}
	front := s.container(t, "front")
	for _, tc := range []struct {
		drop, target, want string
	}{
		{"SYS_ADMIN", "GLSOTEL_TARGET_PID=1", "needs root, or CAP_BPF and CAP_PERFMON"},
		{"SYS_PTRACE", "GLSOTEL_TARGET_PID=1", "needs CAP_SYS_PTRACE"},
		{"SYS_PTRACE", "GLSOTEL_TARGET_EXE=/front", "needs CAP_SYS_PTRACE"},
	} {
		args := []string{"run", "--rm", "--network", "host", "--pid", "container:" + front, "--cap-drop", "ALL",
			"-v", "/sys/fs/cgroup:/host/sys/fs/cgroup:ro", "-e", tc.target, "-e", "OTEL_TRACES_EXPORTER=none"}
		for _, c := range minimal {
			if c != tc.drop {
				args = append(args, "--cap-add", c)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "docker", append(args, image, "attach")...).CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("without %s (%s): %v, want exit 2 and %q; output:\n%s", tc.drop, tc.target, err, tc.want, out)
			continue
		}
		t.Logf("without %s (%s): %s", tc.drop, tc.target, strings.TrimSpace(string(out)))
	}
}

func (s *stack) logs(t *testing.T, service string) string {
	t.Helper()
	return s.compose(t, "logs", "--no-color", service)
}

func (s *stack) waitLog(t *testing.T, service, want string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		l := s.logs(t, service)
		if strings.Contains(l, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %s's log:\n%s\n%s", want, service, l, s.compose(t, "ps"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// bpfPrograms lists the ids of the BPF programs service's agent holds.
func (s *stack) bpfPrograms(t *testing.T, service string) []ebpf.ProgramID {
	t.Helper()
	pid := strings.TrimSpace(s.run(t, "docker", "inspect", "-f", "{{.State.Pid}}", s.container(t, service)))
	dir := "/proc/" + pid + "/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ebpf.ProgramID
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if m := regexp.MustCompile(`(?m)^prog_id:\s+(\d+)`).FindSubmatch(b); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			ids = append(ids, ebpf.ProgramID(n))
		}
	}
	return ids
}

// dockerMounts lists the host's mounts under Docker's directories
// (container root filesystems, network namespaces).
func dockerMounts(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && (strings.Contains(fields[4], "/docker") || strings.Contains(fields[4], "/run/glsotel")) {
			out = append(out, fields[4])
		}
	}
	return out
}

func waitOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", url, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// metrics reads a self-metrics page: "name{labels}" -> value.
func metrics(t *testing.T, url string) map[string]float64 {
	t.Helper()
	m, err := promtext.Get(url)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return m
}
