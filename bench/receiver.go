package main

import (
	"context"
	"net"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// receiver is an OTLP/gRPC trace receiver that only counts spans per
// service.name: it shares the machine with what is measured, so it does
// as little as it can. It counts what requests to /work make: their root
// SERVER spans and every span with a parent; the service's start-up
// statements and /quit (roots of their own) are left out.
type receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	endpoint string
	srv      *grpc.Server

	mu    sync.Mutex
	spans map[string]int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{endpoint: "http://" + ln.Addr().String(), srv: grpc.NewServer(), spans: map[string]int{}}
	coltracepb.RegisterTraceServiceServer(r.srv, r)
	go r.srv.Serve(ln)
	return r, nil
}

func (r *receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		name := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				name = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				if len(sp.ParentSpanId) > 0 || sp.Kind == tracepb.Span_SPAN_KIND_SERVER && isWork(sp) {
					r.spans[name]++
				}
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func isWork(sp *tracepb.Span) bool {
	for _, kv := range sp.Attributes {
		if kv.Key == "url.path" {
			return kv.GetValue().GetStringValue() == "/work"
		}
	}
	return false
}

// count returns how many spans service has sent.
func (r *receiver) count(service string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spans[service]
}

func (r *receiver) stop() { r.srv.Stop() }
