package main

import (
	"context"
	"os"
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
