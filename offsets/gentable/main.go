// Command gentable regenerates offsets/table.json: for each Go release it
// builds a small program with that toolchain (downloaded through the module
// proxy via GOTOOLCHAIN) and records the DWARF offsets of RuntimeFields.
//
//	go run ./offsets/gentable -o offsets/table.json go1.21.13 go1.22.12 ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/glsotel/glsotel/offsets"
)

const prog = `package main

func main() { go func() {}() }
`

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
		fields, err := b.Fields(offsets.RuntimeFields)
		b.Close()
		if err != nil {
			return err
		}
		t.Go[b.GoVersion.MinorString()] = offsets.TableEntry{Source: v, Fields: fields}
		fmt.Fprintf(os.Stderr, "%s: %v\n", v, fields)
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(data, '\n'), 0o644)
}
