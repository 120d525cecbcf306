// Command gls exercises goroutine-local storage through GLS markers that
// the agent hooks (see instrumentation/glsmarker). Each scenario calls
// glsObserve(expected) on goroutines that should see a value, and prints
// "observations N": how many observations the agent should report.
//
// Usage: gls demo|direct|nest|concurrent|errgroup|own|stale|spawn|exit|await|late [N]
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

//go:noinline
func glsSet(v uint64) {}

//go:noinline
func glsEnd(v, parent uint64) {}

//go:noinline
func glsObserve(expect uint64) {}

var observed atomic.Int64

func observe(expect uint64) {
	observed.Add(1)
	glsObserve(expect)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gls demo|direct|nest|concurrent|errgroup|own|stale|spawn [N]")
		os.Exit(2)
	}
	n := 0
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	scenarios := map[string]func(int){
		"demo": demo, "direct": direct, "nest": nest, "concurrent": concurrent,
		"errgroup": group, "own": own, "stale": stale, "spawn": spawn,
		"exit":  func(n int) { os.Exit(n) },
		"await": await,
		"late":  late,
	}
	f, ok := scenarios[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gls: unknown scenario %q\n", os.Args[1])
		os.Exit(2)
	}
	f(n)
	fmt.Printf("observations %d\n", observed.Load())
}

// demo: a parent's value reaches children and grandchildren; a child that
// stores its own value passes that on instead; a pooled worker does not keep
// a request's value after the request ended.
func demo(int) {
	fmt.Println(`demo: goroutine 1 stores 100 and starts a chain of three goroutines;
      another child stores its own 200 and starts one more;
      then request 300 starts a pooled worker, ends, and the worker is asked again.
      The program writes nothing into GLS itself: the agent's probes do.`)
	var wg sync.WaitGroup
	glsSet(100)
	observe(100)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() {
		observe(100)
		run(func() {
			observe(100)
			run(func() { observe(100) })
		})
	})
	run(func() {
		glsSet(200)
		observe(200)
		run(func() { observe(200) })
	})
	wg.Wait()
	staleWorker(300, 0)
}

// direct: one `go` statement; a goroutine started before any value sees none.
func direct(int) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); observe(0) }()
	wg.Wait()
	glsSet(1)
	wg.Add(1)
	go func() { defer wg.Done(); observe(1) }()
	wg.Wait()
}

// nest: a chain of n goroutines, each started by the previous one, after
// the first has exited.
func nest(n int) {
	if n == 0 {
		n = 20
	}
	glsSet(7)
	done := make(chan struct{})
	var level func(int)
	level = func(i int) {
		observe(7)
		if i == n {
			close(done)
			return
		}
		go level(i + 1)
	}
	go level(1)
	<-done
}

// concurrent: n goroutines alive at once, all observing together.
func concurrent(n int) {
	if n == 0 {
		n = 10000
	}
	glsSet(9)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			observe(9)
		}()
	}
	close(start)
	wg.Wait()
}

// group: errgroup.Go starts the goroutines.
func group(n int) {
	if n == 0 {
		n = 50
	}
	glsSet(11)
	var g errgroup.Group
	g.SetLimit(8)
	for i := 0; i < n; i++ {
		g.Go(func() error { observe(11); return nil })
	}
	_ = g.Wait()
}

// own: a goroutine's own value overrides what it inherited, for itself and
// its descendants, and leaves its parent and siblings alone.
func own(int) {
	glsSet(21)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		observe(21)
		glsSet(22)
		observe(22)
		wg.Add(1)
		go func() { defer wg.Done(); observe(22) }()
	}()
	go func() { defer wg.Done(); observe(21) }()
	wg.Wait()
	observe(21)
}

// stale: workers started during a request keep its value only while the
// request lives; after it ended they fall back to the nearest live ancestor.
func stale(int) {
	staleWorker(31, 0)
	glsSet(40)
	staleWorker(41, 40)
	glsEnd(40, 0)
	observe(0)
}

// staleWorker sets v (started under parent), starts a worker, checks the
// worker sees v, ends v, and checks the worker now sees parent.
func staleWorker(v, parent uint64) {
	jobs := make(chan uint64)
	done := make(chan struct{})
	glsSet(v)
	go func() {
		for expect := range jobs {
			observe(expect)
			done <- struct{}{}
		}
	}()
	jobs <- v
	<-done
	glsEnd(v, parent)
	observe(parent)
	jobs <- parent
	<-done
	close(jobs)
}

// spawn: the cost of a `go` statement while the goroutine has a value to
// inherit; prints ns_per_go.
func spawn(n int) {
	if n == 0 {
		n = 100000
	}
	glsSet(5)
	var wg sync.WaitGroup
	wg.Add(n)
	t := time.Now()
	for i := 0; i < n; i++ {
		go wg.Done()
	}
	wg.Wait()
	fmt.Printf("ns_per_go %.1f\n", float64(time.Since(t).Nanoseconds())/float64(n))
}

// late stores a value after a pause long enough for the agent to stop
// polling its ring buffer, prints "set_at UNIXNANO", and keeps running, so
// that only a prompt wakeup (not the agent's drain at exit) delivers it
// soon.
func late(int) {
	time.Sleep(time.Second)
	fmt.Printf("set_at %d\n", time.Now().UnixNano())
	glsSet(42)
	time.Sleep(2 * time.Second)
}

// await prints "ready", waits for SIGUSR1 (an agent has attached), runs the
// demo and exits; SIGTERM ends it as usual.
func await(int) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	fmt.Println("ready")
	<-ch
	demo(0)
}
