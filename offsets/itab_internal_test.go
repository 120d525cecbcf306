package offsets

import (
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
)

func TestReceiverType(t *testing.T) {
	for fn, want := range map[string]string{
		"github.com/lib/pq.(*Error).Error":         "*github.com/lib/pq.Error",
		"database/sql.dsnConnector.Connect":        "database/sql.dsnConnector",
		"modernc.org/sqlite.(*Driver).Open":        "*modernc.org/sqlite.Driver",
		"net.(*OpError).Error":                     "*net.OpError",
		"gopkg.in/yaml.v3.(*Node).Decode":          "*gopkg.in/yaml.v3.Node",
		"github.com/x/y.(*List[go.shape.int]).Len": "*github.com/x/y.List[go.shape.int]",
		"main.main":              "",
		"runtime.goexit":         "",
		"nodot":                  "",
		"github.com/a/b.f.func1": "b.f", // closures are never in an itab; this documents the ambiguity
	} {
		got, ok := receiverType(fn)
		if want == "b.f" {
			want = "github.com/a/b.f"
		}
		if got != want || ok != (want != "") {
			t.Errorf("receiverType(%q) = %q, %v; want %q", fn, got, ok, want)
		}
	}
}

// The first method of an itab names its type as the go:itab symbol does,
// which is what stripped binaries are left with.
func TestItabMethodTypeMatchesSymbols(t *testing.T) {
	b, err := Open(testbuild.Build(t, "../e2e/apps/httpsvc", testbuild.Toolchains[0], false))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.ItabType(0) // loads the symbol names
	if len(b.itabs) < 50 {
		t.Fatalf("only %d itab symbols", len(b.itabs))
	}
	named := 0
	for addr, want := range b.itabs {
		got, ok := b.itabMethodType(addr)
		if !ok {
			continue // every method unreachable: nothing calls through this itab
		}
		named++
		if got != want && got != "*"+want {
			t.Errorf("itab %#x: method type %q, symbol says %q", addr, got, want)
		}
	}
	if named < len(b.itabs)*9/10 {
		t.Errorf("named %d of %d itabs from their methods", named, len(b.itabs))
	}
}
