package propagation

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const testLine = "Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"

// arm does what the client probe does just before a request is written:
// arms c's connection with the header line.
func arm(t *testing.T, in *SockMsgInjector, c net.Conn, line string) {
	t.Helper()
	l, r := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	k := injectInjectKey{Tgid: uint32(os.Getpid()), Lport: uint16(l.Port), Rport: uint16(r.Port)}
	copy(k.Raddr[:], r.IP.To16())
	h := injectInjectHeader{Len: uint32(len(line))}
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
