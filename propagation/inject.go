package propagation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Injection is how outgoing HTTP requests get the client span's trace
// context (GLSOTEL_INJECT).
type Injection int

const (
	// InjectOff sends requests unchanged.
	InjectOff Injection = iota
	// InjectSockMsg inserts the header lines at the socket layer (sockops +
	// sk_msg on cgroup v2): works under kernel lockdown; plaintext
	// HTTP/1.x only.
	InjectSockMsg
	// InjectWriteUser writes the header line into net/http's write buffer
	// with bpf_probe_write_user: needs a kernel without lockdown; also
	// works for HTTPS over HTTP/1.1.
	InjectWriteUser
)

func (m Injection) String() string {
	switch m {
	case InjectSockMsg:
		return "sk_msg"
	case InjectWriteUser:
		return "write_user"
	}
	return "off"
}

// InjectAuto is GLSOTEL_INJECT's default: the best path this kernel allows.
const InjectAuto = "auto"

// ParseInjection checks a GLSOTEL_INJECT value: auto (or empty), sk_msg,
// write_user or off.
func ParseInjection(s string) (string, error) {
	switch s {
	case "", InjectAuto:
		return InjectAuto, nil
	case "sk_msg", "write_user", "off":
		return s, nil
	}
	return "", fmt.Errorf("GLSOTEL_INJECT=%q: want auto, sk_msg, write_user or off", s)
}

// ChooseInjection resolves a parsed GLSOTEL_INJECT value on this host and
// says why. auto takes write_user where the kernel allows
// bpf_probe_write_user (no lockdown, and a program using it loads), else
// sk_msg where a cgroup v2 hierarchy is mounted or can be (a trial mount,
// undone), else off. A path asked for by name that the host lacks is an
// error wrapping ebpf.ErrNotSupported.
func ChooseInjection(want string) (Injection, string, error) {
	switch want {
	case "off":
		return InjectOff, "GLSOTEL_INJECT=off", nil
	case "sk_msg":
		return InjectSockMsg, "GLSOTEL_INJECT=sk_msg", nil
	}
	// Only write_user and auto need the probe (it may mount securityfs
	// and loads a program).
	wu := WriteUserAllowed()
	if want == "write_user" {
		if wu != nil {
			return InjectOff, "", fmt.Errorf("GLSOTEL_INJECT=write_user: %w", wu)
		}
		return InjectWriteUser, "GLSOTEL_INJECT=write_user", nil
	}
	if wu == nil {
		return InjectWriteUser, "kernel lockdown is off and bpf_probe_write_user loads", nil
	}
	note, err := cgroup2Available()
	if err != nil {
		return InjectOff, fmt.Sprintf("%v; %v", wu, err), nil
	}
	if note != "" {
		return InjectSockMsg, fmt.Sprintf("%v; %s", wu, note), nil
	}
	return InjectSockMsg, wu.Error(), nil
}

// securityfs is where the kernel reports its lockdown mode.
const securityfs = "/sys/kernel/security"

// Lockdown returns the kernel's lockdown mode ("none", "integrity",
// "confidentiality"), mounting securityfs read-only if nothing has. A
// kernel without the lockdown LSM reports "none".
func Lockdown() (string, error) {
	path := filepath.Join(securityfs, "lockdown")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(securityfs, "lsm")); serr == nil {
			return "none", nil // securityfs is there, lockdown is not built in
		}
		if merr := unix.Mount("securityfs", securityfs, "securityfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); merr != nil {
			return "", fmt.Errorf("mount securityfs on %s: %w", securityfs, merr)
		}
		b, err = os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return "none", nil
		}
	}
	if err != nil {
		return "", err
	}
	// "none [integrity] confidentiality": the bracketed word is active.
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j], nil
		}
	}
	return "", fmt.Errorf("%s: unexpected %q", path, strings.TrimSpace(s))
}

// WriteUserAllowed reports whether programs may call
// bpf_probe_write_user here: the kernel must not be locked down, and a
// minimal program calling it must load. The error wraps
// ebpf.ErrNotSupported when the kernel refuses.
func WriteUserAllowed() error {
	mode, err := Lockdown()
	if err != nil {
		return fmt.Errorf("kernel lockdown: %w", err)
	}
	if mode != "none" {
		return fmt.Errorf("kernel lockdown is %s, bpf_probe_write_user is refused: %w", mode, ebpf.ErrNotSupported)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.Kprobe,
		License: "GPL",
		Instructions: asm.Instructions{
			// bpf_probe_write_user(NULL, fp-8, 8): loading is the test.
			asm.Mov.Imm(asm.R1, 0),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.Mov.Imm(asm.R3, 8),
			asm.FnProbeWriteUser.Call(),
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("a program using bpf_probe_write_user does not load: %w", errors.Join(ebpf.ErrNotSupported, err))
	}
	prog.Close()
	return nil
}

// SockMsgInjector inserts trace headers at the socket layer for the
// processes it tracks. Its methods are safe for one goroutine at a time.
type SockMsgInjector struct {
	objs   injectObjects
	ops    link.Link
	cgdir  string // a cgroup2 mount of our own, unmounted at Close
	cgroup TargetCgroup
}

// StartSockMsgInjector loads the sockops and sk_msg programs, attaches
// them (sk_msg to the sockhash first, then sockops to pid's cgroup v2
// group, so only sockets made in that subtree are looked at; a hierarchy is
// mounted under /run/glsotel when none is) and tracks pid. Cgroup says
// which group that is and how it was found.
func StartSockMsgInjector(pid int) (_ *SockMsgInjector, err error) {
	in := &SockMsgInjector{}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		if in.cgdir, err = mountCgroup2(); err != nil {
			return nil, err
		}
		mounts = []cgroupMount{{Dir: in.cgdir, Root: "/"}}
	}
	spec, err := loadInject()
	if err != nil {
		return nil, fmt.Errorf("load the sk_msg injector: %w", err)
	}
	ns, err := ownPidNamespace()
	if err != nil {
		return nil, err
	}
	if err := spec.Variables["agent_pidns"].Set(ns); err != nil {
		return nil, fmt.Errorf("sk_msg injector: set agent_pidns: %w", err)
	}
	if err := spec.LoadAndAssign(&in.objs, nil); err != nil {
		return nil, fmt.Errorf("load the sk_msg injector: %w", err)
	}
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: in.objs.InjectSockets.FD(), Program: in.objs.SkMsgInjectHeaders, Attach: ebpf.AttachSkMsgVerdict,
	}); err != nil {
		return nil, fmt.Errorf("attach sk_msg to its sockhash: %w", err)
	}
	// Unreadable (pid gone): the resolver falls back to a mount's root.
	procCgroup, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	in.cgroup = resolveCgroup(mounts, pid, string(procCgroup))
	in.ops, err = link.AttachCgroup(link.CgroupOptions{Path: in.cgroup.Dir, Attach: ebpf.AttachCGroupSockOps, Program: in.objs.SockopsTrackTargetConnections})
	if err != nil {
		return nil, fmt.Errorf("attach sockops to cgroup %s: %w", in.cgroup.Dir, err)
	}
	if err := in.track(pid); err != nil {
		return nil, err
	}
	return in, nil
}

// initPidNamespace is the inode of the initial pid namespace
// (PROC_PID_INIT_INO): a fixed number.
const initPidNamespace = 0xEFFFFFFC

// ownPidNamespace is the inode of the pid namespace this process sees pids
// in, 0 for the initial one: in a sidecar that shares its app's namespace
// the pids we track are not the kernel's (task->tgid), so the injector's
// programs translate.
func ownPidNamespace() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return 0, fmt.Errorf("our pid namespace: %w", err)
	}
	if st.Ino == initPidNamespace {
		return 0, nil
	}
	return uint32(st.Ino), nil
}

// Cgroup is the cgroup v2 group sockops is attached to, and how it was
// found; not Exact: a mount's root, worth a warning.
func (in *SockMsgInjector) Cgroup() TargetCgroup { return in.cgroup }

// Armed is the map probes arm connections in (inject_armed in
// bpf/include/glsotel/inject.h); the session shares it with them.
func (in *SockMsgInjector) Armed() *ebpf.Map { return in.objs.InjectArmed }

// track starts injecting into the connections pid opens from now on, and
// into the outgoing ones it already has (taken with pidfd_getfd).
func (in *SockMsgInjector) track(pid int) error {
	if err := in.objs.InjectTargets.Put(uint32(pid), uint8(1)); err != nil {
		return fmt.Errorf("track pid %d: %w", pid, err)
	}
	return in.adoptConnections(pid)
}

// Outcomes counts what became of armed messages: "injected",
// "not_request" (no HTTP/1.x request line), "failed", "replaced" (a
// forwarded traceparent's value overwritten).
func (in *SockMsgInjector) Outcomes() map[string]uint64 {
	out := map[string]uint64{}
	names := map[injectInjectOutcome]string{
		injectInjectOutcomeINJECT_DONE: "injected", injectInjectOutcomeINJECT_NOT_REQUEST: "not_request",
		injectInjectOutcomeINJECT_FAILED: "failed", injectInjectOutcomeINJECT_REPLACED: "replaced",
	}
	for i, name := range names {
		var per []uint64
		if in.objs.InjectStats.Lookup(uint32(i), &per) == nil {
			for _, n := range per {
				out[name] += n
			}
		}
	}
	return out
}

// InjectorProbe names the injector's programs in run statistics
// ("propagation/sk_msg/PROGRAM"). They are not uprobes: they run in the
// target's socket calls, so they cost it time but no trap.
const InjectorProbe = "propagation/sk_msg"

// RunCounts returns how often each of the injector's programs ran, keyed
// "InjectorProbe/PROGRAM", and the time they ran for, which needs BPF
// statistics enabled.
func (in *SockMsgInjector) RunCounts() (map[string]uint64, map[string]time.Duration, error) {
	runs, times := map[string]uint64{}, map[string]time.Duration{}
	for name, p := range map[string]*ebpf.Program{
		"sk_msg_inject_headers":            in.objs.SkMsgInjectHeaders,
		"sockops_track_target_connections": in.objs.SockopsTrackTargetConnections,
	} {
		st, err := p.Stats()
		if err != nil {
			return nil, nil, fmt.Errorf("stats of %s: %w", name, err)
		}
		runs[InjectorProbe+"/"+name], times[InjectorProbe+"/"+name] = st.RunCount, st.Runtime
	}
	return runs, times, nil
}

// Close detaches the injector. Sockets already in the sockhash hold the
// sk_msg program, so they are taken out before it is detached.
func (in *SockMsgInjector) Close() error {
	var errs []error
	if in.ops != nil {
		errs = append(errs, in.ops.Close())
	}
	if m := in.objs.InjectSockets; m != nil {
		var k uint64
		var keys []uint64
		it := m.Iterate()
		var v uint64
		for it.Next(&k, &v) {
			keys = append(keys, k)
		}
		for _, k := range keys {
			m.Delete(k)
		}
		if p := in.objs.SkMsgInjectHeaders; p != nil {
			errs = append(errs, link.RawDetachProgram(link.RawDetachProgramOptions{Target: m.FD(), Program: p, Attach: ebpf.AttachSkMsgVerdict}))
		}
	}
	errs = append(errs, in.objs.Close())
	if in.cgdir != "" {
		errs = append(errs, unix.Unmount(in.cgdir, 0))
	}
	return errors.Join(errs...)
}

// adoptConnections puts pid's established outgoing TCP connections in the
// sockhash (a target attached to while running has keep-alive connections
// sockops never saw). Passive ones, on a port pid listens on, are left out.
func (in *SockMsgInjector) adoptConnections(pid int) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type sock struct {
		fd    int
		lport int
	}
	var conns []sock
	listening := map[int]bool{}
	defer func() {
		for _, c := range conns {
			unix.Close(c.fd)
		}
	}()
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); !strings.HasPrefix(l, "socket:") {
			continue
		}
		var target int
		if _, err := fmt.Sscan(e.Name(), &target); err != nil {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, target, 0)
		if err != nil {
			continue // closed meanwhile
		}
		lport, ok, listen := tcpSocket(fd)
		switch {
		case ok && listen:
			listening[lport] = true
		case ok:
			conns = append(conns, sock{fd, lport})
			continue
		}
		unix.Close(fd)
	}
	for _, c := range conns {
		if listening[c.lport] {
			continue
		}
		cookie, err := unix.GetsockoptUint64(c.fd, unix.SOL_SOCKET, unix.SO_COOKIE)
		if err != nil {
			continue
		}
		// An existing entry (sockops got there first) is fine.
		if err := in.objs.InjectSockets.Update(cookie, uint64(c.fd), ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("add pid %d's connection to the sockhash: %w", pid, err)
		}
	}
	return nil
}

// tcpSocket says whether fd is an IPv4/IPv6 TCP socket that listens or is
// connected, and its local port.
func tcpSocket(fd int) (lport int, ok, listen bool) {
	dom, err1 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err1 != nil || err2 != nil || typ != unix.SOCK_STREAM || (dom != unix.AF_INET && dom != unix.AF_INET6) {
		return 0, false, false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, false, false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		lport = a.Port
	case *unix.SockaddrInet6:
		lport = a.Port
	}
	if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && acc == 1 {
		return lport, true, true
	}
	if _, err := unix.Getpeername(fd); err != nil {
		return 0, false, false
	}
	return lport, true, false
}

// ArmedMap is the name of the map in bpf/include/glsotel/inject.h that
// probes arm connections in; the agent hands them the injector's.
const ArmedMap = "inject_armed"
