package probe_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/internal/agent"
	"github.com/glsotel/glsotel/internal/testbuild"
)

// TestEventAfterIdle: once the reader has found nothing for a while it
// stops polling, and the next event wakes it (events_reader_idle). An
// event made after a pause must reach its handler promptly, long before
// the drain at the program's exit 2 s later would deliver it.
func TestEventAfterIdle(t *testing.T) {
	bin := testbuild.Build(t, "../../e2e/apps/gls", testbuild.Toolchains[0], false)
	stdout, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	var mu sync.Mutex
	var arrived time.Time
	res, err := agent.Run(agent.Config{
		Markers: func(o glsmarker.Observation) {
			if o.Kind == glsmarker.Set && o.Value == 42 {
				mu.Lock()
				arrived = time.Now()
				mu.Unlock()
			}
		},
		Stdout: stdout,
	}, bin, []string{"late"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("%s late exited %d", bin, res.ExitCode)
	}
	out, _ := os.ReadFile(stdout.Name())
	var setAt int64
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "set_at "); ok {
			setAt, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if setAt == 0 || arrived.IsZero() {
		t.Fatalf("value set at %d, arrived %v\n%s", setAt, arrived, out)
	}
	if d := arrived.Sub(time.Unix(0, setAt)); d > 500*time.Millisecond {
		t.Errorf("the event made after a pause reached the agent %v later", d)
	} else {
		t.Logf("the event made after a pause reached the agent %v later", d)
	}
}
