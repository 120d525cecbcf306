package offsets

import (
	"debug/dwarf"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrNoField is wrapped when a field offset is known neither from DWARF nor
// from the generated table.
var ErrNoField = errors.New("field offset not found")

// Field names a struct field as "<package path>.<type>.<field>", e.g.
// "runtime.g.goid" or "net/http.Request.Method".
type Field string

func (f Field) split() (typ, field string) {
	i := strings.LastIndexByte(string(f), '.')
	return string(f[:i]), string(f[i+1:])
}

// Fields returns the offsets of the given fields, read from DWARF when the
// binary has it, and from the embedded table (generated per Go release by
// offsets/gentable) when it was built with -ldflags=-w.
// What DWARF holds or lacks is remembered, so probes asking for the same
// fields do not scan it again (one scan for many fields is cheapest).
func (b *Binary) Fields(want []Field) (map[Field]uint64, error) {
	got := make(map[Field]uint64, len(want))
	b.fieldMu.Lock()
	var scan []Field
	for _, f := range want {
		if off, ok := b.fieldCache[f]; ok {
			got[f] = off
		} else if !b.fieldAbsent[f] {
			scan = append(scan, f)
		}
	}
	if len(scan) > 0 {
		if d := b.dwarfLocked(); d != nil {
			if err := dwarfFields(d, scan, got); err != nil {
				b.fieldMu.Unlock()
				return nil, fmt.Errorf("%s: %w", b.Path, err)
			}
			if b.fieldCache == nil {
				b.fieldCache, b.fieldAbsent = map[Field]uint64{}, map[Field]bool{}
			}
			for _, f := range scan {
				if off, ok := got[f]; ok {
					b.fieldCache[f] = off
				} else {
					b.fieldAbsent[f] = true
				}
			}
		}
	}
	hasDWARF := b.dwarfErr == nil
	b.fieldMu.Unlock()
	var missing []string
	for _, f := range want {
		if _, ok := got[f]; ok {
			continue
		}
		if off, ok := tableField(b.GoVersion, f); ok {
			got[f] = off
			continue
		}
		missing = append(missing, string(f))
	}
	if len(missing) > 0 {
		src := "DWARF"
		if !hasDWARF {
			src = "the offsets table (binary has no DWARF)"
		}
		return nil, fmt.Errorf("%s (%s): %s not in %s: %w", b.Path, b.GoVersion, strings.Join(missing, ", "), src, ErrNoField)
	}
	return got, nil
}

// dwarfFields scans the type entries once for every wanted struct.
func dwarfFields(d *dwarf.Data, want []Field, got map[Field]uint64) error {
	byType := map[string][]Field{}
	for _, f := range want {
		t, _ := f.split()
		byType[t] = append(byType[t], f)
	}
	r := d.Reader()
	for len(byType) > 0 {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("read DWARF: %w", err)
		}
		if e == nil {
			return nil
		}
		if e.Tag != dwarf.TagStructType {
			if e.Children && e.Tag != dwarf.TagCompileUnit {
				r.SkipChildren()
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		fields, ok := byType[name]
		if !ok || !e.Children {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		members := map[string]uint64{}
		for {
			m, err := r.Next()
			if err != nil {
				return fmt.Errorf("read DWARF %s: %w", name, err)
			}
			if m == nil || m.Tag == 0 {
				break
			}
			if m.Tag == dwarf.TagMember {
				n, _ := m.Val(dwarf.AttrName).(string)
				if loc, ok := m.Val(dwarf.AttrDataMemberLoc).(int64); ok {
					members[n] = uint64(loc)
				}
			}
			if m.Children {
				r.SkipChildren()
			}
		}
		for _, f := range fields {
			_, fld := f.split()
			if off, ok := members[fld]; ok {
				got[f] = off
			}
		}
		delete(byType, name)
	}
	return nil
}

// Table is the generated offsets table: for each Go release family
// ("go1.23"), the field offsets measured from DWARF of a binary built by the
// newest patch release of that family (Source).
type Table struct {
	Go map[string]TableEntry `json:"go"`
}

// TableEntry is one Go release family's offsets.
type TableEntry struct {
	Source string           `json:"source"`
	Fields map[Field]uint64 `json:"fields"`
}

//go:embed table.json
var tableJSON []byte

var loadTable = sync.OnceValues(func() (Table, error) {
	var t Table
	err := json.Unmarshal(tableJSON, &t)
	return t, err
})

// tableField looks a field up for v's release family: runtime struct layouts
// do not change within a family, so a new patch release works at once.
func tableField(v Version, f Field) (uint64, bool) {
	t, err := loadTable()
	if err != nil {
		return 0, false
	}
	off, ok := t.Go[v.MinorString()].Fields[f]
	return off, ok
}

// RuntimeFields lists what the generated table records per Go release.
var RuntimeFields = []Field{"runtime.g.goid", "runtime.g.parentGoid"}
