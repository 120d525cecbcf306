// Command httpsvc is a small service for glsotel's demo and end-to-end
// tests. It knows nothing of tracing: every span comes from the agent.
//
//	httpsvc serve ADDR   serve until GET /quit; prints "listening HOST:PORT"
//	httpsvc demo         serve on a free port, send a short burst of
//	                     requests over raw TCP (so the sender makes no
//	                     spans of its own), exit
//
// GET /panic?kind=K&id=N calls /leaf, then panics with a value of kind K;
// GET /recovered?kind=K&id=N does the same behind middleware that recovers,
// calls /leaf again and answers 500.
//
// GET /work?id=N fans out client calls to /leaf, each tagged id=N and
// from=WHERE: on the handler goroutine (handler), on goroutines 1, 2 and 3
// levels deep, each started by the one above it after which the starter
// exits (g1, g2, g3), on a worker pool started before any request (pool,
// fed the request context over a channel), and on a pool started by the
// first request (late, also fed the request context): the pooled workers
// carry no request of their own, or an earlier one.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type requestID struct{}

type job struct {
	ctx  context.Context
	url  string
	done chan struct{}
}

type service struct {
	base     string // http://HOST:PORT
	pool     chan job
	late     chan job
	lateOnce sync.Once
	quit     chan struct{}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: httpsvc serve ADDR | httpsvc demo")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		addr := "127.0.0.1:0"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		s, ln := start(addr)
		fmt.Println("listening", ln.Addr())
		<-s.quit
	case "demo":
		s, ln := start("127.0.0.1:0")
		demo(ln.Addr().String())
		_ = s
	default:
		fmt.Fprintln(os.Stderr, "httpsvc: unknown mode", os.Args[1])
		os.Exit(2)
	}
}

func start(addr string) (*service, net.Listener) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpsvc:", err)
		os.Exit(1)
	}
	s := &service{base: "http://" + ln.Addr().String(), pool: make(chan job), late: make(chan job), quit: make(chan struct{})}
	for i := 0; i < 4; i++ {
		go s.worker(s.pool) // before any request: no context of its own
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", s.work)
	mux.HandleFunc("GET /leaf", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaf\n") })
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "item", r.PathValue("id")) })
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "failed on purpose", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /panic", s.panics)
	mux.HandleFunc("GET /recovered", s.recovering(s.panics))
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(s.quit) }()
	})
	go http.Serve(ln, mux)
	return s, ln
}

// panicValue is a panic value of the program's own type.
type panicValue struct{ code int }

// panics calls /leaf, then panics with the value ?kind= names, as a
// handler's bug would; net/http recovers it and closes the connection.
func (s *service) panics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.call(context.Background(), s.base+"/leaf?id="+q.Get("id")+"&from=before-panic")
	switch q.Get("kind") {
	case "string":
		panic("boom")
	case "error":
		panic(fmt.Errorf("failed: %w", io.ErrUnexpectedEOF))
	case "value":
		panic(panicValue{7})
	case "pointer":
		panic(&panicValue{7})
	case "abort":
		panic(http.ErrAbortHandler)
	case "nil":
		var m map[string]*panicValue
		fmt.Fprintln(w, m["x"].code)
	case "index":
		var a []int
		fmt.Fprintln(w, a[len(q)])
	}
}

// recovering is middleware that turns a panic into a 500 (recovering it
// twice: once to re-panic) and then makes one more call: the request goes
// on after a recover below ServeHTTP.
func (s *service) recovering(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				s.call(context.Background(), s.base+"/leaf?id="+r.URL.Query().Get("id")+"&from=after-recover")
				http.Error(w, "recovered", http.StatusInternalServerError)
			}
		}()
		defer func() {
			if v := recover(); v != nil {
				panic(v)
			}
		}()
		h(w, r)
	}
}

func (s *service) worker(jobs <-chan job) {
	for j := range jobs {
		s.call(j.ctx, j.url)
		close(j.done)
	}
}

// call makes one client request with ctx.
func (s *service) call(ctx context.Context, url string) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (s *service) work(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	leaf := func(from string) string { return s.base + "/leaf?id=" + id + "&from=" + from }
	s.lateOnce.Do(func() {
		for i := 0; i < 4; i++ {
			go s.worker(s.late) // started by (and inheriting) the first request
		}
	})

	// On the handler goroutine, no context: GLS gives the parent.
	s.call(context.Background(), leaf("handler"))

	// Three levels of goroutines, each outliving its starter.
	var wg sync.WaitGroup
	wg.Add(3)
	var level func(n int)
	level = func(n int) {
		defer wg.Done()
		if n < 3 {
			go level(n + 1)
		}
		s.call(context.Background(), leaf(fmt.Sprintf("g%d", n)))
	}
	go level(1)
	wg.Wait()

	// Pooled workers get a context derived from the request's: the agent
	// walks its parents to the request's, which names the parent span.
	valued := context.WithValue(r.Context(), requestID{}, id)
	timed, cancel := context.WithTimeout(valued, time.Minute)
	defer cancel()
	for _, p := range []struct {
		ch   chan job
		ctx  context.Context
		name string
	}{{s.pool, valued, "pool"}, {s.late, timed, "late"}} {
		j := job{ctx: p.ctx, url: leaf(p.name), done: make(chan struct{})}
		p.ch <- j
		<-j.done
	}
	fmt.Fprintln(w, "work", id, "done")
}

// demo sends a burst over raw TCP: the sender is not an http.Client, so
// the only spans are the service's.
func demo(addr string) {
	reqs := []string{
		"GET /work?id=1 HTTP/1.1\r\nHost: demo\r\nUser-Agent: demo/1.0\r\n",
		"GET /items/42 HTTP/1.1\r\nHost: demo\r\nUser-Agent: demo/1.0\r\n" +
			"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n",
		"GET /fail HTTP/1.1\r\nHost: demo\r\nUser-Agent: demo/1.0\r\n",
	}
	for _, r := range reqs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "httpsvc:", err)
			os.Exit(1)
		}
		fmt.Fprint(c, r+"Connection: close\r\n\r\n")
		status, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Printf("%-26s -> %s\n", strings.SplitN(r, "\r\n", 2)[0], strings.TrimSpace(status))
		c.Close()
	}
}
