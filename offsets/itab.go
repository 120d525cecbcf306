package offsets

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
)

// itabFun0 is where an itab keeps its first method's address: after the
// interface and type pointers, the hash and 4 bytes of padding (Go 1.21 to
// 1.26, runtime.itab / internal/abi.ITab).
const itabFun0 = 24

// interfaceMethodsLen is where an interface type keeps its method count:
// after its abi.Type (48 bytes) and package path, the Methods slice's len.
const interfaceMethodsLen = 48 + 8 + 8

// ItabType names the dynamic type of the interface table at addr, an
// address in the file (a running PIE's addresses less its load bias), e.g.
// "*net.OpError" for go:itab.*net.OpError,error, with its full package
// path. Unstripped binaries name every static itab (made by the linker);
// otherwise the type is read off the itab's first method, whose name the
// function table keeps even in stripped binaries ("pkg.(*T).M" -> "*pkg.T").
// Itabs made at run time are not in the file and not known.
func (b *Binary) ItabType(addr uint64) (string, bool) {
	b.itabOnce.Do(func() {
		b.itabs = map[uint64]string{}
		syms, err := b.f.Symbols()
		if err != nil {
			return
		}
		for _, s := range syms {
			if name, ok := strings.CutPrefix(s.Name, "go:itab."); ok && s.Value != 0 {
				if i := topLevelComma(name); i > 0 {
					b.itabs[s.Value] = name[:i]
				}
			}
		}
	})
	if t, ok := b.itabs[addr]; ok {
		return t, true
	}
	return b.itabMethodType(addr)
}

// itabMethodType reads the type off the itab's methods. The linker points
// methods nothing calls at runtime.unreachableMethod, so the first other
// one is used; the interface type says how many there are.
func (b *Binary) itabMethodType(addr uint64) (string, bool) {
	head, err := b.code(addr, itabFun0)
	if err != nil {
		return "", false
	}
	n := uint64(0)
	if methods, err := b.code(binary.LittleEndian.Uint64(head)+interfaceMethodsLen, 8); err == nil {
		n = min(binary.LittleEndian.Uint64(methods), 64)
	}
	for i := range n {
		word, err := b.code(addr+itabFun0+8*i, 8)
		if err != nil {
			return "", false
		}
		if name, ok := b.funcAt(binary.LittleEndian.Uint64(word)); ok && name != "runtime.unreachableMethod" {
			return receiverType(name)
		}
	}
	return "", false
}

// MethodType names the receiver type of the method whose code starts at
// addr, e.g. "*github.com/lib/pq.Error" for github.com/lib/pq.(*Error).Error.
// A value type's method reached through an interface may be its pointer
// wrapper, so T can show as *T.
func (b *Binary) MethodType(addr uint64) (string, bool) {
	name, ok := b.funcAt(addr)
	if !ok {
		return "", false
	}
	return receiverType(name)
}

type namedFunc struct {
	addr uint64
	name string
}

func (b *Binary) funcAt(addr uint64) (string, bool) {
	b.byAddrOnce.Do(func() {
		syms, err := b.symbols()
		if err != nil {
			return
		}
		for name, s := range syms {
			b.byAddr = append(b.byAddr, namedFunc{s.addr, name})
		}
		slices.SortFunc(b.byAddr, func(x, y namedFunc) int { return cmp.Compare(x.addr, y.addr) })
	})
	i, ok := slices.BinarySearchFunc(b.byAddr, addr, func(f namedFunc, a uint64) int { return cmp.Compare(f.addr, a) })
	if !ok {
		return "", false
	}
	return b.byAddr[i].name, true
}

// receiverType turns a method's symbol into its receiver type:
// "pkg/path.(*T).M" -> "*pkg/path.T", "pkg/path.T.M" -> "pkg/path.T".
// Anything else (a plain function, a closure) is not a method.
func receiverType(fn string) (string, bool) {
	// Type arguments may hold dots and slashes: look outside brackets.
	plain := fn
	if i := strings.IndexByte(fn, '['); i >= 0 {
		plain = fn[:i]
	}
	slash := strings.LastIndexByte(plain, '/') + 1
	dot, depth := -1, 0
	for i := len(fn) - 1; i >= slash && dot < 0; i-- {
		switch fn[i] {
		case ']':
			depth++
		case '[':
			depth--
		case '.':
			if depth == 0 {
				dot = i
			}
		}
	}
	if dot <= slash {
		return "", false
	}
	dir, recv := fn[:slash], fn[slash:dot] // recv: "pkg.(*T)" or "pkg.T"
	if pkg, t, ok := strings.Cut(recv, ".(*"); ok && strings.HasSuffix(t, ")") {
		return "*" + dir + pkg + "." + strings.TrimSuffix(t, ")"), true
	}
	if i := strings.IndexByte(recv, '.'); i < 0 || strings.ContainsAny(recv[:i], "()") || strings.Contains(recv[i+1:], ".") && !strings.Contains(recv, "[") {
		return "", false
	}
	return dir + recv, true
}

// topLevelComma finds the comma between type and interface in an itab
// symbol; type arguments and interface literals have commas of their own.
func topLevelComma(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{', '(':
			depth++
		case ']', '}', ')':
			depth--
		case ',':
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}
