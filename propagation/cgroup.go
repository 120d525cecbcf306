package propagation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// cgroupMount is a mount of the cgroup v2 hierarchy: Dir is its mount
// point, Root the group shown at Dir as mountinfo's root field gives it,
// relative to this process's cgroup namespace root like the paths in
// /proc/PID/cgroup: "/" for the whole of our view, "/kubepods/x" for a
// bind of a subtree, "/.." for a group above our namespace's root.
type cgroupMount struct{ Dir, Root string }

// selfMountinfo lists this process's mounts.
const selfMountinfo = "/proc/self/mountinfo"

// cgroup2Mounts lists every cgroup v2 mount in the mountinfo file at path,
// whatever group it shows. Those showing all of our view (root "/") come
// first: they hold every group a target can be in.
func cgroup2Mounts(path string) ([]cgroupMount, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("list cgroup2 mounts: %w", err)
	}
	var whole, part []cgroupMount
	for _, line := range strings.Split(string(b), "\n") {
		// "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(line, " - ")
		fields, fstype := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(fstype) == 0 || fstype[0] != "cgroup2" {
			continue
		}
		m := cgroupMount{Dir: unescapeMount(fields[4]), Root: unescapeMount(fields[3])}
		if m.Root == "/" {
			whole = append(whole, m)
		} else {
			part = append(part, m)
		}
	}
	return append(whole, part...), nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroup2 is where the agent mounts the cgroup v2 hierarchy when none
// is mounted (deploy/k8s gives /run/glsotel a writable emptyDir for it).
const ownCgroup2 = "/run/glsotel/cgroup2"

// mountCgroup2 mounts the cgroup v2 hierarchy at ownCgroup2 and returns
// that directory; unmount it when done. The mount shows this process's
// cgroup namespace root (Root "/").
func mountCgroup2() (string, error) {
	if err := os.MkdirAll(ownCgroup2, 0o700); err != nil {
		return "", fmt.Errorf("mount cgroup2 for the sk_msg injector: %w", err)
	}
	if err := unix.Mount("cgroup2", ownCgroup2, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return "", fmt.Errorf("mount cgroup2 on %s for the sk_msg injector: %w: %w", ownCgroup2, err, ebpf.ErrNotSupported)
	}
	return ownCgroup2, nil
}

// cgroup2Available says whether the sk_msg injector will find a cgroup v2
// hierarchy: one is mounted, or mounting one works (tried here and undone,
// since the injector mounts its own and unmounts it at Close). note, when
// not empty, says the injector will mount one.
func cgroup2Available() (note string, err error) {
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		return "", err
	}
	if len(mounts) > 0 {
		return "", nil
	}
	dir, err := mountCgroup2()
	if err != nil {
		return "", fmt.Errorf("no cgroup v2 hierarchy is mounted and none can be: %w", err)
	}
	note = "no cgroup v2 hierarchy is mounted: the injector mounts one at " + dir
	if err := unix.Unmount(dir, 0); err != nil {
		note += fmt.Sprintf(" (the trial mount stays: unmount: %v)", err)
	}
	return note, nil
}

// TargetCgroup is the cgroup v2 group the sk_msg injector attaches its
// sockops program to for a target.
type TargetCgroup struct {
	// Dir is a directory in a cgroup2 mount.
	Dir string
	// Exact: Dir is the target's own group, found as How says. Otherwise
	// How says why it was not found, and Dir is a mount's root: sockops
	// then sees every socket made under it, and the pid filter in BPF
	// still keeps only the target's.
	Exact bool
	How   string
}

// maxCgroupDirs bounds the search of the cgroup trees for a target's group
// (hosts have hundreds or thousands): a pathological tree must not stall
// the start.
const maxCgroupDirs = 100000

// errCgroupBound ends a search of the cgroup trees that met maxCgroupDirs.
var errCgroupBound = errors.New("search bound met")

// resolveCgroup finds the group of process pid among mounts. procCgroup is
// /proc/PID/cgroup as this process reads it (injectable, for tests of other
// namespaces' views): its "0::PATH" is relative to this process's cgroup
// namespace root, like mounts' Root, and starts with "/.." when the target
// is outside it. A directory is taken only when its cgroup.procs lists pid
// (pids there are in our pid namespace, as pid is). First PATH joined to
// each mount, then a walk of each mount's tree, then the first mount's root.
func resolveCgroup(mounts []cgroupMount, pid int, procCgroup string) TargetCgroup {
	if len(mounts) == 0 {
		return TargetCgroup{How: "no cgroup v2 hierarchy is mounted"}
	}
	path, hasPath := cgroupPath(procCgroup)
	if hasPath {
		for _, m := range mounts {
			for _, dir := range cgroupCandidates(m, path) {
				if cgroupHolds(dir, pid) {
					return TargetCgroup{Dir: dir, Exact: true, How: fmt.Sprintf("0::%s in /proc/%d/cgroup under %s (root %s)", path, pid, m.Dir, m.Root)}
				}
			}
		}
	}
	said := fmt.Sprintf("/proc/%d/cgroup has no 0:: line", pid)
	if hasPath {
		said = fmt.Sprintf("0::%s in /proc/%d/cgroup names no group of the mounts", path, pid)
	}
	budget := maxCgroupDirs
	var searched []string
	for _, m := range mounts {
		dir, err := findCgroup(m.Dir, pid, &budget)
		if dir != "" {
			return TargetCgroup{Dir: dir, Exact: true, How: fmt.Sprintf("searched %s for the cgroup.procs listing pid %d (%s)", m.Dir, pid, said)}
		}
		searched = append(searched, m.Dir)
		if err != nil {
			searched = append(searched, err.Error())
			break
		}
	}
	how := fmt.Sprintf("no cgroup.procs lists pid %d (%s; searched %s): sockops attached to the mount's root sees every socket made under it, the pid filter keeps the target's",
		pid, said, strings.Join(searched, ", "))
	if hasPath && climbs(splitCgroup(path)) {
		// A sidecar in a cgroup namespace of its own: its mounts, and any
		// it makes, show its namespace only.
		how += "; but the target's group is outside our cgroup namespace, so likely not under it: mount the host's cgroup v2 hierarchy into the agent's container (/sys/fs/cgroup:/host/sys/fs/cgroup:ro)"
	}
	return TargetCgroup{Dir: mounts[0].Dir, How: how}
}

// cgroupPath is the cgroup v2 path in a /proc/PID/cgroup file's content.
func cgroupPath(procCgroup string) (string, bool) {
	for _, line := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") {
			return p, true
		}
	}
	return "", false
}

// cgroupCandidates are the directories that path (from /proc/PID/cgroup)
// may name in mount m: path below m's root ("/a/b/c" under root "/a" is
// c; "/../x" under "/.." is x), and mount + path as it stands. Neither may
// climb out of the mount (into a v1 hierarchy next to it, say), and
// components are compared as they are: filepath.Clean("/../x") would lose
// the climb.
func cgroupCandidates(m cgroupMount, path string) []string {
	var dirs []string
	comps, root := splitCgroup(path), splitCgroup(m.Root)
	if len(comps) >= len(root) && equalComps(comps[:len(root)], root) && !climbs(comps[len(root):]) {
		dirs = append(dirs, filepath.Join(append([]string{m.Dir}, comps[len(root):]...)...))
	}
	if !climbs(comps) {
		if d := filepath.Join(m.Dir, path); len(dirs) == 0 || dirs[0] != d {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func climbs(comps []string) bool {
	for _, c := range comps {
		if c == ".." {
			return true
		}
	}
	return false
}

func splitCgroup(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func equalComps(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// findCgroup walks the cgroup tree at root, directories only, for the one
// whose cgroup.procs lists pid; budget is what is left of maxCgroupDirs.
func findCgroup(root string, pid int, budget *int) (string, error) {
	var found string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // unreadable (removed meanwhile) or a file: go on
		}
		if *budget--; *budget < 0 {
			return fmt.Errorf("%w (%d directories)", errCgroupBound, maxCgroupDirs)
		}
		if cgroupHolds(p, pid) {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	return found, err
}

// cgroupHolds reports whether the cgroup.procs of group dir lists pid.
func cgroupHolds(dir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return false
	}
	want := strconv.Itoa(pid)
	for _, line := range strings.Split(string(b), "\n") {
		if line == want {
			return true
		}
	}
	return false
}
