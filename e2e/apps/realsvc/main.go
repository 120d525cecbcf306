// Command realsvc is a service shaped like real applications, for
// glsotel's real-traffic tests. It knows nothing of tracing.
//
//	realsvc serve ADDR           serve until GET /quit; prints "listening HOST:PORT"
//
// GET /headers answers "traceparent=K headers=N": K Traceparent lines
// arrived, N header names in all.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 3 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: realsvc serve ADDR")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "realsvc:", err)
		os.Exit(1)
	}
	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "traceparent=%d headers=%d\n", len(r.Header.Values("Traceparent")), len(r.Header))
	})
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		go func() { time.Sleep(50 * time.Millisecond); close(quit) }()
	})
	fmt.Println("listening", ln.Addr())
	go http.Serve(ln, mux)
	<-quit
}
