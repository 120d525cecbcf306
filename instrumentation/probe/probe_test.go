package probe

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/offsets"
)

func TestConstName(t *testing.T) {
	for f, want := range map[offsets.Field]string{
		"runtime.g.goid":                      "off_runtime_g_goid",
		"net/http.Request.Method":             "off_net_http_Request_Method",
		"github.com/jackc/pgx/v5.Conn.pgConn": "off_github_com_jackc_pgx_v5_Conn_pgConn",
	} {
		if got := ConstName(f); got != want {
			t.Errorf("ConstName(%s) = %s, want %s", f, got, want)
		}
	}
}

// A BPF const the probe did not declare is reported by name, not left zero.
func TestInjectOffsetsUndeclared(t *testing.T) {
	spec := &ebpf.CollectionSpec{Variables: map[string]*ebpf.VariableSpec{}}
	spec.Variables["off_runtime_g_goid"] = nil
	err := injectOffsets(spec, &Probe{Name: "x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "off_runtime_g_goid") {
		t.Fatalf("err = %v", err)
	}
}

func TestView(t *testing.T) {
	type ev struct {
		Kind uint32
		N    uint32
		V    uint64
	}
	raw := []byte{4, 0, 0, 0, 7, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0xff}
	e := View[ev](raw)
	if e == nil || e.Kind != 4 || e.N != 7 || e.V != 0x0201 {
		t.Fatalf("View = %+v", e)
	}
	raw[4] = 9 // a view, not a copy
	if e.N != 9 {
		t.Errorf("View copied the event")
	}
	if View[ev](raw[:15]) != nil {
		t.Error("View of a short sample is not nil")
	}
}
