package offsets_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
	"github.com/glsotel/glsotel/offsets"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want offsets.Version
		bad  bool
	}{
		{in: "go1.23.12", want: offsets.Version{1, 23, 12}},
		{in: "go1.24", want: offsets.Version{1, 24, 0}},
		{in: "go1.25rc1", want: offsets.Version{1, 25, 0}},
		{in: "go1.26.8 X:nodwarf5", want: offsets.Version{1, 26, 8}},
		{in: "go1.22.1-bigcorp", want: offsets.Version{1, 22, 1}},
		{in: "devel +abc", bad: true},
		{in: "go1", bad: true},
		{in: "gox.y", bad: true},
	} {
		got, err := offsets.ParseVersion(tc.in)
		if tc.bad != (err != nil) || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v", tc.in, got, err)
		}
	}
	if !(offsets.Version{1, 20, 14}).Less(offsets.MinGo) || offsets.MinGo.Less(offsets.Version{1, 20, 14}) {
		t.Error("Less is wrong around MinGo")
	}
}

// The binaries exercise both symbol sources (.symtab, .gopclntab) and both
// offset sources (DWARF, table), for releases where g.goid differs.
func TestBinary(t *testing.T) {
	for _, v := range testbuild.Variants() {
		tc, stripped := v.Toolchain, v.Stripped
		t.Run(v.Name, func(t *testing.T) {
			path := testbuild.Build(t, "../e2e/apps/gls", tc, stripped)
			b, err := offsets.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Stripped() != stripped || b.HasDWARF() == stripped {
				t.Fatalf("Stripped()=%v HasDWARF()=%v for stripped=%v", b.Stripped(), b.HasDWARF(), stripped)
			}
			if got := b.Modules["golang.org/x/sync"]; got != "v0.10.0" {
				t.Errorf("module golang.org/x/sync = %q", got)
			}
			fn, err := b.Func("runtime.newproc1")
			if err != nil {
				t.Fatal(err)
			}
			// newproc1 has a stack check: CMP (4 bytes) + JBE rel32 (6 bytes).
			if fn.AfterPrologue != 10 || len(fn.Returns) == 0 || fn.FileOffset == 0 {
				t.Errorf("newproc1 = %+v", fn)
			}
			// An empty leaf function has no stack check and one RET.
			leaf, err := b.Func("main.glsSet")
			if err != nil {
				t.Fatal(err)
			}
			if leaf.AfterPrologue != 0 || len(leaf.Returns) != 1 {
				t.Errorf("glsSet = %+v", leaf)
			}
			f, err := b.Fields(offsets.RuntimeFields)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]uint64{"go1.23": 160, "go1.26": 152}[tc.Name]
			if want != 0 && f["runtime.g.goid"] != want {
				t.Errorf("runtime.g.goid = %d, want %d", f["runtime.g.goid"], want)
			}
			_, err = b.Func("main.noSuchFunction")
			if !errors.Is(err, offsets.ErrNoSymbol) || !strings.Contains(err.Error(), "main.noSuchFunction") || !strings.Contains(err.Error(), path) {
				t.Errorf("missing symbol: %v", err)
			}
			_, err = b.Fields([]offsets.Field{"runtime.g.noSuchField"})
			if !errors.Is(err, offsets.ErrNoField) || !strings.Contains(err.Error(), "runtime.g.noSuchField") || !strings.Contains(err.Error(), b.GoVersion.String()) {
				t.Errorf("missing field: %v", err)
			}
		})
	}
}

// The table must agree with DWARF for the running toolchain: a stale table
// would silently break stripped binaries.
// Every field the table holds for this release is checked, on a program
// that links net/http.
func TestTableMatchesDWARF(t *testing.T) {
	path := testbuild.Build(t, "../e2e/apps/httpsvc", testbuild.Toolchains[0], false)
	b, err := offsets.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var table offsets.Table
	if data, err := os.ReadFile("table.json"); err != nil || json.Unmarshal(data, &table) != nil {
		t.Fatalf("read table.json: %v", err)
	}
	var fields []offsets.Field
	for f := range table.Go[b.GoVersion.MinorString()].Fields {
		fields = append(fields, f)
	}
	if len(fields) < len(offsets.RuntimeFields) {
		t.Fatalf("table has %d fields for %s (regenerate with make offsets)", len(fields), b.GoVersion)
	}
	fromDWARF, err := b.Fields(fields)
	if err != nil {
		t.Fatal(err)
	}
	stripped, err := offsets.Open(testbuild.Build(t, "../e2e/apps/httpsvc", testbuild.Toolchains[0], true))
	if err != nil {
		t.Fatal(err)
	}
	defer stripped.Close()
	fromTable, err := stripped.Fields(fields)
	if err != nil {
		t.Fatalf("%v (regenerate with make offsets)", err)
	}
	for f, off := range fromDWARF {
		if fromTable[f] != off {
			t.Errorf("%s: table %d, DWARF %d (regenerate with make offsets)", f, fromTable[f], off)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755)
	for path, want := range map[string]error{notGo: offsets.ErrNotGo, "/no/such/file": fs.ErrNotExist} {
		if _, err := offsets.Open(path); !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%s) = %v, want %v", path, err, want)
		}
	}
}

// HeaderMap's layout numbers must match DWARF of real binaries: swiss
// tables (the local Go) and the classic hmap (go1.23).
func TestHeaderMapLayout(t *testing.T) {
	for _, tc := range testbuild.Toolchains {
		t.Run(tc.Name, func(t *testing.T) {
			b, err := offsets.Open(testbuild.Build(t, "../e2e/apps/httpsvc", tc, false))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			l := b.HeaderMap()
			want := map[offsets.Field]uint64{
				"runtime.hmap.count": l.HmapCount, "runtime.hmap.flags": l.HmapFlags, "runtime.hmap.B": l.HmapB,
				"runtime.hmap.buckets": l.HmapBuckets, "runtime.hmap.oldbuckets": l.HmapOldBuckets,
				"bucket<string,[]string>.keys": l.BucketKeys, "bucket<string,[]string>.values": l.BucketValues,
				"bucket<string,[]string>.overflow": l.BucketOverflow,
			}
			if l.Swiss {
				want = map[offsets.Field]uint64{
					"internal/runtime/maps.Map.used": l.MapUsed, "internal/runtime/maps.Map.dirPtr": l.MapDirPtr,
					"internal/runtime/maps.Map.dirLen": l.MapDirLen, "internal/runtime/maps.table.groups": l.TableGroups,
					"internal/runtime/maps.groupsReference.lengthMask": l.GroupsLengthMask,
					"noalg.map.group[string][]string.slots":            l.GroupSlots,
				}
			}
			if l.Swiss != !b.GoVersion.Less(offsets.Version{Major: 1, Minor: 24}) {
				t.Errorf("Swiss = %v for %s", l.Swiss, b.GoVersion)
			}
			var fields []offsets.Field
			for f := range want {
				fields = append(fields, f)
			}
			got, err := b.Fields(fields)
			if err != nil {
				t.Fatal(err)
			}
			for f, w := range want {
				if got[f] != w {
					t.Errorf("%s: DWARF %d, HeaderMap %d", f, got[f], w)
				}
			}
		})
	}
}
