package offsets

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// The Go 1.20+ function table (runtime.pcHeader, runtime._func), as every
// supported release writes it into .gopclntab, stripped or not.
const (
	pclnMagic         = 0xfffffff1
	pclnPclnOffset    = 64 // pcHeader.pclnOffset: where the functab starts
	pclnNfunc         = 8  // pcHeader.nfunc
	funcFlagOffset    = 41 // _func.flag, after funcID
	funcFlagAsm       = 1 << 2
	functabEntrySize  = 8 // entryoff, funcoff (uint32 each)
	pclnHeaderMinSize = 72
)

var errNotGoFunc = errors.New("not a Go function (not in the function table)")

// pclntabSection is the function table's section: position-independent
// binaries before Go 1.26 have it as .data.rel.ro.gopclntab.
func (b *Binary) pclntabSection() *elf.Section {
	if s := b.f.Section(".gopclntab"); s != nil {
		return s
	}
	return b.f.Section(".data.rel.ro.gopclntab")
}

// assembly tells whether the function at addr is hand-written assembly
// (the linker's FuncFlagAsm), read from the function table in place: a few
// small reads, no table built.
func (b *Binary) assembly(addr uint64) (bool, error) {
	sec := b.pclntabSection()
	if sec == nil {
		return false, fmt.Errorf("%s: no .gopclntab", b.Path)
	}
	read := func(off uint64, n int) ([]byte, error) {
		buf := make([]byte, n)
		if _, err := sec.ReadAt(buf, int64(off)); err != nil {
			return nil, fmt.Errorf("%s: .gopclntab at %#x: %w", b.Path, off, err)
		}
		return buf, nil
	}
	hdr, err := read(0, pclnHeaderMinSize)
	if err != nil {
		return false, err
	}
	le := binary.LittleEndian
	if le.Uint32(hdr) != pclnMagic || hdr[7] != 8 {
		return false, fmt.Errorf("%s (%s): .gopclntab magic %#x, pointer size %d: not the layout of go1.20 and later", b.Path, b.GoVersion, le.Uint32(hdr), hdr[7])
	}
	// Entries are offsets from the start of .text (pcHeader.textStart is
	// left for the runtime to fill in).
	nfunc, tab := le.Uint64(hdr[pclnNfunc:]), le.Uint64(hdr[pclnPclnOffset:])
	textSec := b.f.Section(".text")
	if textSec == nil {
		return false, fmt.Errorf("%s: no .text", b.Path)
	}
	text := textSec.Addr
	if addr < text {
		return false, errNotGoFunc
	}
	ftab, err := read(tab, int(nfunc+1)*functabEntrySize)
	if err != nil {
		return false, err
	}
	entry := func(i int) uint64 { return uint64(le.Uint32(ftab[i*functabEntrySize:])) }
	off := uint32(addr - text)
	i := sort.Search(int(nfunc), func(i int) bool { return entry(i) > uint64(off) }) - 1
	if i < 0 || entry(i) != uint64(off) {
		return false, errNotGoFunc
	}
	fn, err := read(tab+uint64(le.Uint32(ftab[i*functabEntrySize+4:])), funcFlagOffset+1)
	if err != nil {
		return false, err
	}
	if le.Uint32(fn) != off {
		return false, fmt.Errorf("%s (%s): .gopclntab: function at %#x names entry %#x", b.Path, b.GoVersion, addr, le.Uint32(fn))
	}
	return fn[funcFlagOffset]&funcFlagAsm != 0, nil
}
