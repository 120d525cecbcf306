// Command chain is a pair of services for glsotel's cross-process tests:
// run it twice, the front one pointing at the back one. It knows nothing
// of tracing: every span and every traceparent comes from the agent.
//
//	chain serve ADDR [NEXT]   serve until GET /quit; prints "listening HOST:PORT"
//
// GET /front?id=N[&body=SIZE][&chunked=1][&tp=TRACEPARENT] calls NEXT's
// /back?id=N over a keep-alive connection (a POST of SIZE bytes when body
// is set, chunked when asked; with tp, the request carries that
// traceparent, set by the application itself) and answers with /back's
// answer.
//
// GET or POST /back?id=N[&leaves=0] answers "traceparent=K body=SIZE
// sha=HEX tracestate=[...] baggage=[...]": K is how many Traceparent header
// lines arrived, SIZE and HEX describe the body read, then the Tracestate
// and Baggage lines that arrived. Before answering it calls its own /leaf twice, on the handler
// goroutine and on a goroutine it starts (its own children in the trace),
// unless leaves=0 (passed on by /front).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: chain serve ADDR [NEXT]")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chain:", err)
		os.Exit(1)
	}
	s := &service{self: "http://" + ln.Addr().String(), quit: make(chan struct{})}
	if len(os.Args) > 3 {
		s.next = os.Args[3]
	}
	s.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /front", s.front)
	mux.HandleFunc("/back", s.back)
	mux.HandleFunc("GET /leaf", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaf\n") })
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(s.quit) }()
	})
	fmt.Println("listening", ln.Addr())
	go http.Serve(ln, mux)
	<-s.quit
}

type service struct {
	self, next string
	client     *http.Client
	quit       chan struct{}
}

func (s *service) front(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	url := s.next + "/back?id=" + q.Get("id")
	if l := q.Get("leaves"); l != "" {
		url += "&leaves=" + l
	}
	method, size := "GET", 0
	var body io.Reader
	if b := q.Get("body"); b != "" {
		size, _ = strconv.Atoi(b)
		method = "POST"
		body = bytes.NewReader(pattern(size))
		if q.Get("chunked") != "" {
			body = io.MultiReader(body) // no length known: chunked
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), method, url, body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	if tp := q.Get("tp"); tp != "" {
		req.Header.Set("Traceparent", tp)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer resp.Body.Close()
	io.Copy(w, resp.Body)
}

func (s *service) back(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	id := r.URL.Query().Get("id")
	if r.URL.Query().Get("leaves") != "0" {
		s.leaf(context.Background(), id, "handler") // parent through GLS
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); s.leaf(r.Context(), id, "goroutine") }()
		wg.Wait()
	}
	fmt.Fprintf(w, "traceparent=%d body=%d sha=%x tracestate=%q baggage=%q\n", len(r.Header.Values("Traceparent")), n, h.Sum(nil),
		r.Header.Values("Tracestate"), r.Header.Values("Baggage"))
}

func (s *service) leaf(ctx context.Context, id, from string) {
	req, _ := http.NewRequestWithContext(ctx, "GET", s.self+"/leaf?id="+id+"&from="+from, nil)
	if resp, err := s.client.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// pattern is the body a POST carries: the test recomputes its hash.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}
