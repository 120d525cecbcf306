// Package pgtest starts private, throwaway PostgreSQL servers for tests,
// from the Debian server packages (apt-get install postgresql).
//
// Each server gets its own freshly initdb'd cluster in a private temporary
// directory, listens on a free 127.0.0.1 port and on a unix socket in a
// private directory, uses trust authentication, and runs with durability
// turned off (fsync, synchronous_commit, full_page_writes) for speed. No
// system-wide service is started or used.
//
// PostgreSQL refuses to run as root: when the test runs as root, initdb and
// postgres run as the "postgres" system user (created by the Debian package)
// and the server's directory is chowned to it. Otherwise they run as the
// current user.
//
// The postmaster is started with a parent-death signal (SIGQUIT, immediate
// shutdown), so it does not outlive the test binary even if the binary is
// killed or panics before its cleanups run; only the temporary directory is
// then left behind.
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tunables.
const (
	readyTimeout = 30 * time.Second // wait for the server to accept connections
	stopTimeout  = 20 * time.Second // wait for a fast shutdown before escalating
	portAttempts = 5                // startups retried when the port was taken
	superuser    = "postgres"       // bootstrap superuser role (initdb -U)
	systemUser   = "postgres"       // OS user to run as when we are root
)

// Server is a running private PostgreSQL server.
type Server struct {
	Host      string // "127.0.0.1"
	Port      int    // TCP port on Host
	SocketDir string // directory holding the unix socket .s.PGSQL.<Port>
	User      string // superuser role name ("postgres"); trust auth, no password
	DataDir   string // the cluster's data directory
	LogFile   string // the server's stderr log
	BinDir    string // directory of the PostgreSQL server binaries used

	dir      string // private root directory (removed on cleanup)
	cmd      *exec.Cmd
	done     chan struct{} // closed when the postmaster has exited
	waitErr  error         // postmaster's exit status, valid once done is closed
	stopOnce sync.Once
	stopErr  error
}

// Start initdb's a fresh cluster in a private directory and starts postgres on
// a free 127.0.0.1 port and a private unix socket directory; t.Cleanup stops
// it (fast shutdown) and removes the directory. Startup takes well under a
// second. It fails the test (never skips) with a message naming what is
// missing or the tail of the server log.
//
// Like t.Fatal, Start must be called from the test's goroutine.
func Start(t testing.TB) *Server {
	t.Helper()
	start := time.Now()

	bin, err := findBinDir()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cred, uid, gid, err := runAs()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}

	dir, err := makeRoot()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{
		Host:      "127.0.0.1",
		SocketDir: filepath.Join(dir, "sock"),
		User:      superuser,
		DataDir:   filepath.Join(dir, "data"),
		LogFile:   filepath.Join(dir, "postgres.log"),
		BinDir:    bin,
		dir:       dir,
	}
	// Registered before anything else can fail: stops the server if it was
	// started and always removes the directory.
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("pgtest: removing %s: %v", dir, err)
		}
	})

	if err := os.Mkdir(s.SocketDir, 0o755); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if cred != nil {
		for _, p := range []string{dir, s.SocketDir} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatalf("pgtest: %v", err)
			}
		}
	}

	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", s.DataDir, "-A", "trust", "-U", superuser,
		"--no-sync", "-E", "UTF8", "--no-locale", "--no-instructions")
	s.prepare(initdb, cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb failed: %v\n%s", err, tail(out, 40))
	}
	tInit := time.Since(start)

	for attempt := 1; ; attempt++ {
		port, err := pickPort()
		if err != nil {
			t.Fatalf("pgtest: picking a free port: %v", err)
		}
		inUse, err := s.startPostmaster(port, cred)
		if err == nil {
			break
		}
		if inUse && attempt < portAttempts {
			t.Logf("pgtest: port %d was taken, retrying", port)
			continue
		}
		t.Fatalf("pgtest: %v", err)
	}
	t.Logf("pgtest: PostgreSQL (%s) on %s:%d, socket dir %s, started in %v (initdb %v)",
		bin, s.Host, s.Port, s.SocketDir, time.Since(start).Round(time.Millisecond), tInit.Round(time.Millisecond))
	return s
}

// startPostmaster starts postgres on port and waits until it accepts
// connections. inUse reports a failure because the port was already taken.
func (s *Server) startPostmaster(port int, cred *syscall.Credential) (inUse bool, err error) {
	logf, err := os.OpenFile(s.LogFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, err
	}
	defer logf.Close() // the child has its own copy

	cmd := exec.Command(filepath.Join(s.BinDir, "postgres"),
		"-D", s.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.SocketDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
		"-c", "logging_collector=off",
	)
	s.prepare(cmd, cred)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so a last-resort SIGKILL reaches the backends too;
	// SIGQUIT (immediate shutdown) if the test binary dies without cleanup.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT

	done := make(chan struct{})
	started := make(chan error, 1)
	// The parent-death signal fires when the thread that forked the child
	// exits, not the process; keep that thread alive (and to ourselves)
	// until the postmaster has been reaped.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(done)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return false, fmt.Errorf("starting postgres: %v", err)
	}
	s.cmd, s.done, s.Port = cmd, done, port

	pidFile := filepath.Join(s.DataDir, "postmaster.pid")
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			log := s.logTail(40)
			s.cmd, s.done = nil, nil
			inUse := strings.Contains(log, "Address already in use")
			return inUse, fmt.Errorf("postgres exited during startup (%v); server log:\n%s", s.waitErr, log)
		case <-tick.C:
		}
		if ready(pidFile) {
			return false, nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("postgres not ready after %v; server log:\n%s", readyTimeout, s.logTail(40))
			s.Stop()
			return false, err
		}
	}
}

// ready reports whether postmaster.pid says the server accepts connections
// (line 8 is the postmaster status, "ready" once startup is complete; this
// is what pg_ctl -w checks).
func ready(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	return len(lines) > 7 && strings.TrimSpace(lines[7]) == "ready"
}

// Stop shuts the server down (fast shutdown: SIGINT, escalating to SIGQUIT
// and then SIGKILL of the process group if it takes too long). It is
// idempotent and called automatically on test cleanup; the directory is
// removed only at cleanup.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		p, done := s.cmd.Process, s.done
		p.Signal(syscall.SIGINT)
		select {
		case <-done:
			return
		case <-time.After(stopTimeout):
		}
		p.Signal(syscall.SIGQUIT)
		select {
		case <-done:
			s.stopErr = fmt.Errorf("postgres (pid %d) needed an immediate shutdown; log:\n%s", p.Pid, s.logTail(20))
			return
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-p.Pid, syscall.SIGKILL)
		<-done
		s.stopErr = fmt.Errorf("postgres (pid %d) had to be killed; log:\n%s", p.Pid, s.logTail(20))
	})
	return s.stopErr
}

// CreateDB creates database name (owned by the superuser) and returns name.
// It fails the test on error.
func (s *Server) CreateDB(t testing.TB, name string) string {
	t.Helper()
	s.Psql(t, "postgres", "CREATE DATABASE "+quoteIdent(name))
	return name
}

// URL returns a postgres:// URL for database db over TCP (sslmode=disable),
// usable by lib/pq and pgx.
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(s.User),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// KeyValue returns a key=value DSN for database db over TCP:
// host=127.0.0.1 port=N user=postgres dbname=db sslmode=disable.
func (s *Server) KeyValue(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable",
		s.Host, s.Port, quoteValue(s.User), quoteValue(db))
}

// Psql runs sql (one or more ;-separated statements) through psql against
// database db over TCP, stopping at the first error, and returns its output:
// unaligned, tuples only, columns separated by "|", one row per line, with
// the trailing newline removed. It fails the test on error.
func (s *Server) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	psql := filepath.Join(s.BinDir, "psql")
	if _, err := os.Stat(psql); err != nil {
		if psql, err = exec.LookPath("psql"); err != nil {
			t.Fatalf("pgtest: psql not found in %s or $PATH: apt-get install postgresql-client", s.BinDir)
		}
	}
	cmd := exec.Command(psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-d", s.KeyValue(db), "-f", "-")
	cmd.Env = append(cleanEnv(), "PGCONNECT_TIMEOUT=10")
	cmd.Stdin = strings.NewReader(sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgtest: psql on database %q: %v\nSQL:\n%s\nstderr:\n%s", db, err, sql, stderr.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n")
}

// prepare sets up a server-side command (initdb, postgres): run as cred,
// from the private directory (the test's working directory may not be
// accessible to the postgres user, and initdb fails if it cannot stat its
// cwd), with C messages and no libpq/PG* environment.
func (s *Server) prepare(cmd *exec.Cmd, cred *syscall.Credential) {
	cmd.Dir = s.dir
	cmd.Env = append(cleanEnv(), "LC_ALL=C", "LANG=C", "HOME="+s.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
}

// logTail returns the last n lines of the server log.
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(b, n)
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// findBinDir returns the directory of the server binaries: $PGTEST_BINDIR if
// set, else the newest /usr/lib/postgresql/<version>/bin with initdb, else
// pg_config --bindir if it holds initdb.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PGTEST_BINDIR"); d != "" {
		if !has(d) {
			return "", fmt.Errorf("PGTEST_BINDIR=%s has no initdb and postgres", d)
		}
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	type cand struct {
		ver []int
		dir string
	}
	var cands []cand
	for _, m := range matches {
		dir := filepath.Dir(m)
		v := filepath.Base(filepath.Dir(dir))
		var ver []int
		for _, f := range strings.Split(v, ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				ver = nil
				break
			}
			ver = append(ver, n)
		}
		if ver != nil && has(dir) {
			cands = append(cands, cand{ver, dir})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return lessVer(cands[j].ver, cands[i].ver) })
	if len(cands) > 0 {
		return cands[0].dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/*/bin " +
		"nor in pg_config --bindir: apt-get install postgresql")
}

func lessVer(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// runAs returns the credential to run the server with: nil (ourselves)
// unless we are root, then the postgres system user.
func runAs() (cred *syscall.Credential, uid, gid int, err error) {
	if os.Geteuid() != 0 {
		return nil, 0, 0, nil
	}
	u, err := user.Lookup(systemUser)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, and PostgreSQL refuses to: need the %q system user to run it as (%v): apt-get install postgresql", systemUser, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("user %q has non-numeric uid/gid %q/%q", systemUser, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// makeRoot creates the server's private directory. The base is
// $PGTEST_TMPDIR if set; else /dev/shm when it is a tmpfs with at least
// 1 GiB free (initdb is about twice as fast in memory as on a disk-backed
// /tmp; a fresh cluster takes ~40 MB); else $TMPDIR, falling back to /tmp
// when, running as root, $TMPDIR is not reachable by the postgres user (an
// ancestor lacks o+x). The unix socket path must stay under ~107 bytes.
func makeRoot() (string, error) {
	base := os.Getenv("PGTEST_TMPDIR")
	if base == "" {
		switch {
		case roomyTmpfs("/dev/shm") && searchable("/dev/shm"):
			base = "/dev/shm"
		case os.Geteuid() == 0 && !searchable(os.TempDir()):
			base = "/tmp"
		default:
			base = os.TempDir()
		}
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", err
	}
	// 0755: the data directory inside stays 0700 (initdb), but the socket
	// directory is reachable by other users.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// roomyTmpfs reports whether dir is a writable tmpfs with at least 1 GiB free.
func roomyTmpfs(dir string) bool {
	const tmpfsMagic = 0x01021994
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type != tmpfsMagic {
		return false
	}
	return st.Bavail*uint64(st.Bsize) >= 1<<30 && syscall.Access(dir, 2 /* W_OK */) == nil
}

func searchable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// pickPort is freePort, replaceable by tests.
var pickPort = freePort

// freePort returns a 127.0.0.1 TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is the environment without PG* variables (libpq and the server
// read them: PGHOST, PGPORT, PGDATA, PGSSLMODE, PGOPTIONS...).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteValue quotes a libpq key=value value when needed.
func quoteValue(s string) string {
	if s != "" && !strings.ContainsAny(s, ` '\`+"\t\n") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}
