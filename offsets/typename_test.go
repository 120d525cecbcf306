package offsets_test

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
	"github.com/glsotel/glsotel/offsets"
)

// TestTypeName reads the type descriptor of every static itab of real
// binaries — the HTTP fixture from every release, PIE too, and Caddy — and
// checks TypeName against the linker's name for the itab's type, in the
// unstripped binary and in a stripped copy (no symbols, no DWARF: the
// types' base and the offsets from the rules and the table).
func TestTypeName(t *testing.T) {
	bins := map[string]func(t *testing.T) string{
		"caddy": func(t *testing.T) string { return must(t)(testbuild.Caddy(t.Logf)) },
	}
	for _, tc := range testbuild.Releases { // (httpsvc needs go1.22)
		bins["httpsvc-"+tc.Name] = func(t *testing.T) string { return testbuild.Build(t, "../e2e/apps/httpsvc", tc, false) }
	}
	bins["httpsvc-pie"] = func(t *testing.T) string {
		out := filepath.Join(t.TempDir(), "pie")
		c := exec.Command("go", "build", "-buildmode=pie", "-o", out, ".")
		c.Dir = "../e2e/apps/httpsvc"
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go build -buildmode=pie: %v\n%s", err, b)
		}
		return out
	}
	for name, build := range bins {
		t.Run(name, func(t *testing.T) {
			path := build(t)
			stripped := filepath.Join(t.TempDir(), "stripped")
			if b, err := exec.Command("objcopy", "--strip-all", path, stripped).CombinedOutput(); err != nil {
				t.Fatalf("objcopy --strip-all: %v\n%s", err, b)
			}
			checkTypeNames(t, path, stripped)
		})
	}
}

var localType = regexp.MustCompile(`\.[0-9]+$`)

func checkTypeNames(t *testing.T, path, stripped string) {
	f, syms := openELF(t, path)
	// The linker names no type descriptor, but every static itab, whose
	// second word points at its type's descriptor.
	type vector struct {
		desc uint64
		want string
	}
	var vectors []vector
	for _, s := range syms {
		name, ok := strings.CutPrefix(s.Name, "go:itab.")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(name, ',')
		if i < 0 || strings.ContainsAny(name[:i], "[{") || localType.MatchString(name[:i]) {
			// Type arguments are spelled differently, an interface type
			// holds commas, a type declared in a function is T.1 here.
			continue
		}
		w := make([]byte, 8)
		if _, err := readAt(f, w, s.Value+8); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		desc := binary.LittleEndian.Uint64(w)
		if desc == 0 {
			// A PIE's file keeps each pointer's value (the addend) as
			// well as its relocation.
			t.Fatalf("%s: no type pointer in the file", s.Name)
		}
		// The linker escapes dots in a path's last element (yaml%2ev3).
		vectors = append(vectors, vector{desc, strings.ReplaceAll(name[:i], "%2e", ".")})
	}
	for _, p := range []string{path, stripped} {
		bin, err := offsets.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var bad int
		for _, v := range vectors {
			got, err := bin.TypeName(v.desc)
			switch {
			case err == nil && got == v.want:
			default:
				if bad++; bad < 20 {
					t.Errorf("TypeName(%#x) = %q, %v; want %q", v.desc, got, err, v.want)
				}
			}
		}
		bin.Close()
		t.Logf("%s: %d of %d itabs' types spelled as the linker does", filepath.Base(p), len(vectors)-bad, len(vectors))
		if len(vectors) < 100 {
			t.Errorf("only %d itabs", len(vectors))
		}
	}
}

func readAt(f *elf.File, b []byte, addr uint64) (int, error) {
	for _, s := range f.Sections {
		if s.Type == elf.SHT_PROGBITS && addr >= s.Addr && addr+uint64(len(b)) <= s.Addr+s.Size {
			return s.ReadAt(b, int64(addr-s.Addr))
		}
	}
	return 0, fmt.Errorf("%#x in no section", addr)
}
