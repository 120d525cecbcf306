package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return selfMetrics{}, err
	}
	defer resp.Body.Close()
	var m selfMetrics
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return selfMetrics{}, fmt.Errorf("self-metrics line %q", line)
		}
		switch name := line[:i]; {
		case name == "process_cpu_seconds_total":
			m.cpuSeconds = v
		case name == "process_resident_memory_bytes":
			m.rss = v
		case name == "process_resident_memory_peak_bytes":
			m.peakRSS = v
		case name == "go_gc_heap_allocs_bytes_total":
			m.allocBytes = v
		}
	}
	return m, sc.Err()
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
