// Package testbuild builds fixture programs for tests, with a chosen Go
// toolchain (downloaded through the module proxy on first use) and with or
// without symbols and DWARF.
package testbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Toolchain names a Go release to build fixtures with.
type Toolchain struct {
	Name string // short name for subtests, e.g. "go1.23"
	// Version is the GOTOOLCHAIN value ("local" for the Go running the test).
	Version string
	// Env is added to the build's environment (e.g. GOEXPERIMENT).
	Env []string
}

// Toolchains are the releases the GLS tests run across: g.goid sits at 160
// in go1.23 and at 152 in go1.26.
var Toolchains = []Toolchain{
	{Name: strings.Join(strings.Split(runtime.Version(), ".")[:2], "."), Version: "local"},
	{Name: "go1.23", Version: "go1.23.12"},
}

// Releases are the Go release families the HTTP probes are tested on
// (newest patch of each), plus go1.25 with the classic hmap
// (GOEXPERIMENT=noswissmap), since http.Header is read in place.
var Releases = []Toolchain{
	{Name: "go1.22", Version: "go1.22.12"},
	{Name: "go1.23", Version: "go1.23.12"},
	{Name: "go1.24", Version: "go1.24.13"},
	{Name: "go1.25", Version: "go1.25.14"},
	{Name: "go1.25-noswissmap", Version: "go1.25.14", Env: []string{"GOEXPERIMENT=noswissmap"}},
	{Name: "go1.26", Version: "go1.26.8"},
}

// Oldest is the oldest release glsotel supports (offsets.MinGo), for
// fixtures that build with it (no ServeMux patterns: those came in 1.22).
var Oldest = Toolchain{Name: "go1.21", Version: "go1.21.13"}

// Supported is every release family glsotel supports: Oldest, then
// Releases.
func Supported() []Toolchain { return append([]Toolchain{Oldest}, Releases...) }

// PIE is tc building position-independent executables
// (-buildmode=pie), which the kernel loads at an address of its choosing.
func PIE(tc Toolchain) Toolchain {
	tc.Name += "-pie"
	tc.Env = append(slices.Clone(tc.Env), "GOFLAGS=-buildmode=pie") // after Build's GOFLAGS=: the last wins
	return tc
}

// Build compiles the main package in dir (relative to the calling test's
// package) into a temporary directory and returns the binary's path.
// stripped builds with -ldflags='-s -w': no .symtab, no DWARF.
//
// Where no Go toolchain runs (a test VM), GLSOTEL_TEST_PREBUILT names a
// directory of fixtures built beforehand, one per base name: Build returns
// that one, whatever the toolchain asked for.
func Build(t testing.TB, dir string, tc Toolchain, stripped bool) string {
	t.Helper()
	if pre := os.Getenv(PrebuiltEnv); pre != "" {
		p := filepath.Join(pre, filepath.Base(dir))
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: no prebuilt %s: %v", PrebuiltEnv, pre, filepath.Base(dir), err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	args := []string{"build", "-o", out}
	if stripped {
		args = append(args, "-ldflags=-s -w")
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOTOOLCHAIN="+tc.Version, "GOFLAGS=", "CGO_ENABLED=0"), tc.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s with %s: %v\n%s", dir, tc.Version, err, b)
	}
	return out
}

// PrebuiltEnv names the directory of prebuilt fixtures (see Build).
const PrebuiltEnv = "GLSOTEL_TEST_PREBUILT"

// Variant is one way of building a fixture.
type Variant struct {
	Name      string // e.g. "go1.23-stripped"
	Toolchain Toolchain
	Stripped  bool
}

// Variants is every toolchain, with and without symbols and DWARF.
func Variants() []Variant {
	var vs []Variant
	for _, tc := range Toolchains {
		vs = append(vs, Variant{tc.Name, tc, false}, Variant{tc.Name + "-stripped", tc, true})
	}
	return vs
}
