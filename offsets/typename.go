package offsets

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"
)

// TypeFields are the offsets TypeName reads (internal/abi, Go 1.21 on).
// Probes whose events carry type descriptors list them as ReadFields, so
// that stripped binaries have them from the offsets table.
var TypeFields = []Field{
	"internal/abi.Type.TFlag", "internal/abi.Type.Kind_", "internal/abi.Type.Str",
	"internal/abi.PtrType.Elem", "internal/abi.UncommonType.PkgPath",
}

// kindEnds are, per kind with its own descriptor struct, the field that
// ends it (and its size): the named type's uncommon part follows. Maps
// have their own rule (mapTypeSize).
var kindEnds = map[uint8]struct {
	field Field
	size  uint64
}{
	kindPointer:   {"internal/abi.PtrType.Elem", 8},
	kindStruct:    {"internal/abi.StructType.Fields", 24},
	kindSlice:     {"internal/abi.SliceType.Elem", 8},
	kindArray:     {"internal/abi.ArrayType.Len", 8},
	kindChan:      {"internal/abi.ChanType.Dir", 8},
	kindFunc:      {"internal/abi.FuncType.OutCount", 2},
	kindInterface: {"internal/abi.InterfaceType.Methods", 24},
}

// TypeKindFields are kindEnds' fields, for the offsets table.
var TypeKindFields = []Field{
	"internal/abi.StructType.Fields", "internal/abi.SliceType.Elem", "internal/abi.ArrayType.Len",
	"internal/abi.ChanType.Dir", "internal/abi.FuncType.OutCount", "internal/abi.InterfaceType.Methods",
	"internal/abi.MapType.Flags", "internal/abi.SwissMapType.Flags", "internal/abi.OldMapType.Flags",
}

// mapTypeSize is the size of the map descriptor struct, which changed with
// the map implementation: SwissMapType or OldMapType in Go 1.24 and 1.25,
// MapType before (classic) and after (swiss). Each ends with Flags uint32.
func (b *Binary) mapTypeSize() (uint64, bool) {
	names := []Field{"internal/abi.OldMapType.Flags", "internal/abi.MapType.Flags"}
	if b.SwissMaps {
		names[0] = "internal/abi.SwissMapType.Flags"
	}
	for _, f := range names {
		if o, err := b.Fields([]Field{f}); err == nil {
			return (o[f] + 4 + 7) &^ 7, true
		}
	}
	return 0, false
}

// internal/abi's TFlag bits and kinds; unchanged since Go 1.21.
const (
	tflagUncommon  = 1 << 0
	tflagExtraStar = 1 << 1
	tflagNamed     = 1 << 2
	kindMask       = 1<<5 - 1
	kindArray      = 17
	kindChan       = 18
	kindFunc       = 19
	kindInterface  = 20
	kindMap        = 21
	kindPointer    = 22
	kindSlice      = 23
	kindString     = 24
	kindStruct     = 25
	kindUnsafePtr  = 26
)

// TypeName names the Go type whose descriptor (internal/abi.Type) is at
// addr, an address in the file (a running PIE's addresses less its load
// bias), as error.type spells types: with the full package path,
// "*github.com/lib/pq.Error", "main.myErr", "string". A type's runtime name
// has only the package's name; the path comes from the named type's
// uncommon part, which TypeName finds for named types that are structs,
// pointers or of a basic kind (and pointers to those), the types panics
// and errors have. Others keep the runtime's name.
func (b *Binary) TypeName(addr uint64) (string, error) {
	off, err := b.Fields(TypeFields)
	if err != nil {
		return "", err
	}
	name, tflag, kind, err := b.rtype(addr, off)
	if err != nil {
		return "", err
	}
	named, namedFlag := addr, tflag
	if kind == kindPointer && tflag&tflagNamed == 0 {
		// *T: the path is T's.
		w, err := b.code(addr+off["internal/abi.PtrType.Elem"], 8)
		if err != nil {
			return name, nil
		}
		named = binary.LittleEndian.Uint64(w)
		if _, namedFlag, kind, err = b.rtype(named, off); err != nil {
			return name, nil
		}
	}
	if namedFlag&tflagNamed == 0 || namedFlag&tflagUncommon == 0 {
		return name, nil
	}
	// The uncommon part follows the kind's own struct, 8-aligned.
	size := off["internal/abi.PtrType.Elem"] // the bare abi.Type
	if end, ok := kindEnds[kind]; ok {
		o, err := b.Fields([]Field{end.field})
		if err != nil {
			return name, nil
		}
		size = (o[end.field] + end.size + 7) &^ 7
	} else if kind == kindMap {
		var ok bool
		if size, ok = b.mapTypeSize(); !ok {
			return name, nil
		}
	} else if kind > kindUnsafePtr {
		return name, nil
	}
	w, err := b.code(named+size+off["internal/abi.UncommonType.PkgPath"], 4)
	if err != nil {
		return name, nil
	}
	path, err := b.typeString(int32(binary.LittleEndian.Uint32(w)))
	if err != nil || path == "" {
		return name, nil
	}
	// name is [*]pkgname.T: pkgname is path's last element.
	star := strings.HasPrefix(name, "*")
	base := strings.TrimPrefix(name, "*")
	dot := strings.IndexByte(base, '.')
	if dot < 0 || strings.ContainsAny(base[:dot], "[]*(){} ") {
		return name, nil
	}
	full := path + base[dot:]
	if star {
		full = "*" + full
	}
	return full, nil
}

// rtype reads a type descriptor's runtime name, TFlag and kind.
func (b *Binary) rtype(addr uint64, off map[Field]uint64) (string, uint8, uint8, error) {
	end := max(off["internal/abi.Type.TFlag"], off["internal/abi.Type.Kind_"]) + 1
	end = max(end, off["internal/abi.Type.Str"]+4)
	t, err := b.code(addr, end)
	if err != nil {
		return "", 0, 0, fmt.Errorf("type descriptor at %#x: %w", addr, err)
	}
	tflag, kind := t[off["internal/abi.Type.TFlag"]], t[off["internal/abi.Type.Kind_"]]&kindMask
	name, err := b.typeString(int32(binary.LittleEndian.Uint32(t[off["internal/abi.Type.Str"]:])))
	if err != nil {
		return "", 0, 0, fmt.Errorf("type descriptor at %#x: %w", addr, err)
	}
	if tflag&tflagExtraStar != 0 {
		name = strings.TrimPrefix(name, "*")
	}
	return name, tflag, kind, nil
}

// typeString reads the internal/abi.Name at nameOff from the types' base
// (moduledata.types): a flags byte, a varint length, the bytes.
func (b *Binary) typeString(nameOff int32) (string, error) {
	if nameOff <= 0 {
		return "", nil
	}
	base, err := b.typesBase()
	if err != nil {
		return "", err
	}
	at := base + uint64(nameOff)
	head, err := b.code(at, 1+binary.MaxVarintLen16)
	if err != nil {
		return "", fmt.Errorf("name at %#x: %w", at, err)
	}
	n, k := binary.Uvarint(head[1:])
	if k <= 0 || n > 1<<16 {
		return "", fmt.Errorf("name at %#x: bad length", at)
	}
	s, err := b.code(at+1+uint64(k), n)
	if err != nil {
		return "", fmt.Errorf("name at %#x: %w", at, err)
	}
	return string(s), nil
}

// typesBase is where the linker starts the type descriptors (the symbol
// runtime.types, there even in stripped binaries as this rule): the first
// read-only data, which is .data.rel.ro when the binary is
// position-independent (descriptors hold pointers to relocate) and
// .rodata otherwise.
func (b *Binary) typesBase() (uint64, error) {
	for _, name := range []string{".data.rel.ro", ".rodata"} {
		if s := b.f.Section(name); s != nil && s.Type == elf.SHT_PROGBITS {
			return s.Addr, nil
		}
	}
	return 0, fmt.Errorf("%s: no .rodata section", b.Path)
}
