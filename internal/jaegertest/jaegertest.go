// Package jaegertest runs a real Jaeger (v2, in-memory storage) for tests
// and reads traces back from any Jaeger's query API.
//
// Start runs the binary scripts/jaeger.sh builds (the version pinned in
// deploy/jaeger/go.mod) with deploy/jaeger/config.yaml on free loopback
// ports; Client reads /api/traces and /api/v3/traces of that Jaeger or of
// any other one (a container's, say).
package jaegertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Jaeger is a running Jaeger.
type Jaeger struct {
	OTLPGRPC string // OTLP/gRPC receiver, "127.0.0.1:PORT"
	OTLPHTTP string // OTLP/HTTP receiver, "http://127.0.0.1:PORT" (no /v1/traces)
	Query    string // query API base URL, "http://127.0.0.1:PORT"

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{} // closed when the process has exited
}

// Client returns a query client for j.
func (j *Jaeger) Client() *Client { return &Client{Base: j.Query} }

// Log returns what Jaeger has written to stdout and stderr so far.
func (j *Jaeger) Log() string { return j.log.String() }

// Root is the repository's root: the first directory at or above the
// working directory (a package's, under go test) holding scripts/jaeger.sh.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "jaeger.sh")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("jaegertest: no scripts/jaeger.sh at or above %s", dir)
		}
	}
}

// Binary returns the path of the pinned Jaeger binary, building it first
// if it is not cached yet (scripts/jaeger.sh; minutes, once).
func Binary(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root(t), "scripts", "jaeger.sh"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jaegertest: scripts/jaeger.sh: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	path := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(path, '\n'); i >= 0 {
		path = path[i+1:]
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		t.Fatalf("jaegertest: scripts/jaeger.sh printed %q (%v)\nstderr:\n%s", path, err, &stderr)
	}
	return path
}

// Start runs Jaeger on free 127.0.0.1 ports until the test ends, and
// returns once its query API answers and its OTLP receivers accept
// connections.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	bin := Binary(t)
	config := filepath.Join(Root(t), "deploy", "jaeger", "config.yaml")
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var j *Jaeger
		j, err = start(bin, config)
		if err == nil {
			t.Cleanup(func() {
				j.stop()
				if t.Failed() {
					t.Logf("jaeger log (tail):\n%s", tail(j.Log(), 40))
				}
			})
			return j
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("jaegertest: %v", err)
	return nil
}

var errPortTaken = errors.New("a port was taken before Jaeger bound it")

func start(bin, config string) (*Jaeger, error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	j := &Jaeger{
		OTLPGRPC: addr(0),
		OTLPHTTP: "http://" + addr(1),
		Query:    "http://" + addr(2),
		log:      &syncBuffer{},
		done:     make(chan struct{}),
	}
	j.cmd = exec.Command(bin, "--config", config)
	j.cmd.Env = append(os.Environ(),
		"JAEGER_OTLP_GRPC="+addr(0), "JAEGER_OTLP_HTTP="+addr(1),
		"JAEGER_QUERY_HTTP="+addr(2), "JAEGER_QUERY_GRPC="+addr(3),
		"JAEGER_METRICS_HOST=127.0.0.1", fmt.Sprintf("JAEGER_METRICS_PORT=%d", ports[4]))
	j.cmd.Stdout, j.cmd.Stderr = j.log, j.log
	// Should the test binary die (a timeout, a closed pipe), so does Jaeger.
	j.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := j.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { j.cmd.Wait(); close(j.done) }()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-j.done:
			if strings.Contains(j.Log(), "address already in use") {
				return nil, fmt.Errorf("%w:\n%s", errPortTaken, j.Log())
			}
			return nil, fmt.Errorf("jaeger exited before it was ready (%v):\n%s", j.cmd.ProcessState, j.Log())
		default:
		}
		if ready(client, j) {
			return j, nil
		}
		if time.Now().After(deadline) {
			j.stop()
			return nil, fmt.Errorf("jaeger not ready in 30s:\n%s", j.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready: the query API answers and both receivers accept connections.
func ready(c *http.Client, j *Jaeger) bool {
	resp, err := c.Get(j.Query + "/api/services")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	for _, a := range []string{j.OTLPGRPC, strings.TrimPrefix(j.OTLPHTTP, "http://")} {
		conn, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			return false
		}
		conn.Close()
	}
	return true
}

// stop ends Jaeger: SIGTERM, then SIGKILL after 10 s.
func (j *Jaeger) stop() {
	select {
	case <-j.done:
		return
	default:
	}
	j.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		j.cmd.Process.Kill()
		<-j.done
	}
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago (all held at once while picking, so they differ).
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// WaitTraces polls c until at least want traces hold spans of service and
// the answer has stopped changing (the same traces and span count on two
// polls in a row: spans still being stored show up), and returns them.
// It fails the test after timeout.
func WaitTraces(t testing.TB, c *Client, service string, want int, timeout time.Duration) []Trace {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last []Trace
	var err error
	lastSpans := -1
	for {
		var got []Trace
		got, err = c.Traces(ctx, service)
		if err == nil {
			n := 0
			for _, tr := range got {
				n += len(tr.Spans)
			}
			if len(got) >= want && len(got) == len(last) && n == lastSpans {
				return got
			}
			last, lastSpans = got, n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("jaegertest: %d traces of service %q in %v (%d spans), want %d; last error: %v",
				len(last), service, timeout, max(lastSpans, 0), want, err)
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
