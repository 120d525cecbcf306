package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// bigBinary is the agent loading a large executable (bench/apps/big).
type bigBinary struct {
	SizeMiB float64 `json:"size_mib"`
	// RSSKiB is the agent's resident memory once attached and serving,
	// PeakRSSKiB its peak (loading included).
	RSSKiB     int64 `json:"agent_rss_kib"`
	PeakRSSKiB int64 `json:"agent_peak_rss_kib"`
}

// buildBig generates and builds bench/apps/big once per version of its
// generator, cached under $HOME/.cache/glsotel (about 1.5 min to build).
func buildBig(root string, logf func(string, ...any)) (string, error) {
	gen := filepath.Join(root, "bench", "apps", "big", "gen.go")
	src, err := os.ReadFile(gen)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(src)
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(home, ".cache", "glsotel", "bigsvc-"+hex.EncodeToString(sum[:6]))
	bin := filepath.Join(dir, "bigsvc")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building a large Go program (bench/apps/big, about 1.5 min, cached in %s)", dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	for _, c := range []*exec.Cmd{
		exec.Command("go", "run", gen, "-out", tmp),
		exec.Command("go", "build", "-o", "bigsvc", "."),
	} {
		if c.Args[1] == "build" {
			c.Dir = tmp
		}
		if out, err := c.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%v: %w\n%s", c.Args, err, out)
		}
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return bin, nil
}

// measureBig runs the large program under the agent and reads its memory.
func measureBig(glsotel, bin string, recv *receiver) (*bigBinary, error) {
	st, err := os.Stat(bin)
	if err != nil {
		return nil, err
	}
	in := &instance{cfg: config{Name: "glsotel big", agent: true}}
	if err := in.start(glsotel, bin, "", recv, ""); err != nil {
		return nil, err
	}
	defer func() {
		if in.cmd.ProcessState == nil {
			in.cmd.Process.Kill()
			in.cmd.Wait()
		}
	}()
	for range 100 {
		if err := get(context.Background(), in.client, in.base+"/work"); err != nil {
			return nil, err
		}
	}
	time.Sleep(200 * time.Millisecond)
	m, err := in.agentStats()
	if err != nil {
		return nil, err
	}
	if err := in.stop(); err != nil {
		return nil, err
	}
	return &bigBinary{SizeMiB: float64(st.Size()) / (1 << 20), RSSKiB: int64(m.rss / 1024), PeakRSSKiB: int64(m.peakRSS / 1024)}, nil
}
