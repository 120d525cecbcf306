package process

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
)

// kernelCheck is one kernel feature the BPF objects need. name says what
// is missing, and where it came in or how it is configured, in the one
// line the user sees; check returns nil when the kernel has it.
type kernelCheck struct {
	name  string
	check func() error
}

// kernelChecks are what every glsotel object needs, as read from bpf/ and
// */*.bpf.c: uprobe programs (BPF_PROG_TYPE_KPROBE, attached through the
// uprobe PMU that preflight checks), the shared event ring buffer, the LRU
// hash and per-CPU array maps the probes keep state and counts in, the
// helpers they read Go memory and walk header maps with, and kernel BTF.
// The injection paths' needs (sk_msg, sockops, bpf_probe_write_user) are
// left out: propagation.ChooseInjection falls back when they are missing.
var kernelChecks = []kernelCheck{
	{"BTF type information (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)", haveKernelBTF},
	{"BPF programs for uprobes (BPF_PROG_TYPE_KPROBE; CONFIG_BPF_EVENTS)", func() error { return features.HaveProgramType(ebpf.Kprobe) }},
	{"BPF ring buffer maps (BPF_MAP_TYPE_RINGBUF, Linux 5.8)", func() error { return features.HaveMapType(ebpf.RingBuf) }},
	{"BPF LRU hash maps (BPF_MAP_TYPE_LRU_HASH, Linux 4.10)", func() error { return features.HaveMapType(ebpf.LRUHash) }},
	{"BPF per-CPU array maps (BPF_MAP_TYPE_PERCPU_ARRAY, Linux 4.6)", func() error { return features.HaveMapType(ebpf.PerCPUArray) }},
	{"bpf_probe_read_user helper in uprobe programs (Linux 5.5)", func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnProbeReadUser) }},
	{"bpf_probe_read_kernel helper in uprobe programs (Linux 5.5)", func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnProbeReadKernel) }},
	{"bpf_loop helper in uprobe programs (Linux 5.17)", func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnLoop) }},
}

// haveKernelBTF looks for the kernel's BTF in sysfs; only when it is not
// there is a vmlinux ELF searched for and parsed (tens of MB of heap).
func haveKernelBTF() error {
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	if err == nil {
		return nil
	}
	if _, lerr := btf.LoadKernelSpec(); lerr != nil {
		return errors.Join(err, lerr)
	}
	return nil
}

// checkKernel runs checks in order and returns the first failure as one
// line: "kernel has no NAME: not supported on this host". A check that
// could not decide (a probe failing for another reason than the feature
// missing) also fails, with its error, since loading would most likely
// fail the same way.
func checkKernel(checks []kernelCheck) error {
	for _, c := range checks {
		err := c.check()
		switch {
		case err == nil:
			continue
		case errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, ErrNotSupported) || errors.Is(err, os.ErrNotExist):
			return &missingFeature{name: c.name, err: err}
		default:
			return fmt.Errorf("check the kernel for %s: %w: %w", c.name, err, ErrNotSupported)
		}
	}
	return nil
}

// missingFeature is a kernel check that failed: its message names only the
// feature (the probe's own text, "... not supported (requires >= v5.8)",
// would say it twice); it unwraps to ErrNotSupported and the probe's error.
type missingFeature struct {
	name string
	err  error
}

func (e *missingFeature) Error() string {
	return "kernel has no " + e.name + ": " + ErrNotSupported.Error()
}

func (e *missingFeature) Unwrap() []error { return []error{ErrNotSupported, e.err} }
