package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ids is how many distinct requests the load makes (/work?id=1..ids): the
// agent caches per URL and string, so a warm-up covers them all.
const ids = 1000

// load sends n GET requests to base+"/work?id=..." from conc workers, each
// waiting for its answer before the next (a closed loop: the offered load
// follows the service), and returns every latency and the wall time.
func load(ctx context.Context, c *http.Client, base string, n, conc int) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := get(ctx, c, fmt.Sprintf("%s/work?id=%d", base, i%ids+1)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return nil, 0, err
	}
	return lat, time.Since(start), nil
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// quantile of sorted-in-place d (q in [0,1]).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[int(q*float64(len(d)-1))]
}

// steadyLoad offers rate requests per second for d, open loop: each
// request is sent at its time whatever the ones before it are doing (up to
// maxInFlight at once), as a service's clients would. It returns how many
// were sent, and the first error.
func steadyLoad(ctx context.Context, c *http.Client, base string, rate float64, d time.Duration) (int, error) {
	const maxInFlight = 256
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, maxInFlight)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	for next := start; next.Before(start.Add(d)) && ctx.Err() == nil; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			if err := get(ctx, c, fmt.Sprintf("%s/work?id=%d", base, i%ids+1)); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}(sent)
		sent++
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return sent, err
	}
	return sent, nil
}
