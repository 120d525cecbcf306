package offsets

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
)

// pageSize is amd64's: the kernel maps segments from page boundaries.
const pageSize = 4096

// PIE reports whether the executable is position-independent (ET_DYN,
// -buildmode=pie): the kernel picks where it runs.
func (b *Binary) PIE() bool { return b.f.Type == elf.ET_DYN }

// LoadBias is what a process running the binary adds to the binary's
// addresses: 0 unless PIE. maps is the process's /proc/PID/maps and exe
// the executable's path as it shows there (/proc/PID/exe's link).
func (b *Binary) LoadBias(maps []byte, exe string) (uint64, error) {
	if !b.PIE() {
		return 0, nil
	}
	bias, err := loadBias(maps, exe, b.f.Progs)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", b.Path, err)
	}
	return bias, nil
}

// loadBias finds exe's mapping of file offset 0, which holds the segment
// that starts the file.
func loadBias(maps []byte, exe string, progs []*elf.Prog) (uint64, error) {
	var first *elf.Prog
	for _, p := range progs {
		if p.Type == elf.PT_LOAD && p.Off < pageSize {
			first = p
			break
		}
	}
	if first == nil {
		return 0, fmt.Errorf("no loadable segment at file offset 0")
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path (the path may hold spaces)
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) < 6 || strings.TrimLeft(f[5], " ") != exe {
			continue
		}
		start, _, _ := strings.Cut(f[0], "-")
		addr, err1 := strconv.ParseUint(start, 16, 64)
		off, err2 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("maps line %q: bad address or offset", sc.Text())
		}
		if off == 0 {
			return addr - first.Vaddr&^(pageSize-1), nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read maps: %w", err)
	}
	return 0, fmt.Errorf("%s is not mapped at file offset 0 in the process", exe)
}
