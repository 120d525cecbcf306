// Command proxy is a stdlib httputil.ReverseProxy and the service behind
// it, for glsotel's end-to-end tests (run it twice: the backend, then the
// proxy pointing at it). It knows nothing of tracing: every span and every
// traceparent comes from the agent.
//
//	proxy backend ADDR        serve until GET /quit; prints "listening HOST:PORT"
//	proxy proxy ADDR BACKEND  the same, every other request handed to
//	                          httputil.NewSingleHostReverseProxy(BACKEND)
//
// The backend answers any request but GET /leaf and GET /quit with one line
// of JSON: what arrived (method, path, raw query, the X-Req-Id header, the
// body's size and SHA-256, every Traceparent and Tracestate line, the
// connection's remote address). Before
// answering it calls its own GET /leaf?rid=RID&from=WHERE X-Leaves times
// (0 to 2): from the handler goroutine (context.Background(), so the
// parent comes through goroutine-local storage), then from a goroutine it
// starts (with r.Context()).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// Echo is what the backend answers (the test decodes the same fields).
type Echo struct {
	Method      string   `json:"method"`
	Path        string   `json:"path"`
	Query       string   `json:"query"`
	RID         string   `json:"rid"`
	Body        int64    `json:"body"`
	SHA         string   `json:"sha"`
	Traceparent []string `json:"traceparent"`
	Tracestate  []string `json:"tracestate"`
	Leaves      int      `json:"leaves"`
	Remote      string   `json:"remote"` // the connection's far end (the proxy's side)
}

func main() {
	if len(os.Args) < 3 || (os.Args[1] != "backend" && os.Args[1] != "proxy") || (os.Args[1] == "proxy") != (len(os.Args) == 4) {
		fmt.Fprintln(os.Stderr, "usage: proxy backend ADDR | proxy proxy ADDR BACKEND")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	if os.Args[1] == "proxy" {
		target, err := url.Parse(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "proxy:", err)
			os.Exit(2)
		}
		mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	} else {
		b := &backend{self: "http://" + ln.Addr().String(), client: &http.Client{Timeout: time.Minute}}
		mux.HandleFunc("GET /leaf", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaf\n") })
		mux.HandleFunc("/", b.echo)
	}
	fmt.Println("listening", ln.Addr())
	go http.Serve(ln, mux)
	<-quit
}

type backend struct {
	self   string
	client *http.Client
}

func (b *backend) echo(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e := Echo{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, RID: r.Header.Get("X-Req-Id"),
		Body: n, SHA: hex.EncodeToString(h.Sum(nil)),
		Traceparent: r.Header.Values("Traceparent"), Tracestate: r.Header.Values("Tracestate"),
		Remote: r.RemoteAddr,
	}
	e.Leaves, _ = strconv.Atoi(r.Header.Get("X-Leaves"))
	if e.Leaves > 0 {
		b.leaf(context.Background(), e.RID, "handler")
	}
	if e.Leaves > 1 {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); b.leaf(r.Context(), e.RID, "goroutine") }()
		wg.Wait()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(e)
}

func (b *backend) leaf(ctx context.Context, rid, from string) {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.self+"/leaf?rid="+url.QueryEscape(rid)+"&from="+from, nil)
	if resp, err := b.client.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
