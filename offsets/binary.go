// Package offsets answers "where is X in this binary?": the Go and module
// versions, function addresses, RET offsets, the end of the stack-check
// prologue, and struct field offsets. It knows ELF, DWARF, pclntab and build
// info, and nothing of BPF.
package offsets

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io/fs"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// ErrNotGo is returned by Open for an executable without Go build info.
var ErrNotGo = errors.New("not a Go binary (no Go build info)")

// Binary is an opened Go executable. It is safe for concurrent use.
type Binary struct {
	Path      string
	GoVersion Version
	// Modules maps module path to version (the main module is not included).
	Modules map[string]string
	// SwissMaps reports whether the runtime's maps are swiss tables (Go 1.24
	// and later unless built with GOEXPERIMENT=noswissmap).
	SwissMaps bool

	f *elf.File

	symOnce sync.Once
	syms    map[string]symbol
	symErr  error

	itabOnce sync.Once
	itabs    map[uint64]string

	byAddrOnce sync.Once
	byAddr     []namedFunc // sorted by address

	// fieldMu guards the field caches and the parsed DWARF.
	fieldMu     sync.Mutex
	fieldCache  map[Field]uint64 // from DWARF
	fieldAbsent map[Field]bool   // looked for in DWARF, not there
	dwarf       *dwarf.Data      // parsed on demand; FreeDWARF drops it
	dwarfErr    error            // the binary has no (readable) DWARF
}

type symbol struct{ addr, size uint64 }

// Open reads the executable at path. The caller must Close it.
func Open(path string) (*Binary, error) {
	info, err := buildinfo.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, ErrNotGo)
	}
	v, err := ParseVersion(info.GoVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: open ELF: %w", path, err)
	}
	if f.Machine != elf.EM_X86_64 {
		f.Close()
		return nil, fmt.Errorf("%s: architecture %s is not supported (amd64 only)", path, f.Machine)
	}
	mods := make(map[string]string, len(info.Deps))
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		mods[d.Path] = d.Version
	}
	return &Binary{Path: path, GoVersion: v, Modules: mods, SwissMaps: swissMaps(v, info.Settings), f: f}, nil
}

func swissMaps(v Version, settings []debug.BuildSetting) bool {
	if v.Less(Version{Major: 1, Minor: 24}) {
		return false
	}
	for _, s := range settings {
		if s.Key == "GOEXPERIMENT" && slices.Contains(strings.Split(s.Value, ","), "noswissmap") {
			return false
		}
	}
	return true
}

// Close releases the underlying file.
func (b *Binary) Close() error { return b.f.Close() }

// Stripped reports whether the binary has no .symtab.
func (b *Binary) Stripped() bool { return b.f.Section(".symtab") == nil }

// HasDWARF reports whether struct offsets can be read from the binary itself.
func (b *Binary) HasDWARF() bool {
	b.fieldMu.Lock()
	defer b.fieldMu.Unlock()
	return b.dwarfLocked() != nil
}

// dwarfLocked parses the binary's DWARF once (again after FreeDWARF); nil
// when it has none. b.fieldMu is held.
func (b *Binary) dwarfLocked() *dwarf.Data {
	if b.dwarf == nil && b.dwarfErr == nil {
		b.dwarf, b.dwarfErr = typesDWARF(b.f)
	}
	return b.dwarf
}

// typesDWARF reads only the DWARF sections type entries need: a large
// binary's line tables, location lists and ranges (most of its DWARF, and
// of the agent's peak memory) are never read.
func typesDWARF(f *elf.File) (*dwarf.Data, error) {
	data := func(name string) ([]byte, error) {
		s := f.Section(name)
		if s == nil {
			return nil, nil
		}
		b, err := s.Data() // decompresses SHF_COMPRESSED sections
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return b, nil
	}
	var abbrev, info, str []byte
	var err error
	for _, s := range []struct {
		name string
		dst  *[]byte
	}{{".debug_abbrev", &abbrev}, {".debug_info", &info}, {".debug_str", &str}} {
		if *s.dst, err = data(s.name); err != nil {
			return nil, err
		}
	}
	if info == nil || abbrev == nil {
		return nil, errors.New("no DWARF")
	}
	d, err := dwarf.New(abbrev, nil, nil, info, nil, nil, nil, str)
	if err != nil {
		return nil, err
	}
	// DWARF 5 (Go 1.25 and later) indexes names and addresses through
	// these.
	for _, name := range []string{".debug_str_offsets", ".debug_line_str", ".debug_addr"} {
		b, err := data(name)
		if err != nil {
			return nil, err
		}
		if b != nil {
			if err := d.AddSection(name, b); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return d, nil
}

// FreeDWARF lets the parsed DWARF go (tens of MiB for a large binary).
// Offsets found so far stay known; a later lookup of a new field parses it
// again.
func (b *Binary) FreeDWARF() {
	b.fieldMu.Lock()
	defer b.fieldMu.Unlock()
	b.dwarf = nil
}

// symbols loads function symbols from .symtab, or from .gopclntab when the
// binary is stripped (-ldflags=-s).
func (b *Binary) symbols() (map[string]symbol, error) {
	b.symOnce.Do(func() {
		b.syms, b.symErr = b.symtab()
		if b.symErr == nil && len(b.syms) > 0 {
			return
		}
		b.syms, b.symErr = b.pclntab()
	})
	return b.syms, b.symErr
}

func (b *Binary) symtab() (map[string]symbol, error) {
	syms, err := b.f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: read .symtab: %w", b.Path, err)
	}
	m := make(map[string]symbol, len(syms)/2)
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			m[s.Name] = symbol{addr: s.Value, size: s.Size}
		}
	}
	return m, nil
}

func (b *Binary) pclntab() (map[string]symbol, error) {
	sec := b.pclntabSection()
	text := b.f.Section(".text")
	if sec == nil || text == nil {
		return nil, fmt.Errorf("%s: no .symtab and no .gopclntab: cannot find functions", b.Path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: read .gopclntab: %w", b.Path, err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return nil, fmt.Errorf("%s: parse .gopclntab (%s): %w", b.Path, b.GoVersion, err)
	}
	m := make(map[string]symbol, len(tab.Funcs))
	for _, fn := range tab.Funcs {
		m[fn.Name] = symbol{addr: fn.Entry, size: fn.End - fn.Entry}
	}
	return m, nil
}

// fileOffset converts a virtual address to an offset in the file, which is
// what uprobes attach to.
func (b *Binary) fileOffset(addr uint64) (uint64, error) {
	for _, p := range b.f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%s: address %#x is in no executable segment", b.Path, addr)
}

// code returns the bytes of [addr, addr+size).
func (b *Binary) code(addr, size uint64) ([]byte, error) {
	for _, s := range b.f.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 && addr >= s.Addr && addr+size <= s.Addr+s.Size {
			buf := make([]byte, size)
			if _, err := s.ReadAt(buf, int64(addr-s.Addr)); err != nil {
				return nil, err
			}
			return buf, nil
		}
	}
	return nil, fmt.Errorf("%s: code at %#x+%d is in no section", b.Path, addr, size)
}
