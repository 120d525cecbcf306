// Command chain is a pair of services for glsotel's cross-process tests:
// run it twice, the front one pointing at the back one. It knows nothing
// of tracing: every span and every traceparent comes from the agent.
//
//	chain serve ADDR [NEXT]   serve until GET /quit; prints "listening HOST:PORT"
//	chain serve-tls ADDR      the same over TLS (self-signed), HTTP/1.1 and h2
//
// GET /front?id=N[&body=SIZE][&chunked=1][&tp=TRACEPARENT][&proto=h2]
// calls NEXT's /back?id=N over a keep-alive connection (a POST of SIZE
// bytes when body is set, chunked when asked; with tp, the request carries
// that traceparent, set by the application itself; over HTTP/2 with
// proto=h2, else HTTP/1.1, also when NEXT is https) and answers with
// /back's answer.
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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "serve" && os.Args[1] != "serve-tls" {
		fmt.Fprintln(os.Stderr, "usage: chain serve ADDR [NEXT] | chain serve-tls ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chain:", err)
		os.Exit(1)
	}
	tlsOn := os.Args[1] == "serve-tls"
	s := &service{self: "http://" + ln.Addr().String(), quit: make(chan struct{})}
	if tlsOn {
		s.self = "https://" + ln.Addr().String()
	}
	if len(os.Args) > 3 {
		s.next = os.Args[3]
	}
	insecure := &tls.Config{InsecureSkipVerify: true} // the test's own self-signed back
	s.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: 200, TLSClientConfig: insecure,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
	}}
	s.h2 = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /front", s.front)
	mux.HandleFunc("/back", s.back)
	mux.HandleFunc("GET /leaf", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "leaf\n") })
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(s.quit) }()
	})
	fmt.Println("listening", ln.Addr())
	if tlsOn {
		srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned()}}}
		go srv.ServeTLS(ln, "", "")
	} else {
		go http.Serve(ln, mux)
	}
	<-s.quit
}

type service struct {
	self, next string
	client, h2 *http.Client
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
	c := s.client
	if q.Get("proto") == "h2" {
		c = s.h2
	}
	resp, err := c.Do(req)
	if err != nil {
		http.Error(w, err.Error(), 502)
		return
	}
	defer resp.Body.Close()
	fmt.Fprintf(w, "proto=%s ", resp.Proto)
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

// selfSigned makes a certificate for 127.0.0.1, good for an hour.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// pattern is the body a POST carries: the test recomputes its hash.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}
