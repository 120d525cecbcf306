package e2e

import (
	"net"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/glsotel/glsotel/internal/otlptest"
	"github.com/glsotel/glsotel/internal/promtext"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// TestRingBufferFull: when the agent falls behind (here: stopped with
// SIGSTOP while the service keeps serving), the BPF programs find the ring
// buffer full. The service is not slowed or stopped; the spans that did
// not fit are counted, in the agent's log, its self-metrics and --stats,
// and every span is either exported or counted lost, with its reason.
func TestRingBufferFull(t *testing.T) {
	bin := testbuild.Build(t, "apps/httpsvc", testbuild.Toolchains[0], false)
	recv := otlptest.Start(t)
	metricsAddr := freeAddr(t)
	svc := startTraced(t, recv, bin, "GLSOTEL_METRICS_ADDR="+metricsAddr)
	svc.get(t, "/leaf", nil) // the agent is up and exporting

	const requests = 8000 // several times what 4 MiB of server events hold
	if err := svc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for range work {
				svc.get(t, "/leaf", nil)
			}
		})
	}
	for i := range requests {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := svc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	svc.get(t, "/leaf", nil)

	metrics := scrape(t, "http://"+metricsAddr+"/metrics")
	ringFull := metrics[`glsotel_spans_lost_total{reason="ring_buffer_full"}`]
	if ringFull == 0 || metrics[`glsotel_events_lost_total{probe="net/http/server"}`] != ringFull {
		t.Errorf("self-metrics count no ring buffer loss, or not per probe:\n%v", metrics)
	}
	svc.stop(t)
	stats := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(?m)^spans (exported|lost \S+) (\d+)$`).FindAllStringSubmatch(svc.stderr.String(), -1) {
		stats[m[1]], _ = strconv.ParseUint(m[2], 10, 64)
	}
	sent := uint64(requests + 3) // and two /leaf around it, and /quit
	lost := stats["lost ring_buffer_full"]
	t.Logf("%d requests: %d spans exported, %d lost at the ring buffer (self-metrics said %d before the end)", sent, stats["exported"], lost, ringFull)
	// What the ring held comes out at once after SIGCONT: more than the
	// exporter's queue (OTEL_BSP_MAX_QUEUE_SIZE, 2048) may take, counted
	// as queue_full.
	if lost < ringFull || stats["exported"]+lost+stats["lost queue_full"] != sent || stats["lost export_failed"] != 0 {
		t.Errorf("every span is exported or counted lost: %v, want %d in all", stats, sent)
	}
	if got := uint64(len(recv.Spans())); got != stats["exported"] {
		t.Errorf("the receiver has %d spans, the agent says it exported %d", got, stats["exported"])
	}
	if !regexp.MustCompile(`msg="spans lost" ring_buffer_full=[1-9]`).MatchString(svc.stderr.String()) {
		t.Errorf("the agent's log does not report the loss:\n%s", svc.stderr)
	}
}

// freeAddr is a 127.0.0.1 address with a port free right now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads the agent's self-metrics: series (with labels) -> value.
func scrape(t *testing.T, url string) map[string]uint64 {
	vals, err := promtext.Get(url)
	if err != nil || len(vals) == 0 {
		t.Fatalf("metrics at %s: %v (%d series)", url, err, len(vals))
	}
	out := map[string]uint64{}
	for k, v := range vals {
		out[k] = uint64(v)
	}
	return out
}
