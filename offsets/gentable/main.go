// Command gentable regenerates offsets/table.json: for each Go release it
// builds a small program with that toolchain (downloaded through the module
// proxy via GOTOOLCHAIN) and records the DWARF offsets of every field a
// registered probe declares (required or optional), so stripped binaries
// of that release family can be instrumented.
//
//	go run ./offsets/gentable -o offsets/table.json go1.21.13 go1.22.12 ...
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"github.com/glsotel/glsotel/exporter"
	"github.com/glsotel/glsotel/instrumentation"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// prog links what the probes hook (the runtime, net/http server and
// client, database/sql), so their types are in its DWARF.
const prog = `package main

import (
	"context"
	"database/sql"
	"net/http"
)

func main() {
	if db, err := sql.Open("none", ""); err == nil {
		db.QueryContext(context.Background(), "")
		c, _ := db.Conn(context.Background())
		tx, _ := c.BeginTx(context.Background(), nil)
		s, _ := tx.PrepareContext(context.Background(), "")
		s.ExecContext(context.Background())
		tx.Commit()
	}
	go func() {}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:1/", nil)
	http.DefaultClient.Do(req)
	http.HandleFunc("GET /{x}", func(http.ResponseWriter, *http.Request) {})
	http.ListenAndServe("127.0.0.1:0", nil)
}
`

// fields lists every field the registered probes declare.
func fields() []offsets.Field {
	var fs []offsets.Field
	var ps []*probe.Probe
	for _, inject := range []propagation.Injection{propagation.InjectSockMsg, propagation.InjectWriteUser} {
		ps = append(ps, instrumentation.Probes(instrumentation.Outputs{
			Markers: func(glsmarker.Observation) {}, Spans: func(exporter.Span) {},
		}, instrumentation.Settings{Inject: inject})...)
	}
	for _, p := range ps {
		fs = append(fs, p.Fields...)
		fs = append(fs, p.Optional...)
		fs = append(fs, p.ReadFields...)
	}
	slices.Sort(fs)
	return slices.Compact(fs)
}

func main() {
	out := flag.String("o", "offsets/table.json", "output file")
	flag.Parse()
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "gentable:", err)
		os.Exit(1)
	}
}

func run(out string, versions []string) error {
	if len(versions) == 0 {
		return fmt.Errorf("name at least one Go release, e.g. go1.23.12")
	}
	dir, err := os.MkdirTemp("", "gentable")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gentable\n\ngo 1.21\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(prog), 0o644); err != nil {
		return err
	}
	t := offsets.Table{Go: map[string]offsets.TableEntry{}}
	for _, v := range versions {
		bin := filepath.Join(dir, "prog-"+v)
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir, cmd.Stderr = dir, os.Stderr
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+v, "GOFLAGS=")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build with %s: %w", v, err)
		}
		b, err := offsets.Open(bin)
		if err != nil {
			return err
		}
		got := map[offsets.Field]uint64{}
		for _, f := range fields() {
			off, err := b.Fields([]offsets.Field{f})
			if errors.Is(err, offsets.ErrNoField) {
				fmt.Fprintf(os.Stderr, "%s: no %s\n", v, f) // a field of later releases
				continue
			}
			if err != nil {
				b.Close()
				return err
			}
			got[f] = off[f]
		}
		b.Close()
		t.Go[b.GoVersion.MinorString()] = offsets.TableEntry{Source: v, Fields: got}
		fmt.Fprintf(os.Stderr, "%s: %d fields\n", v, len(got))
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(data, '\n'), 0o644)
}
