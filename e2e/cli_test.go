// Package e2e drives real processes: the glsotel binary, fixture programs
// and (in later suites) receivers and databases, and asserts what they
// produce.
package e2e

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
)

var glsotelBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "glsotel-e2e")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // the unprivileged test runs it as nobody
	glsotelBin = filepath.Join(dir, "glsotel")
	if pre := os.Getenv(testbuild.PrebuiltEnv); pre != "" {
		glsotelBin = filepath.Join(pre, "glsotel") // in a test VM: no Go toolchain
	} else if out, err := exec.Command("go", "build", "-o", glsotelBin, "../cmd/glsotel").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

func glsotel(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(glsotelBin, args...))
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
}

func fixture(t *testing.T) string {
	return testbuild.Build(t, "apps/gls", testbuild.Toolchains[0], false)
}

func TestRunDemo(t *testing.T) {
	r := glsotel(t, "run", "--", fixture(t), "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "observations 9") || !strings.Contains(r.stderr, "9 observations, 9 as expected") {
		t.Fatalf("code %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"sees 100 inherited from goroutine", "stores 200", "sees nothing [ok]"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("tree lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	if r := glsotel(t, "run", "--", fixture(t), "exit", "3"); r.code != 3 {
		t.Fatalf("exit status %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
}

// A signal to the agent reaches the program, and the agent exits as the
// program did (128+SIGTERM).
func TestRunForwardsSignals(t *testing.T) {
	cmd := exec.Command(glsotelBin, "run", "--", fixture(t), "await")
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		t.Fatalf("fixture said %q; stderr:\n%s", line, errb.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if got := cmd.ProcessState.ExitCode(); got != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit status %d, want %d; stderr:\n%s", got, 128+int(syscall.SIGTERM), errb.String())
	}
}

func TestAttach(t *testing.T) {
	app := exec.Command(fixture(t), "await")
	stdout, _ := app.StdoutPipe()
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer app.Process.Kill()
	rd := bufio.NewReader(stdout)
	if line, _ := rd.ReadString('\n'); line != "ready\n" {
		t.Fatalf("fixture said %q", line)
	}
	agent := exec.Command(glsotelBin, "attach", "--pid", strconv.Itoa(app.Process.Pid))
	agentErr, _ := agent.StderrPipe()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(agentErr)
	var lines []string
	for sc.Scan() && !strings.Contains(sc.Text(), "msg=attached") {
		lines = append(lines, sc.Text())
	}
	app.Process.Signal(syscall.SIGUSR1)
	app.Wait()
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	agent.Wait()
	all := strings.Join(lines, "\n")
	if agent.ProcessState.ExitCode() != 0 || !strings.Contains(all, "9 observations, 9 as expected") {
		t.Fatalf("agent exited %d:\n%s", agent.ProcessState.ExitCode(), all)
	}
}

// TestInspect: inspect names the injection path this kernel allows and
// what would attach to a program, loading nothing.
func TestInspect(t *testing.T) {
	r := glsotel(t, "inspect", fixture(t))
	path := injectPath(t)
	for _, want := range []string{"lockdown ", "injection  " + path + " (", "probe      runtime/goroutines       attaches", "probe      database/sql             left out: "} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("inspect: exit %d, stdout:\n%s\nstderr: %s\nwant a line with %q", r.code, r.stdout, r.stderr, want)
		}
	}
}

func TestVersion(t *testing.T) {
	if r := glsotel(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "glsotel ") {
		t.Fatalf("%+v", r)
	}
}

// Bad input: one line naming the problem, exit 2, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	old := buildOldGo(t, dir)
	for _, tc := range []struct {
		name string
		cmd  *exec.Cmd
		want string
	}{
		{"no command", exec.Command(glsotelBin), "usage"},
		{"unknown command", exec.Command(glsotelBin, "frobnicate"), `unknown command "frobnicate"`},
		{"run without program", exec.Command(glsotelBin, "run"), "name the program"},
		{"no such file", exec.Command(glsotelBin, "run", "--", "/no/such/program"), "/no/such/program: no such program"},
		{"not a Go binary", exec.Command(glsotelBin, "run", "--", script), "not a Go binary"},
		{"not a Go binary (ELF)", exec.Command(glsotelBin, "run", "--", "/bin/true"), "not a Go binary"},
		{"Go too old", exec.Command(glsotelBin, "run", "--", old), "built with go1.20.14; glsotel needs go1.21.0 or newer"},
		{"attach without target", exec.Command(glsotelBin, "attach"), "give one of --pid PID (GLSOTEL_TARGET_PID) or --exe PATH"},
		{"attach to a bad pid", exec.Command(glsotelBin, "attach", "--pid", "12ab"), `"12ab" is not a process id`},
		{"attach to no such exe", exec.Command(glsotelBin, "attach", "--exe", "no/such/exe"), "no/such/exe: no such file"},
		{"attach to a non-Go exe", exec.Command(glsotelBin, "attach", "--exe", "/bin/true"), "not a Go binary"},
		{"invalid OTEL variable", withEnv(exec.Command(glsotelBin, "run", "--", "/bin/true"), "OTEL_TRACES_SAMPLER=sometimes"), "OTEL_TRACES_SAMPLER"},
		{"invalid OTEL endpoint", withEnv(exec.Command(glsotelBin, "run", "--", "/bin/true"), "OTEL_EXPORTER_OTLP_ENDPOINT=::nope"), "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"invalid query text mode", withEnv(exec.Command(glsotelBin, "run", "--", "/bin/true"), "GLSOTEL_DB_QUERY_TEXT=verbatim"), "GLSOTEL_DB_QUERY_TEXT"},
		{"invalid injection", withEnv(exec.Command(glsotelBin, "run", "--", "/bin/true"), "GLSOTEL_INJECT=always"), "GLSOTEL_INJECT"},
		{"inspect a non-Go program", exec.Command(glsotelBin, "inspect", "/bin/true"), "not a Go binary"},
		{"attach to no process", exec.Command(glsotelBin, "attach", "--pid", "999999999"), "process 999999999"},
		{"bad self-metrics address", withEnv(exec.Command(glsotelBin, "run", "--", fixture(t), "demo"), "GLSOTEL_METRICS_ADDR=localhost"), "GLSOTEL_METRICS_ADDR \"localhost\": want HOST:PORT"},
		{"busy self-metrics port", exec.Command(glsotelBin, "run", "--metrics", busyAddr(t), "--", fixture(t), "demo"), "self-metrics address"},
		{"bad flag", exec.Command(glsotelBin, "run", "--frob", "--", "/bin/true"), "flag provided but not defined"},
		{"not privileged", unprivileged(t, "run", "--", fixture(t), "demo"), "needs root, or CAP_BPF and CAP_PERFMON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.cmd)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q, want exit 2 and %q", r.code, r.stderr, tc.want)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("stack trace on stderr:\n%s", r.stderr)
			}
		})
	}
}

// busyAddr is an address some listener holds until the test ends.
func busyAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func withEnv(cmd *exec.Cmd, kv ...string) *exec.Cmd {
	cmd.Env = append(os.Environ(), kv...)
	return cmd
}

// unprivileged runs glsotel as nobody with no capabilities. Programs named
// in args are copied next to glsotel, where nobody can read them.
func unprivileged(t *testing.T, args ...string) *exec.Cmd {
	for i, a := range args {
		if b, err := os.ReadFile(a); err == nil {
			args[i] = filepath.Join(filepath.Dir(glsotelBin), filepath.Base(a))
			if err := os.WriteFile(args[i], b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", glsotelBin}, args...)...)
}

// buildOldGo builds a program with Go 1.20, older than glsotel supports.
func buildOldGo(t *testing.T, dir string) string {
	src := filepath.Join(dir, "old")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module old\n\ngo 1.20\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644)
	return testbuild.Build(t, src, testbuild.Toolchain{Name: "go1.20", Version: "go1.20.14"}, false)
}
