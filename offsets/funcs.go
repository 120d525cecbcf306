package offsets

import (
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// ErrNoSymbol is wrapped by Func when the binary lacks the function.
var ErrNoSymbol = errors.New("symbol not found")

// ErrUndecodable is wrapped by Func when an instruction of the function
// does not decode: its RETs cannot be found without guessing, and a guess
// can put a return probe's int3 inside an instruction.
var ErrUndecodable = errors.New("instruction not decodable")

var errTruncated = errors.New("truncated instruction")

// Func locates one function for uprobes. Offsets are relative to Entry.
type Func struct {
	Name string
	// Entry is the virtual address; FileOffset is where it lives in the file
	// (what a uprobe is attached to).
	Entry, FileOffset uint64
	// AfterPrologue is the offset just past the stack-check prologue: an entry
	// uprobe at 0 fires again after every stack growth, because morestack
	// re-runs the function from its first instruction.
	AfterPrologue uint64
	// Returns holds the offset of every RET instruction.
	Returns []uint64
}

// Func finds a function by its symbol name (e.g. "runtime.newproc1").
func (b *Binary) Func(name string) (Func, error) {
	syms, err := b.symbols()
	if err != nil {
		return Func{}, err
	}
	s, ok := syms[name]
	if !ok {
		return Func{}, fmt.Errorf("%s (%s): %s: %w", b.Path, b.GoVersion, name, ErrNoSymbol)
	}
	off, err := b.fileOffset(s.addr)
	if err != nil {
		return Func{}, fmt.Errorf("%s: %w", name, err)
	}
	code, err := b.code(s.addr, s.size)
	if err != nil {
		return Func{}, fmt.Errorf("%s: %w", name, err)
	}
	// x86asm decodes some AVX instructions of hand-written assembly to the
	// wrong length, silently (runtime.memclrNoHeapPointers): only what
	// Go's compiler wrote is decoded.
	asm, err := b.assembly(s.addr)
	if err != nil {
		return Func{}, fmt.Errorf("%s (%s): %s: %w: %w", b.Path, b.GoVersion, name, ErrUndecodable, err)
	}
	if asm {
		return Func{}, fmt.Errorf("%s (%s): %s: %w: hand-written assembly", b.Path, b.GoVersion, name, ErrUndecodable)
	}
	fn := Func{Name: name, Entry: s.addr, FileOffset: off}
	fn.AfterPrologue = afterPrologue(code)
	if fn.Returns, err = returns(code); err != nil {
		return Func{}, fmt.Errorf("%s (%s): %s: %w", b.Path, b.GoVersion, name, err)
	}
	if len(fn.Returns) == 0 {
		return Func{}, fmt.Errorf("%s (%s): %s: no RET instruction found", b.Path, b.GoVersion, name)
	}
	return fn, nil
}

// afterPrologue returns the offset just past the last conditional jump of
// the stack check that opens a Go function (CMP SP,16(R14); JBE morestack,
// or the big-frame variant with two jumps). A function without a stack check
// (NOSPLIT, small leaf) yields 0.
func afterPrologue(code []byte) uint64 {
	var pc, after uint64
	for n := 0; n < 8 && pc < uint64(len(code)); n++ {
		inst, err := decode(code[pc:])
		if err != nil {
			break
		}
		next := pc + uint64(inst.Len)
		switch inst.Op {
		case x86asm.JBE, x86asm.JB, x86asm.JA, x86asm.JAE:
			// The morestack call sits after the function body: the jump goes forward.
			if rel, ok := inst.Args[0].(x86asm.Rel); ok && rel > 0 {
				after = next
			}
		case x86asm.PUSH, x86asm.CALL, x86asm.RET:
			return after // frame setup or body: the check is over
		case x86asm.SUB:
			if r, ok := inst.Args[0].(x86asm.Reg); ok && r == x86asm.RSP {
				return after
			}
		}
		pc = next
	}
	return after
}

// returns lists the offset of every RET in the function body, decoding
// it from its first instruction to its last. Any byte that does not decode
// is an error: resynchronising after it could take a 0xC3 inside another
// instruction for a RET.
func returns(code []byte) ([]uint64, error) {
	var rets []uint64
	for pc := 0; pc < len(code); {
		inst, err := decode(code[pc:])
		if err != nil {
			return nil, fmt.Errorf("+%#x (% x): %w: %w", pc, code[pc:min(pc+8, len(code))], ErrUndecodable, err)
		}
		if inst.Op == x86asm.RET {
			rets = append(rets, uint64(pc))
		}
		pc += inst.Len
	}
	return rets, nil
}

// decode decodes the instruction at the start of code.
func decode(code []byte) (x86asm.Inst, error) {
	inst, err := x86asm.Decode(code, 64)
	if err == nil && inst.Op == 0 {
		// What x86asm makes of a truncated instruction: its first byte
		// as a prefix, 1 byte long, and no error.
		err = errTruncated
	}
	return inst, err
}
