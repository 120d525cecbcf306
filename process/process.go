// Package process handles target processes: starting a program stopped at
// its first instruction so probes attach before main.main, finding the
// executable of a running process, and the host checks BPF needs.
package process

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotSupported is wrapped when the host lacks what the agent needs.
var ErrNotSupported = errors.New("not supported on this host")

// Preflight checks privileges and kernel support before anything is loaded,
// so that the user gets one clear line instead of a BPF error. Privileges
// come first: without them the kernel feature probes fail for that reason.
func Preflight() error {
	if err := preflight("/proc/self/status", "/sys/bus/event_source/devices/uprobe/type"); err != nil {
		return err
	}
	return checkKernel(kernelChecks)
}

func preflight(status, uprobePMU string) error {
	caps, err := effectiveCaps(status)
	if err != nil {
		return err
	}
	const capSysAdmin, capPerfmon, capBPF = 21, 38, 39
	has := func(c uint) bool { return caps&(1<<c) != 0 }
	if !has(capSysAdmin) && !(has(capBPF) && has(capPerfmon)) {
		return fmt.Errorf("needs root, or CAP_BPF and CAP_PERFMON (effective capabilities %#x): %w", caps, ErrNotSupported)
	}
	if _, err := os.Stat(uprobePMU); err != nil {
		return fmt.Errorf("kernel has no uprobe PMU (%s; CONFIG_UPROBES): %w", uprobePMU, ErrNotSupported)
	}
	return nil
}

func effectiveCaps(status string) (uint64, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("read capabilities: no CapEff in %s", status)
}

// Executable returns a path that names the executable of process pid, even
// if its file was replaced or deleted since it started.
func Executable(pid int) (string, error) {
	if err := syscall.Kill(pid, 0); err != nil {
		return "", fmt.Errorf("process %d: %w", pid, err)
	}
	p := fmt.Sprintf("/proc/%d/exe", pid)
	if _, err := os.Stat(p); errors.Is(err, os.ErrPermission) {
		return "", fmt.Errorf("process %d: executable: %w (another process's executable needs CAP_SYS_PTRACE)", pid, err)
	} else if err != nil {
		return "", fmt.Errorf("process %d: executable: %w", pid, err)
	}
	return p, nil
}

// Child is a program started stopped at its first instruction.
type Child struct {
	Cmd    *exec.Cmd
	resume chan chan error
}

// StartStopped starts cmd traced, so it stops right after execve, before
// the Go runtime runs. Call Resume once probes are attached.
func StartStopped(cmd *exec.Cmd) (*Child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Ptrace = true
	c := &Child{Cmd: cmd, resume: make(chan chan error)}
	started := make(chan error)
	// ptrace requests must come from the thread that started the tracee.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
			cmd.Process.Kill()
			started <- fmt.Errorf("%s did not stop after exec (status %v): %v", cmd.Path, ws, err)
			return
		}
		started <- nil
		done := <-c.resume
		done <- syscall.PtraceDetach(cmd.Process.Pid)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Resume lets the child run.
func (c *Child) Resume() error {
	done := make(chan error)
	c.resume <- done
	if err := <-done; err != nil {
		return fmt.Errorf("resume %s: %w", c.Cmd.Path, err)
	}
	return nil
}

// ExitCode maps a finished process state to a shell-style exit status:
// its own code, or 128+signal when a signal ended it.
func ExitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// WaitExit returns a channel closed when process pid (not our child) exits.
func WaitExit(pid int) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return // already gone
		}
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				return
			}
		}
	}()
	return ch
}

// InForegroundGroup reports whether this process belongs to the foreground
// process group of the terminal on stdin: then keyboard signals reach its
// children too.
func InForegroundGroup() bool {
	fg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// FindExecutables returns the pids of the running processes whose
// executable is path, lowest first. path may be as this process sees it
// (same device and inode, so symlinks and relative paths match, and a
// rebuilt binary at the same path matches its new processes) or as the
// target sees it: a sidecar container does not have the app's file, so
// path is also looked up under each process's own root (/proc/PID/root)
// and compared with the name the kernel gives its executable.
func FindExecutables(path string) ([]int, error) {
	want, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	var denied error
	readable := 0
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == os.Getpid() {
			continue
		}
		ok, err := runs(n, path, want)
		switch {
		case ok:
			pids = append(pids, n)
		case err != nil:
			denied = cmp.Or(denied, err)
		default:
			readable++
		}
	}
	// Some processes may be out of reach (another user namespace's); none
	// in reach means we lack the capability, and would wait for ever.
	if len(pids) == 0 && readable == 0 && denied != nil {
		return nil, denied
	}
	slices.Sort(pids)
	return pids, nil
}

// runs reports whether process pid's executable is path (want: its
// stat here, nil when this filesystem has no such file). The error is
// one of not being allowed to look.
func runs(pid int, path string, want os.FileInfo) (bool, error) {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	fi, err := os.Stat(exe)
	if errors.Is(err, os.ErrPermission) {
		return false, fmt.Errorf("%s: %w (another process's executable needs CAP_SYS_PTRACE)", exe, err)
	}
	if err != nil {
		return false, nil // a kernel thread, a zombie, or gone
	}
	if want != nil && os.SameFile(fi, want) {
		return true, nil
	}
	if !filepath.IsAbs(path) {
		return false, nil // relative paths name files here only
	}
	if theirs, err := os.Stat(fmt.Sprintf("/proc/%d/root%s", pid, path)); err == nil {
		return os.SameFile(fi, theirs), nil
	}
	return false, nil
}

// Alive reports whether process pid exists (and is not a zombie).
func Alive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil
}
