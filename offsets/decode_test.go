package offsets_test

import (
	"bufio"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
	"github.com/glsotel/glsotel/offsets"
)

// TestReturnsAgreeWithObjdump finds the RETs of every function of several
// large real binaries — the agent itself (plain and GOAMD64=v3), Caddy
// (a real server of about 80 MB), the bench's 100 MiB generated program
// and the HTTP fixture from every supported Go release — and checks them
// against GNU objdump, a decoder that shares nothing with ours: the same
// RETs, function by function, so every return probe offset is an
// instruction boundary. A function that does not decode must be assembly
// (Go's compiler emits nothing x86asm lacks) and be refused with
// ErrUndecodable, never guessed.
func TestReturnsAgreeWithObjdump(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Fatalf("objdump (binutils) is needed to check the decoder: %v", err)
	}
	bins := map[string]func(t *testing.T) string{
		"glsotel":    func(t *testing.T) string { return goBuild(t, "../cmd/glsotel") },
		"glsotel-v3": func(t *testing.T) string { return goBuild(t, "../cmd/glsotel", "GOAMD64=v3") },
		"caddy":      func(t *testing.T) string { return must(t)(testbuild.Caddy(t.Logf)) },
		"bigsvc":     func(t *testing.T) string { return must(t)(testbuild.Big("..", t.Logf)) },
	}
	for _, tc := range testbuild.Releases { // (httpsvc has ServeMux patterns: go1.22 on)
		bins["httpsvc-"+tc.Name] = func(t *testing.T) string { return testbuild.Build(t, "../e2e/apps/httpsvc", tc, false) }
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { checkReturns(t, bins[name](t)) })
	}
}

func must(t *testing.T) func(string, error) string {
	return func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func goBuild(t *testing.T, dir string, env ...string) string {
	out := filepath.Join(t.TempDir(), "bin")
	c := exec.Command("go", "build", "-o", out, ".")
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build %s %v: %v\n%s", dir, env, err, b)
	}
	return out
}

// openELF opens path's ELF file and reads its symbol table; the file is
// closed when t ends.
func openELF(t *testing.T, path string) (*elf.File, []elf.Symbol) {
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	return f, syms
}

func checkReturns(t *testing.T, path string) {
	f, syms := openELF(t, path)
	text := f.Section(".text")
	bin, err := offsets.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	theirs := objdumpReturns(t, path)
	var funcs, refused, rets int
	seen := map[string]bool{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || s.Value < text.Addr || s.Value+s.Size > text.Addr+text.Size || seen[s.Name] ||
			strings.HasSuffix(s.Name, "(.text)") { // a C object's section, not a function
			continue
		}
		seen[s.Name] = true
		funcs++
		fn, err := bin.Func(s.Name)
		if errors.Is(err, offsets.ErrUndecodable) {
			refused++
			if !strings.Contains(err.Error(), "assembly") && !strings.Contains(err.Error(), "not a Go function") {
				t.Errorf("%s: compiled Go code does not decode: %v", s.Name, err)
			}
			continue
		}

		// Beyond the first undecodable byte objdump is guessing too.
		var want []uint64
		for i, _ := slices.BinarySearch(theirs, s.Value); i < len(theirs) && theirs[i] < s.Value+s.Size; i++ {
			want = append(want, theirs[i]-s.Value)
		}
		if err != nil && len(want) > 0 {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		rets += len(fn.Returns)
		if !slices.Equal(fn.Returns, want) {
			t.Errorf("%s: RETs at %#x, objdump has %#x", s.Name, fn.Returns, want)
		}
	}
	for _, name := range []string{"runtime.newproc1", "net/http.(*conn).serve"} {
		if _, err := bin.Func(name); seen[name] && err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("%d functions, %d RETs agree with objdump, %d refused (assembly, or not Go)", funcs, rets, refused)
	// The runtime alone has over 200 assembly functions.
	if refused > funcs/20 {
		t.Errorf("%d of %d functions refused", refused, funcs)
	}
	if funcs < 1000 {
		t.Errorf("only %d functions: not the binary meant", funcs)
	}
}

// objdumpReturns lists, sorted, the address of every RET GNU objdump finds.
func objdumpReturns(t *testing.T, path string) []uint64 {
	c := exec.Command("objdump", "-d", "--no-show-raw-insn", path)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var rets []uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		// "  4012a0:\tret" (or "ret    $0x8", "repz ret")
		addr, inst, ok := strings.Cut(sc.Text(), ":\t")
		if !ok {
			continue
		}
		op := strings.Fields(inst)
		if len(op) == 0 || (op[0] != "ret" && !(len(op) > 1 && op[1] == "ret")) {
			continue
		}
		a, err := strconv.ParseUint(strings.TrimSpace(addr), 16, 64)
		if err != nil {
			t.Fatalf("objdump line %q: %v", sc.Text(), err)
		}
		rets = append(rets, a)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("objdump -d %s: %v", path, err)
	}
	slices.Sort(rets)
	return rets
}
