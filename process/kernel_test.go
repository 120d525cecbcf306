package process

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// TestCheckKernel: the first failing check is the error, as one line
// naming the feature, wrapping ErrNotSupported (and the probe's own error);
// later checks do not run.
func TestCheckKernel(t *testing.T) {
	ok := func() error { return nil }
	ran := false
	later := func() error { ran = true; return nil }
	probeErr := fmt.Errorf("ring buffer maps not supported (requires >= v5.8): %w", ebpf.ErrNotSupported)
	for _, tc := range []struct {
		name   string
		checks []kernelCheck
		want   string
		cause  error
	}{
		{"all pass", []kernelCheck{{"a", ok}, {"b", ok}}, "", nil},
		{"missing", []kernelCheck{{"a", ok}, {"BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF, Linux 5.8)", func() error { return probeErr }}, {"c", later}},
			"kernel has no BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF, Linux 5.8): not supported on this host", probeErr},
		{"no file", []kernelCheck{{"BTF type information (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)", func() error { return syscall.ENOENT }}},
			"kernel has no BTF type information (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF): not supported on this host", syscall.ENOENT},
		{"inconclusive", []kernelCheck{{"bpf_loop helper in uprobe programs (Linux 5.17)", func() error { return syscall.EPERM }}, {"c", later}},
			"check the kernel for bpf_loop helper in uprobe programs (Linux 5.17): operation not permitted: not supported on this host", syscall.EPERM},
	} {
		ran = false
		err := checkKernel(tc.checks)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v\nwant %s", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, ErrNotSupported) || !errors.Is(err, tc.cause) {
			t.Errorf("%s: %v does not wrap ErrNotSupported and %v", tc.name, err, tc.cause)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %q is more than one line", tc.name, err)
		}
		if ran {
			t.Errorf("%s: a check after the failing one ran", tc.name)
		}
	}
}

// TestPreflightKernelChecks: Preflight runs the kernel table, and its
// failure is what Preflight returns.
func TestPreflightKernelChecks(t *testing.T) {
	saved := kernelChecks
	defer func() { kernelChecks = saved }()
	kernelChecks = []kernelCheck{{"fake feature (Linux 99)", func() error { return ebpf.ErrNotSupported }}}
	const want = "kernel has no fake feature (Linux 99): not supported on this host"
	if err := Preflight(); err == nil || err.Error() != want || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Preflight with a failing kernel check: %v, want %q", err, want)
	}
}

// TestKernelChecksHere: this host has every feature the objects need (the
// BPF tests would fail otherwise), each checked on its own so a failure
// names it.
func TestKernelChecksHere(t *testing.T) {
	for _, c := range kernelChecks {
		if err := checkKernel([]kernelCheck{c}); err != nil {
			t.Error(err)
		}
	}
	// A real probe's "no" (socket filters may not write user memory on any
	// kernel) comes out as the one line, not as inconclusive.
	no := kernelCheck{"bpf_probe_write_user helper in socket filters", func() error {
		return features.HaveProgramHelper(ebpf.SocketFilter, asm.FnProbeWriteUser)
	}}
	const want = "kernel has no bpf_probe_write_user helper in socket filters: not supported on this host"
	if err := checkKernel([]kernelCheck{no}); err == nil || err.Error() != want {
		t.Errorf("a helper no kernel allows: %v, want %q", err, want)
	}
}
