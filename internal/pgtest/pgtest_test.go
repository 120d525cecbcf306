package pgtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_HELPER") == "orphan" {
		orphanHelper()
		return
	}
	code := m.Run()
	// Every postmaster must have been stopped and reaped.
	if kids := children(os.Getpid()); len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "pgtest: processes left running: %v\n", kids)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func TestServer(t *testing.T) {
	s := Start(t)
	if s.Host != "127.0.0.1" || s.Port <= 0 || s.User != "postgres" {
		t.Fatalf("server %+v", s)
	}
	if _, err := os.Stat(filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(s.Port))); err != nil {
		t.Errorf("unix socket: %v", err)
	}
	c, err := net.Dial("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatalf("TCP: %v", err)
	}
	c.Close()

	db := s.CreateDB(t, "shop")
	if db != "shop" {
		t.Errorf("CreateDB = %q", db)
	}
	s.Psql(t, db, `
		CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
		INSERT INTO items VALUES (1, 'apple'), (2, 'pear');
		INSERT INTO items VALUES (3, 'plum');
	`)
	if got, want := s.Psql(t, db, "SELECT id, name FROM items ORDER BY id"), "1|apple\n2|pear\n3|plum"; got != want {
		t.Errorf("select = %q, want %q", got, want)
	}
	if got := s.Psql(t, db, "SELECT count(*) FROM items WHERE id > 1"); got != "2" {
		t.Errorf("count = %q", got)
	}
	for setting, want := range map[string]string{
		"max_connections":    "200",
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"listen_addresses":   "127.0.0.1",
		"shared_buffers":     "32MB",
		"server_encoding":    "UTF8",
	} {
		if got := s.Psql(t, db, "SHOW "+setting); got != want {
			t.Errorf("%s = %q, want %q", setting, got, want)
		}
	}
	// The table lives in "shop" only.
	if got := s.Psql(t, "postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'items'"); got != "0" {
		t.Errorf("items visible in database postgres: %q", got)
	}

	wantURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/shop?sslmode=disable", s.Port)
	if got := s.URL(db); got != wantURL {
		t.Errorf("URL = %q, want %q", got, wantURL)
	}
	wantKV := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=shop sslmode=disable", s.Port)
	if got := s.KeyValue(db); got != wantKV {
		t.Errorf("KeyValue = %q, want %q", got, wantKV)
	}
	// psql accepts both forms, also with awkward database names.
	odd := s.CreateDB(t, `my db's "x"`)
	for _, dsn := range []string{s.URL(odd), s.KeyValue(odd)} {
		out, err := exec.Command(filepath.Join(s.BinDir, "psql"), "-X", "-At", "-d", dsn, "-c", "SELECT current_database()").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != odd {
			t.Errorf("psql -d %q: %v: %s", dsn, err, out)
		}
	}
}

func TestTwoServers(t *testing.T) {
	var wg sync.WaitGroup
	srv := make([]*Server, 2)
	for i := range srv {
		// Start both at once (Start's t.Fatalf needs the test goroutine,
		// hence startNoFatal).
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv[i] = startNoFatal(t)
		}()
	}
	wg.Wait()
	if srv[0] == nil || srv[1] == nil {
		t.Fatal("a server did not start")
	}
	a, b := srv[0], srv[1]
	if a.Port == b.Port || a.SocketDir == b.SocketDir || a.DataDir == b.DataDir {
		t.Fatalf("servers share port or directories: %+v %+v", a, b)
	}
	a.Psql(t, "postgres", "CREATE TABLE only_a (x int); INSERT INTO only_a VALUES (42)")
	if got := a.Psql(t, "postgres", "SELECT x FROM only_a"); got != "42" {
		t.Errorf("a: %q", got)
	}
	if got := b.Psql(t, "postgres", "SELECT count(*) FROM pg_tables WHERE tablename = 'only_a'"); got != "0" {
		t.Errorf("table of server a visible on server b: %q", got)
	}
	if pa, pb := a.Psql(t, "postgres", "SELECT pg_backend_pid() <> 0, inet_server_port()"), b.Psql(t, "postgres", "SELECT pg_backend_pid() <> 0, inet_server_port()"); pa != "t|"+strconv.Itoa(a.Port) || pb != "t|"+strconv.Itoa(b.Port) {
		t.Errorf("server ports seen by psql: %q %q", pa, pb)
	}
}

// startNoFatal calls Start from another goroutine; a failure is reported
// with Errorf and nil is returned.
func startNoFatal(t *testing.T) (s *Server) {
	tb := &recordTB{TB: t}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s = Start(tb)
	}()
	<-finished
	t.Cleanup(tb.runCleanups)
	if tb.failed {
		t.Errorf("Start: %s", tb.msg)
		return nil
	}
	return s
}

func TestStop(t *testing.T) {
	s := Start(t)
	pid := s.cmd.Process.Pid
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("postmaster %d still running after Stop", pid)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), time.Second); err == nil {
		t.Errorf("port %d still accepting after Stop", s.Port)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !strings.Contains(s.logTail(5), "database system is shut down") {
		t.Errorf("no clean shutdown in log:\n%s", s.logTail(20))
	}
}

// A test failing midway (here in Psql) still stops the server and removes
// its directory.
func TestCleanupAfterFailure(t *testing.T) {
	tb := &recordTB{TB: t}
	var s *Server
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s = Start(tb)
		tb.Logf("pid %d", s.cmd.Process.Pid)
		s.Psql(tb, "postgres", "SELECT * FROM no_such_table")
		t.Error("Psql did not fail")
	}()
	<-finished
	if !tb.failed || !strings.Contains(tb.msg, "no_such_table") {
		t.Fatalf("failure not reported as expected: %q", tb.msg)
	}
	if s == nil {
		t.Fatal("Start failed")
	}
	pid := s.cmd.Process.Pid
	if !alive(pid) {
		t.Fatal("postmaster died before cleanup")
	}
	tb.runCleanups()
	if alive(pid) {
		t.Errorf("postmaster %d still running after cleanup", pid)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s not removed: %v", s.dir, err)
	}
}

// Startup retries with another port when postgres finds its port taken.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()
	s := Start(t)
	if calls != 2 || s.Port == taken {
		t.Errorf("port %d after %d picks (taken: %d)", s.Port, calls, taken)
	}
	if got := s.Psql(t, "postgres", "SELECT 1"); got != "1" {
		t.Errorf("SELECT 1 = %q", got)
	}
}

// If the test binary dies without running cleanups, the postmaster goes
// too (parent-death signal).
func TestOrphanedServerExits(t *testing.T) {
	// Adopt the orphans (instead of init), so they can be reaped here and
	// leave no zombie behind.
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", e)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PGTEST_HELPER=orphan")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	if _, err := fmt.Fscan(bufio.NewReader(out), &pid, &dir); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %v", err)
	}
	defer os.RemoveAll(dir)
	if !alive(pid) {
		t.Fatalf("postmaster %d not running", pid)
	}
	cmd.Process.Kill() // SIGKILL: no cleanup at all
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d survived its parent", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its backends and auxiliary processes too.
	for time.Now().Before(deadline) && len(pgrp(pid)) > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if left := pgrp(pid); len(left) > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
		t.Errorf("processes of the orphaned server left: %v", left)
	}
	reapGroup(pid)
}

const prSetChildSubreaper = 36

// reapGroup waits for the exited processes of process group pgid that were
// adopted by this (subreaper) process.
func reapGroup(pgid int) {
	for _, p := range procsAll(func(f []string) bool { return f[2] == strconv.Itoa(pgid) && f[1] == strconv.Itoa(os.Getpid()) }) {
		pid, _ := strconv.Atoi(strings.Fields(p)[0])
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

// orphanHelper starts a server from a thread that then exits (which must not
// fire the parent-death signal), prints the postmaster pid and directory,
// and waits to be killed.
func orphanHelper() {
	tb := &recordTB{}
	done := make(chan *Server)
	go func() {
		runtime.LockOSThread() // this thread exits with the goroutine
		done <- Start(tb)
	}()
	s := <-done
	if tb.failed {
		fmt.Fprintln(os.Stderr, tb.msg)
		os.Exit(1)
	}
	time.Sleep(200 * time.Millisecond)
	if !alive(s.cmd.Process.Pid) {
		fmt.Fprintln(os.Stderr, "postmaster died with the starting thread")
		os.Exit(1)
	}
	fmt.Println(s.cmd.Process.Pid, s.dir)
	select {}
}

// recordTB is a testing.TB whose Fatal stops the goroutine without failing
// the real test, and whose cleanups run on demand.
type recordTB struct {
	testing.TB // nil in the helper process: only the overridden methods are used
	mu         sync.Mutex
	failed     bool
	msg        string
	cleanups   []func()
}

func (r *recordTB) Helper() {}
func (r *recordTB) Logf(format string, args ...any) {
	if r.TB != nil {
		r.TB.Logf(format, args...)
	}
}
func (r *recordTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msg += fmt.Sprintf(format, args...) + "\n"
}
func (r *recordTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recordTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
func (r *recordTB) runCleanups() {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || s[i+2] != 'Z'
}

// children returns the live processes whose parent is ppid.
func children(ppid int) []string {
	return procs(func(f []string) bool { return f[1] == strconv.Itoa(ppid) })
}

// pgrp returns the live processes in process group pgid.
func pgrp(pgid int) []string {
	return procs(func(f []string) bool { return f[2] == strconv.Itoa(pgid) })
}

// procs lists "pid comm" of live processes whose /proc/pid/stat fields after
// the command (state, ppid, pgrp, ...) match.
func procs(match func(fields []string) bool) []string {
	return procsAll(func(f []string) bool { return f[0] != "Z" && match(f) })
}

// procsAll is procs including zombies.
func procsAll(match func(fields []string) bool) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || !match(f) {
			continue
		}
		out = append(out, fmt.Sprintf("%d %s", pid, s[strings.IndexByte(s, '(')+1:i]))
	}
	return out
}
