package propagation

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

const testLine = "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"

// arm does what the client probe does just before a request is written:
// arms c's connection with the header line.
func arm(t *testing.T, in *SockMsgInjector, c net.Conn, line string) {
	t.Helper()
	armReplace(t, in, c, line, false)
}

// kernelTgid is this process's id as BPF programs see it
// (bpf_get_current_pid_tgid: the initial pid namespace's), which the client
// probe arms under; os.Getpid differs inside a pid namespace. A raw
// tracepoint program run with BPF_PROG_TEST_RUN runs in our task.
func kernelTgid(t *testing.T) uint32 {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{
			asm.FnGetCurrentPidTgid.Call(),
			asm.RSh.Imm(asm.R0, 32),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	ret, err := prog.Run(&ebpf.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

// TestSockMsgInjectorPidNamespace: the agent in a pid namespace of its
// own (a sidecar sharing its app's: the app is pid 1 there) tracks pids
// as it sees them, not as the kernel's task->tgid has them. Runs
// TestSockMsgInjector in a new pid namespace (unshare(1)).
func TestSockMsgInjectorPidNamespace(t *testing.T) {
	if os.Getenv("GLSOTEL_TEST_IN_PIDNS") != "" {
		t.Skip("already inside")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) to make a pid namespace")
	}
	cmd := exec.Command(unshare, "--pid", "--fork", "--mount-proc", os.Args[0], "-test.run", "^TestSockMsgInjector$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GLSOTEL_TEST_IN_PIDNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSockMsgInjector") {
		t.Fatalf("TestSockMsgInjector in a pid namespace: %v\n%s", err, out)
	}
	if ns, err := ownPidNamespace(); err != nil || ns != 0 {
		t.Errorf("our own pid namespace: %d, %v; want 0 (the initial one)", ns, err)
	}
}

// armReplace arms c like arm; replace: the request carries a forwarded
// traceparent whose value the line's replaces.
func armReplace(t *testing.T, in *SockMsgInjector, c net.Conn, line string, replace bool) {
	t.Helper()
	l, r := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	k := injectInjectKey{Tgid: kernelTgid(t), Lport: uint16(l.Port), Rport: uint16(r.Port)}
	copy(k.Raddr[:], r.IP.To16())
	h := injectInjectHeader{Len: uint32(len(line))}
	if replace {
		h.Replace = 1
	}
	copy(h.S[:], line)
	if err := in.Armed().Put(k, h); err != nil {
		t.Fatal(err)
	}
}

// pair connects to a listener of its own on network/addr and returns the
// client side and what the server side reads.
func pair(t *testing.T, network, addr string) (net.Conn, func(n int) string) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	srv := <-accepted
	t.Cleanup(func() { srv.Close() })
	return c, func(n int) string {
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, n)
		if _, err := io.ReadFull(srv, b); err != nil {
			t.Fatalf("read %d bytes: %v (got %q)", n, err, b)
		}
		return string(b)
	}
}

// TestSockMsgInjector drives the sockops + sk_msg programs over real
// loopback connections of this process: exactly the armed message gets the
// line, right after an HTTP/1.x request line, and nothing else changes.
func TestSockMsgInjector(t *testing.T) {
	// A connection made before tracking starts is adopted (pidfd_getfd).
	early, readEarly := pair(t, "tcp4", "127.0.0.1:0")
	in, err := StartSockMsgInjector(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	req := "GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"
	injected := "GET /a?b=c HTTP/1.1\r\n" + testLine + "Host: x\r\n\r\n"
	long := "GET /" + strings.Repeat("a", 3000) + " HTTP/1.1\r\n\r\n"

	for _, tc := range []struct {
		name, network, addr string
		armed               bool
		send                []string
		want                string
	}{
		{"request", "tcp4", "127.0.0.1:0", true, []string{req}, injected},
		{"ipv6", "tcp6", "[::1]:0", true, []string{req}, injected},
		{"http/1.0", "tcp4", "127.0.0.1:0", true, []string{"POST / HTTP/1.0\r\n\r\nbody"}, "POST / HTTP/1.0\r\n" + testLine + "\r\nbody"},
		{"not armed", "tcp4", "127.0.0.1:0", false, []string{req}, req},
		// The armed message is not a request: left alone, and the arm is
		// spent, so a later request-looking message is not touched.
		{"body first", "tcp4", "127.0.0.1:0", true, []string{"xGET / HTTP/1.1\r\n", req}, "xGET / HTTP/1.1\r\n" + req},
		{"http/2 preface", "tcp4", "127.0.0.1:0", true, []string{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"lowercase method", "tcp4", "127.0.0.1:0", true, []string{"get / HTTP/1.1\r\n\r\n"}, "get / HTTP/1.1\r\n\r\n"},
		{"line too long", "tcp4", "127.0.0.1:0", true, []string{long}, long},
		{"line split over writes", "tcp4", "127.0.0.1:0", true, []string{"GET /split", " HTTP/1.1\r\n\r\n"}, "GET /split HTTP/1.1\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, read := pair(t, tc.network, tc.addr)
			if tc.armed {
				arm(t, in, c, testLine)
			}
			for _, m := range tc.send {
				if _, err := c.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // one message per write
			}
			if got := read(len(tc.want)); got != tc.want {
				t.Errorf("server read %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("large body", func(t *testing.T) {
		c, read := pair(t, "tcp4", "127.0.0.1:0")
		body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB in one write
		arm(t, in, c, testLine)
		go c.Write(append([]byte(req), body...))
		if got := read(len(injected) + len(body)); got != injected+string(body) {
			t.Errorf("1 MiB request came out changed beyond the line (%d bytes)", len(got))
		}
	})
	t.Run("adopted connection", func(t *testing.T) {
		arm(t, in, early, testLine)
		early.Write([]byte(req))
		if got := readEarly(len(injected)); got != injected {
			t.Errorf("connection made before Track: server read %q, want %q", got, injected)
		}
	})
	out := in.Outcomes()
	t.Logf("outcomes %v", out)
	if out["injected"] != 5 || out["not_request"] != 5 {
		t.Errorf("outcomes %v, want 5 injected, 5 not_request", out)
	}
}

func TestParseInjection(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", "sk_msg": "sk_msg", "write_user": "write_user", "off": "off"} {
		if got, err := ParseInjection(in); err != nil || got != want {
			t.Errorf("ParseInjection(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseInjection("writeuser"); err == nil || !strings.Contains(err.Error(), "GLSOTEL_INJECT") {
		t.Errorf("ParseInjection(writeuser): %v, want an error naming GLSOTEL_INJECT", err)
	}
}

// TestChooseInjection: auto takes write_user exactly where the kernel
// allows bpf_probe_write_user, and sk_msg otherwise (our hosts are locked
// down; make vmtest runs this in kernels that are not).
func TestChooseInjection(t *testing.T) {
	mode, why, err := ChooseInjection(InjectAuto)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := Lockdown()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lockdown %s: %s (%s)", lock, mode, why)
	want := InjectSockMsg
	if lock == "none" {
		want = InjectWriteUser
	}
	if mode != want {
		t.Errorf("auto chose %s under lockdown %q, want %s", mode, lock, want)
	}
	if lock != "none" {
		if _, _, err := ChooseInjection("write_user"); err == nil {
			t.Error("write_user asked for under lockdown: no error")
		}
	}
}

// TestRequestLineSweep sends, on one keep-alive connection per method and
// protocol, a request line of every length the injector takes — from
// "GET / HTTP/1.1" up to LINE_MAX (2048) bytes with its CRLF — with a
// random target each time, armed before each write: every one gets the line
// right after its request line. One byte longer is left alone and counted
// not_request. (The fixed check once refused lines under 17 bytes: every
// "GET /" went out without traceparent.)
func TestRequestLineSweep(t *testing.T) {
	in, err := StartSockMsgInjector(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const lineMax = 2048
	rng := rand.New(rand.NewSource(19))
	target := func(n int) string {
		const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@/?"
		b := make([]byte, n)
		b[0] = '/'
		for i := 1; i < n; i++ {
			b[i] = chars[rng.Intn(len(chars))]
		}
		return string(b)
	}
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
	found, sent := map[string]int{}, map[string]int{}
	var wantNot uint64
	for _, method := range methods {
		for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
			c, read := pair(t, "tcp4", "127.0.0.1:0")
			// Line length with CRLF: method, space, target, space, proto, CRLF.
			fixed := len(method) + 1 + 1 + len(proto) + 2
			for n := fixed + 1; n <= lineMax+1; n++ {
				// Every length for GET HTTP/1.1; for the others every
				// short one, and the longest.
				if !(method == "GET" && proto == "HTTP/1.1") && n > fixed+64 && n < lineMax-8 {
					continue
				}
				line := method + " " + target(n-fixed) + " " + proto + "\r\n"
				req := line + "Host: x\r\nContent-Length: 0\r\n\r\n"
				want := line + testLine + "Host: x\r\nContent-Length: 0\r\n\r\n"
				if n > lineMax {
					want = req
					wantNot++
				}
				arm(t, in, c, testLine)
				if _, err := c.Write([]byte(req)); err != nil {
					t.Fatal(err)
				}
				key := method + " " + proto
				if n <= lineMax {
					sent[key]++
				}
				if got := read(len(want)); got == want && n <= lineMax {
					found[key]++
				} else if got != want {
					t.Errorf("%s line of %d bytes: server read %.80q…, want %.80q…", key, n, got, want)
				}
			}
		}
	}
	for _, method := range methods {
		for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
			key := method + " " + proto
			t.Logf("%-16s injected %d/%d request lines", key, found[key], sent[key])
		}
	}
	out := in.Outcomes()
	total := 0
	for _, n := range sent {
		total += n
	}
	if out["injected"] != uint64(total) || out["not_request"] != wantNot {
		t.Errorf("outcomes %v, want %d injected, %d not_request", out, total, wantNot)
	}
}

// TestForwardedTraceparentReplaced: a proxy forwards the traceparent its
// request came in with; the injector overwrites that line's value with the
// client span's (same length: nothing moves), wherever it stands among
// every count of header lines before it (random names and sizes) and in
// any case, up to the scan's end (4096 bytes); beyond, or with the header
// only in the body, it inserts its line after the request line as usual
// and the body is left alone.
func TestForwardedTraceparentReplaced(t *testing.T) {
	in, err := StartSockMsgInjector(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const scan = 4096
	forwarded := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ours := testLine[len("Traceparent: ") : len(testLine)-2]
	rng := rand.New(rand.NewSource(7))
	c, read := pair(t, "tcp4", "127.0.0.1:0")
	names := []string{"Traceparent", "traceparent", "TRACEPARENT", "TraceParent"}
	var replaced, inserted uint64
	for k := 0; k <= 120; k++ {
		line := "GET / HTTP/1.1\r\n"
		var before strings.Builder
		for range k {
			name := "X-H" + strings.Repeat("a", rng.Intn(12))
			fmt.Fprintf(&before, "%s: %s\r\n", name, strings.Repeat("v", rng.Intn(60)))
		}
		name := names[k%len(names)]
		body := "\nTraceparent: " + forwarded + "\r\n"
		head := line + before.String() + name + ": " + forwarded + "\r\nTracestate: a=b\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
		req := head + body
		var want string
		// The value's CR within the first scan bytes.
		if len(line+before.String())+len(name)+2+len(forwarded) < scan {
			want = strings.Replace(head, forwarded, ours, 1) + body
			replaced++
		} else {
			want = line + testLine + head[len(line):] + body
			inserted++
		}
		armReplace(t, in, c, testLine, true)
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if got := read(len(want)); got != want {
			t.Errorf("%d header lines (%d bytes) before %s: server read %.120q…, want %.120q…", k, before.Len(), name, got, want)
		}
	}
	// Only in the body: not a header; inserted.
	req := "POST /x HTTP/1.1\r\nContent-Length: 70\r\n\r\n\nTraceparent: " + forwarded + "\r\n"
	armReplace(t, in, c, testLine, true)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	want := "POST /x HTTP/1.1\r\n" + testLine + req[len("POST /x HTTP/1.1\r\n"):]
	if got := read(len(want)); got != want {
		t.Errorf("header in the body only: server read %q, want %q", got, want)
	}
	inserted++
	out := in.Outcomes()
	t.Logf("replaced %d, inserted %d (beyond %d bytes or not a header); outcomes %v", replaced, inserted, scan, out)
	if out["replaced"] != replaced || out["injected"] != inserted {
		t.Errorf("outcomes %v, want %d replaced, %d injected", out, replaced, inserted)
	}
}

// TestStaleArmNotReused: a connection armed for a request it never sent
// (it broke first) leaves its arm behind; a new connection on the same
// 4-tuple must not take that line into its first message, whatever it is.
func TestStaleArmNotReused(t *testing.T) {
	in, err := StartSockMsgInjector(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reuse := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	// The first connection's port is one below the ephemeral range, so no
	// other test's connection takes it before it is dialled again.
	for port := 20000 + os.Getpid()%8000; ; port++ {
		if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			reuse.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
			break
		}
	}
	dial := func() (net.Conn, net.Conn) {
		t.Helper()
		c, err := reuse.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c, srv
	}
	c, srv := dial()
	arm(t, in, c, testLine)
	// The server closes first, so the client side keeps no TIME_WAIT and
	// its port can be bound again at once.
	srv.Close()
	io.ReadAll(c)
	local := c.LocalAddr().(*net.TCPAddr)
	c.Close()
	reuse.LocalAddr = local
	var c2, srv2 net.Conn
	deadline := time.Now().Add(5 * time.Second)
	for {
		c2, err = reuse.Dial("tcp4", ln.Addr().String())
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dial again from %v: %v", local, err)
	}
	defer c2.Close()
	if srv2, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	req := "GET /after-a-broken-one HTTP/1.1\r\nHost: x\r\n\r\n"
	c2.Write([]byte(req))
	srv2.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(req)+len(testLine))
	n, _ := io.ReadAtLeast(srv2, got, len(req))
	if string(got[:n]) != req {
		t.Errorf("new connection on %v's 4-tuple: server read %q, want %q (the stale arm was used)", local, got[:n], req)
	}
	if out := in.Outcomes(); out["injected"] != 0 {
		t.Errorf("outcomes %v: a stale arm was spent", out)
	}
}
