package main

import (
	"net"

	"github.com/glsotel/glsotel/internal/promtext"
)

// selfMetrics is what the bench reads from an agent's self-metrics.
type selfMetrics struct {
	cpuSeconds     float64
	rss, peakRSS   float64 // bytes
	allocBytes     float64
	exported, lost float64 // spans
}

// scrapeAgent reads the agent's /metrics page (glsotel --metrics).
func scrapeAgent(addr string) (selfMetrics, error) {
	v, err := promtext.Get("http://" + addr + "/metrics")
	if err != nil {
		return selfMetrics{}, err
	}
	return selfMetrics{cpuSeconds: v["process_cpu_seconds_total"], rss: v["process_resident_memory_bytes"],
		peakRSS: v["process_resident_memory_peak_bytes"], allocBytes: v["go_gc_heap_allocs_bytes_total"]}, nil
}

// freeAddr is a 127.0.0.1 address whose port is free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
