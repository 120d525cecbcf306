package propagation

import (
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
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCgroup2Mounts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(p, []byte(`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
90 23 0:38 /kubepods/pod1 /run/app\040cg rw,relatime shared:5 - cgroup2 cgroup2 rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
97 23 0:38 /.. /mnt/up rw,relatime - cgroup2 cgroup2 rw
`), 0o644)
	got, err := cgroup2Mounts(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupMount{{"/sys/fs/cgroup/unified", "/"}, {"/run/app cg", "/kubepods/pod1"}, {"/mnt/up", "/.."}}
	if !slices.Equal(got, want) {
		t.Errorf("cgroup2Mounts = %v, want %v (every cgroup2 mount, whole ones first)", got, want)
	}
	if _, err := cgroup2Mounts(filepath.Join(t.TempDir(), "absent")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no mountinfo: %v", err)
	}
}

func TestCgroupCandidates(t *testing.T) {
	for _, tc := range []struct {
		m    cgroupMount
		path string
		want []string
	}{
		{cgroupMount{"/cg", "/"}, "/a/b", []string{"/cg/a/b"}},
		{cgroupMount{"/cg", "/"}, "/", []string{"/cg"}},
		{cgroupMount{"/cg", "/a"}, "/a/b", []string{"/cg/b", "/cg/a/b"}},
		{cgroupMount{"/cg", "/x"}, "/a/b", []string{"/cg/a/b"}},
		{cgroupMount{"/cg", "/.."}, "/../other", []string{"/cg/other"}},
		// A climb never leaves the mount (/sys/fs/cgroup/unified/../memory
		// is a v1 hierarchy whose cgroup.procs lists pids too).
		{cgroupMount{"/cg", "/"}, "/../other", nil},
		{cgroupMount{"/cg", "/../.."}, "/../other", nil},
	} {
		if got := cgroupCandidates(tc.m, tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("cgroupCandidates(%v, %q) = %q, want %q", tc.m, tc.path, got, tc.want)
		}
	}
}

// wholeCgroup2 is a mount of the whole cgroup v2 hierarchy here, to make
// test groups in.
func wholeCgroup2(t *testing.T) cgroupMount {
	t.Helper()
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Root == "/" {
			return m
		}
	}
	t.Skipf("no cgroup2 mount of the whole hierarchy (%v)", mounts)
	return cgroupMount{}
}

// makeCgroup makes the group dir, removed when the test ends (after the
// processes put in it are gone: cleanups run last first).
func makeCgroup(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make a test cgroup: %v", err)
	}
	t.Cleanup(func() {
		// A killed process leaves its group a moment after it is reaped.
		var err error
		for range 100 {
			if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("remove test cgroup %s: %v", dir, err)
	})
}

// sleepIn starts `sleep 30` and moves it into group dir; killed at the end.
func sleepIn(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move pid %d into %s: %v", pid, dir, err)
	}
	return pid
}

func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testGroupName() string {
	return fmt.Sprintf("glsotel-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
}

// TestResolveCgroup: a process in a group of its own is found there, from
// /proc/PID/cgroup as we read it, and, when that file is another cgroup
// namespace's view ("0::/../other" names nothing here), by searching the
// tree for the cgroup.procs that lists it.
func TestResolveCgroup(t *testing.T) {
	m := wholeCgroup2(t)
	name := testGroupName()
	dir := filepath.Join(m.Dir, name)
	makeCgroup(t, dir)
	pid := sleepIn(t, dir)
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		t.Fatal(err)
	}

	got := resolveCgroup(mounts, pid, procCgroup(t, pid))
	t.Logf("as read: %+v", got)
	if got.Dir != dir || !got.Exact || !strings.HasPrefix(got.How, "0::/"+name+" in /proc/") {
		t.Errorf("resolveCgroup = %+v, want %s from /proc/%d/cgroup", got, dir, pid)
	}

	for _, view := range []string{"0::/../other\n", "12:memory:/x\n0::/../other\n", "1:name=systemd:/\n", ""} {
		got := resolveCgroup(mounts, pid, view)
		t.Logf("%q: %+v", view, got)
		if got.Dir != dir || !got.Exact || !strings.HasPrefix(got.How, "searched "+m.Dir+" for the cgroup.procs listing pid") {
			t.Errorf("/proc/%d/cgroup reading %q: resolveCgroup = %+v, want %s found by searching", pid, view, got, dir)
		}
	}

	// Nowhere (gone, or outside every mount): the first mount's root, with
	// the reason.
	gone := resolveCgroup(mounts, 1<<30, "0::/../other\n")
	t.Logf("gone: %+v", gone)
	if gone.Dir != mounts[0].Dir || gone.Exact || !strings.HasPrefix(gone.How, fmt.Sprintf("no cgroup.procs lists pid %d (0::/../other in /proc/%d/cgroup names no group of the mounts; searched %s", 1<<30, 1<<30, mounts[0].Dir)) {
		t.Errorf("a pid in no group: %+v, want the root %s and why", gone, mounts[0].Dir)
	}
	if !strings.HasSuffix(gone.How, "outside our cgroup namespace, so likely not under it: mount the host's cgroup v2 hierarchy into the agent's container (/sys/fs/cgroup:/host/sys/fs/cgroup:ro)") {
		t.Errorf("a group outside our cgroup namespace: the reason does not say so: %s", gone.How)
	}
	if none := resolveCgroup(nil, pid, ""); none.Dir != "" || none.Exact {
		t.Errorf("no mounts: %+v", none)
	}
}

// TestResolveCgroupSubtreeMount: a mount of a subtree (mountinfo root
// "/glsotel-test-…", as a container's /sys/fs/cgroup is) holds the group
// at PATH less that root; a process outside it is not found in it, and the
// mount's root is the fallback.
func TestResolveCgroupSubtreeMount(t *testing.T) {
	m := wholeCgroup2(t)
	name := testGroupName()
	parent := filepath.Join(m.Dir, name)
	makeCgroup(t, parent)
	makeCgroup(t, filepath.Join(parent, "app"))
	pid := sleepIn(t, filepath.Join(parent, "app"))

	at := t.TempDir()
	if err := unix.Mount(parent, at, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s at %s: %v", parent, at, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(at, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", at, err)
		}
	})
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(mounts, func(m cgroupMount) bool { return m.Dir == at })
	if i < 0 || mounts[i].Root != "/"+name {
		t.Fatalf("bind mount of %s at %s: mountinfo gives %v", parent, at, mounts)
	}
	sub := mounts[i]

	got := resolveCgroup([]cgroupMount{sub}, pid, procCgroup(t, pid))
	t.Logf("in the subtree: %+v", got)
	if want := filepath.Join(at, "app"); got.Dir != want || !got.Exact || !strings.HasPrefix(got.How, "0::/"+name+"/app in /proc/") {
		t.Errorf("resolveCgroup = %+v, want %s from /proc/%d/cgroup", got, want, pid)
	}
	// The whole mounts come first: the group is found in one of them.
	if got := resolveCgroup(mounts, pid, procCgroup(t, pid)); got.Dir != filepath.Join(parent, "app") || !got.Exact {
		t.Errorf("every mount: %+v, want %s", got, filepath.Join(parent, "app"))
	}
	// Searching the subtree alone, from a view that names nothing.
	if got := resolveCgroup([]cgroupMount{sub}, pid, "0::/../x\n"); got.Dir != filepath.Join(at, "app") || !got.Exact {
		t.Errorf("searching the subtree: %+v, want %s", got, filepath.Join(at, "app"))
	}

	self := os.Getpid()
	out := resolveCgroup([]cgroupMount{sub}, self, procCgroup(t, self))
	t.Logf("outside the subtree: %+v", out)
	if out.Dir != at || out.Exact || !strings.Contains(out.How, "searched "+at) || strings.Contains(out.How, "outside our cgroup namespace") {
		t.Errorf("a process outside the mount's subtree: %+v, want the mount's root %s and why", out, at)
	}
}

// TestResolveCgroupInCgroupNamespace: the agent in a cgroup namespace of
// its own (a sidecar's: rooted at its group, so the app's group reads
// "0::/../app" and mountinfo's root "/../..") still finds the app's group,
// and the injector attaches there. Re-runs this test in a group next to
// the app's, where it unshares its cgroup namespace.
func TestResolveCgroupInCgroupNamespace(t *testing.T) {
	if pid := os.Getenv("GLSOTEL_TEST_CGROUPNS_PID"); pid != "" {
		// unshare(2) gives only this thread the new namespace (and roots
		// it at our group): every read below runs on it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			t.Fatalf("unshare(CLONE_NEWCGROUP): %v", err)
		}
		inCgroupNamespace(t, pid, os.Getenv("GLSOTEL_TEST_CGROUPNS_WANT"))
		return
	}
	m := wholeCgroup2(t)
	parent := filepath.Join(m.Dir, testGroupName())
	makeCgroup(t, parent)
	app, agent := filepath.Join(parent, "app"), filepath.Join(parent, "agent")
	makeCgroup(t, app)
	makeCgroup(t, agent)
	pid := sleepIn(t, app)

	cg, err := os.Open(agent)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestResolveCgroupInCgroupNamespace$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("GLSOTEL_TEST_CGROUPNS_PID=%d", pid), "GLSOTEL_TEST_CGROUPNS_WANT="+app)
	// Born in the agent's group (CLONE_INTO_CGROUP): the namespace is
	// rooted there.
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	out, err := cmd.CombinedOutput()
	t.Logf("in a cgroup namespace:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestResolveCgroupInCgroupNamespace") {
		t.Fatalf("TestResolveCgroupInCgroupNamespace in a cgroup namespace: %v", err)
	}
}

func inCgroupNamespace(t *testing.T, pidEnv, want string) {
	pid, err := strconv.Atoi(pidEnv)
	if err != nil {
		t.Fatal(err)
	}
	if self := procCgroup(t, os.Getpid()); !strings.Contains(self, "0::/\n") {
		t.Fatalf("not at our cgroup namespace's root: /proc/self/cgroup %q", self)
	}
	view := procCgroup(t, pid)
	if !strings.Contains(view, "0::/../app\n") {
		t.Fatalf("/proc/%d/cgroup from our namespace: %q, want 0::/../app", pid, view)
	}
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mounts %v; /proc/%d/cgroup %q", mounts, pid, view)
	got := resolveCgroup(mounts, pid, view)
	t.Logf("resolved %+v", got)
	if got.Dir != want || !got.Exact {
		t.Fatalf("resolveCgroup = %+v, want %s", got, want)
	}
	in, err := StartSockMsgInjector(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if c := in.Cgroup(); c.Dir != want || !c.Exact {
		t.Errorf("injector attached to %+v, want %s", c, want)
	}
}

// TestInjectMountsCgroup2: with no cgroup2 mounted (a mount namespace of
// its own, the hierarchy unmounted there), auto still chooses sk_msg, since
// the agent can mount one (the trial mount is undone), and the injector
// mounts its own at /run/glsotel/cgroup2, attaches there, and unmounts it
// at Close.
func TestInjectMountsCgroup2(t *testing.T) {
	if os.Getenv("GLSOTEL_TEST_NO_CGROUP2") != "" {
		withoutCgroup2(t)
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("no unshare(1) to make a mount namespace")
	}
	cmd := exec.Command(unshare, "--mount", os.Args[0], "-test.run", "^TestInjectMountsCgroup2$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GLSOTEL_TEST_NO_CGROUP2=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a mount namespace without cgroup2:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestInjectMountsCgroup2") {
		t.Fatalf("TestInjectMountsCgroup2 without cgroup2: %v", err)
	}
}

func withoutCgroup2(t *testing.T) {
	mounts, err := cgroup2Mounts(selfMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if err := unix.Unmount(m.Dir, unix.MNT_DETACH); err != nil {
			t.Fatalf("unmount %s in our mount namespace: %v", m.Dir, err)
		}
	}
	if mounts, _ := cgroup2Mounts(selfMountinfo); len(mounts) > 0 {
		t.Fatalf("cgroup2 still mounted: %v", mounts)
	}
	if lock, err := Lockdown(); err == nil && lock != "none" {
		mode, why, err := ChooseInjection(InjectAuto)
		t.Logf("auto: %s (%s)", mode, why)
		if err != nil || mode != InjectSockMsg || !strings.Contains(why, "the injector mounts one at "+ownCgroup2) {
			t.Errorf("auto with no cgroup2 mounted: %s, %q, %v; want sk_msg", mode, why, err)
		}
		if mounts, _ := cgroup2Mounts(selfMountinfo); len(mounts) > 0 {
			t.Errorf("the trial mount stayed: %v", mounts)
		}
	}
	in, err := StartSockMsgInjector(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	c := in.Cgroup()
	t.Logf("injector: %+v", c)
	if !strings.HasPrefix(c.Dir, ownCgroup2) || !c.Exact {
		t.Errorf("injector attached to %+v, want a group under %s", c, ownCgroup2)
	}
	if err := in.Close(); err != nil {
		t.Error(err)
	}
	if mounts, _ := cgroup2Mounts(selfMountinfo); len(mounts) > 0 {
		t.Errorf("the injector's mount stayed after Close: %v", mounts)
	}
}
