package offsets

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
)

// Maps of a Go PIE (internal linking: the file starts at 0x400000) and of
// a C-linked one (starting at 0), as the kernel writes them.
const (
	goPIEMaps = `37512c400000-37512cc00000 rw-p 00000000 00:00 0 
559cc4000000-559cc4001000 r--p 00000000 fe:00 1111                       /usr/lib/other
559cc4813000-559cc4acf000 r-xp 00000000 fe:00 9994580                    /tmp/pie19/httpsvc
559cc4acf000-559cc4dc7000 r--p 002bc000 fe:00 9994580                    /tmp/pie19/httpsvc
559cc4dc7000-559cc4e6d000 r--p 005b4000 fe:00 9994580                    /tmp/pie19/httpsvc
559cc4e6d000-559cc4ebb000 rw-p 0065a000 fe:00 9994580                    /tmp/pie19/httpsvc
559cc4ebb000-559cc6efd000 rw-p 00000000 00:00 0 
7fff2c5e1000-7fff2c602000 rw-p 00000000 00:00 0                          [stack]
`
	cPIEMaps = `5600aa000000-5600aa0a5000 r--p 00000000 fe:00 42                         /srv/my app (deleted)
5600aa0a5000-5600aa366000 r-xp 000a5000 fe:00 42                         /srv/my app (deleted)
`
)

func TestLoadBias(t *testing.T) {
	goProgs := []*elf.Prog{
		{ProgHeader: elf.ProgHeader{Type: elf.PT_PHDR, Off: 0x40, Vaddr: 0x400040}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0, Vaddr: 0x400000}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0x2bc000, Vaddr: 0x6bc000}},
	}
	cProgs := []*elf.Prog{
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0, Vaddr: 0}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Off: 0xa5000, Vaddr: 0xa5000}},
	}
	for _, tc := range []struct {
		name, maps, exe string
		progs           []*elf.Prog
		want            uint64
		err             string
	}{
		{"go", goPIEMaps, "/tmp/pie19/httpsvc", goProgs, 0x559cc4813000 - 0x400000, ""},
		{"c, deleted, spaces", cPIEMaps, "/srv/my app (deleted)", cProgs, 0x5600aa000000, ""},
		{"not mapped", goPIEMaps, "/srv/my app (deleted)", goProgs, 0, "not mapped at file offset 0"},
		{"no segment at 0", goPIEMaps, "/tmp/pie19/httpsvc", goProgs[2:], 0, "no loadable segment"},
		{"bad line", "zz-1 r--p 0 fe:00 1 /x\n", "/x", cProgs, 0, "bad address"},
	} {
		got, err := loadBias([]byte(tc.maps), tc.exe, tc.progs)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: loadBias = %#x, %v; want %#x, %q", tc.name, got, err, tc.want, tc.err)
		}
	}
}

// In a running PIE, an itab is at its file address plus the bias, and its
// first word (the interface type, relocated at load) too: what the file
// holds is the file's address.
func TestLoadBiasRunning(t *testing.T) {
	for _, pie := range []bool{false, true} {
		tc := testbuild.Toolchains[0]
		if pie {
			tc = testbuild.PIE(tc)
		}
		t.Run(tc.Name, func(t *testing.T) {
			path := testbuild.Build(t, "../e2e/apps/httpsvc", tc, false)
			b, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.PIE() != pie {
				t.Fatalf("PIE() = %v, want %v", b.PIE(), pie)
			}
			cmd := exec.Command(path, "serve", "127.0.0.1:0")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			bufio.NewReader(out).ReadString('\n') // listening: the runtime has relocated everything
			pid := cmd.Process.Pid
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err != nil {
				t.Fatal(err)
			}
			maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
			if err != nil {
				t.Fatal(err)
			}
			bias, err := b.LoadBias(maps, exe)
			if err != nil || (bias != 0) != pie {
				t.Fatalf("LoadBias = %#x, %v", bias, err)
			}
			mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
			if err != nil {
				t.Fatal(err)
			}
			defer mem.Close()
			b.ItabType(0) // loads the symbol names
			n := 0
			for addr, typ := range b.itabs {
				file, err := b.code(addr, 8)
				if err != nil {
					t.Fatalf("itab %s at %#x: %v", typ, addr, err)
				}
				var run [8]byte
				if _, err := mem.ReadAt(run[:], int64(addr+bias)); err != nil {
					t.Fatalf("itab %s at %#x+%#x: %v", typ, addr, bias, err)
				}
				if got, want := binary.LittleEndian.Uint64(run[:]), binary.LittleEndian.Uint64(file)+bias; got != want {
					t.Errorf("itab %s: interface type at %#x in the process, want %#x (file's + bias)", typ, got, want)
				}
				n++
			}
			if n < 50 {
				t.Errorf("only %d itabs", n)
			}
			t.Logf("bias %#x: %d itabs where the file says, plus the bias", bias, n)
		})
	}
}
