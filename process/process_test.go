package process

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPreflight(t *testing.T) {
	dir := t.TempDir()
	status := func(capEff string) string {
		p := filepath.Join(dir, "status-"+capEff)
		os.WriteFile(p, []byte("Name:\tx\nCapEff:\t"+capEff+"\n"), 0o644)
		return p
	}
	pmu := filepath.Join(dir, "type")
	os.WriteFile(pmu, []byte("7\n"), 0o644)
	for _, tc := range []struct {
		name, status, pmu, want string
	}{
		{"root", status("000001ffffffffff"), pmu, ""},
		{"CAP_BPF+CAP_PERFMON", status("000000c000000000"), pmu, ""},
		{"CAP_BPF only", status("0000008000000000"), pmu, "needs root, or CAP_BPF and CAP_PERFMON"},
		{"nothing", status("0000000000000000"), pmu, "needs root"},
		{"no uprobes", status("000001ffffffffff"), filepath.Join(dir, "absent"), "kernel has no uprobe PMU"},
	} {
		err := preflight(tc.status, tc.pmu)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrNotSupported)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// This host must pass: the BPF tests would fail otherwise.
func TestPreflightHere(t *testing.T) {
	if err := Preflight(); err != nil {
		t.Fatal(err)
	}
}
