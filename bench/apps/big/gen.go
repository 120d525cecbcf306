//go:build ignore

// Command gen writes bigsvc, a standalone Go module whose executable is
// large (over 100 MiB with the defaults, built with a plain `go build`, so
// with the usual DWARF and symbol table) and serves HTTP, so the agent's
// memory use while loading a big binary can be measured:
//
//	go run ./bench/apps/big/gen.go -out /tmp/bigsvc
//	cd /tmp/bigsvc && go build -o bigsvc .
//
// The module (module bigsvc, no dependencies) holds -packages packages
// pNNN, each with -funcs functions FNNNN(int) int and one struct type per
// eight functions, each type with several fields and three methods. The
// bodies are varied (arithmetic, loops, switch statements, indexing into
// string constants, struct values and method calls) and depend on their
// argument, so the compiler cannot fold them away, and the binary gets many
// functions, types, line entries and strings. Every package exports
//
//	var Funcs = []func(int) int{...}
//
// listing all its functions and a method value of every method, and main
// keeps every table live, so nothing is dead-code eliminated.
//
// The executable:
//
//	bigsvc serve ADDR   listens on ADDR (HOST:PORT, port 0 for a free one),
//	                    prints "listening HOST:PORT" once, answers GET /work
//	                    with "ok\n" and GET /quit with "bye\n", then exits 0
//	                    about 50 ms later.
//
// With BIGSVC_RUN_ALL set in the environment, it first calls every function
// of every table once and prints the count and a checksum to stderr.
//
// The output is deterministic: the same flags write the same files.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

const funcsPerFile = 250

func main() {
	out := flag.String("out", "", "directory to write the module into (required)")
	npkg := flag.Int("packages", 50, "number of generated packages")
	nfunc := flag.Int("funcs", 1000, "number of generated functions per package")
	flag.Parse()
	if *out == "" || *npkg < 1 || *nfunc < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := generate(*out, *npkg, *nfunc); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(dir string, npkg, nfunc int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Drop packages a previous run with more -packages left behind.
	old, err := filepath.Glob(filepath.Join(dir, "p[0-9][0-9][0-9]*"))
	if err != nil {
		return err
	}
	for _, o := range old {
		if err := os.RemoveAll(o); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, "go.mod"), func(w *bufio.Writer) {
		w.WriteString("module bigsvc\n\ngo 1.26\n")
	}); err != nil {
		return err
	}
	for p := 0; p < npkg; p++ {
		if err := genPackage(dir, p, nfunc); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, "main.go"), func(w *bufio.Writer) {
		genMain(w, npkg)
	})
}

// writeFile creates path and fills it with fill.
func writeFile(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pkgName(p int) string { return fmt.Sprintf("p%03d", p) }

func ntypes(nfunc int) int { return max(1, nfunc/8) }

var words = strings.Fields(`account address amount archive balance batch
	bucket buffer cache channel checkout client cluster column commit config
	connection consumer counter cursor customer deadline delivery device
	document endpoint event export filter gateway handler header index invoice
	journal ledger listener manifest message metric node offset order owner
	packet partition payload payment pipeline policy producer profile queue
	quota record region registry replica request resource response route
	schedule schema segment session shard shipment snapshot socket span stream
	subscription tenant ticket timeout token topic trace transaction upload
	user vendor version warehouse window worker`)

var verbs = strings.Fields(`accept allocate apply archive assign authorize
	balance cancel check close commit compact compute decode deliver drain
	encode evict expand export fetch flush forward index load lookup merge
	migrate normalize open parse persist publish purge rebalance reconcile
	refresh reject release render replay reserve resolve restore retry route
	sample scan schedule seal serialize settle shard split store sync throttle
	transform truncate update upload validate verify`)

// sentence returns a short pseudo-English message.
func sentence(r *rand.Rand) string {
	n := 4 + r.IntN(8)
	parts := make([]string, n)
	for i := range parts {
		if i%3 == 1 {
			parts[i] = verbs[r.IntN(len(verbs))]
		} else {
			parts[i] = words[r.IntN(len(words))]
		}
	}
	return strings.Join(parts, " ") + fmt.Sprintf(" (code %d)", r.IntN(100000))
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// field is one field of a generated struct type.
type field struct {
	name, typ string
	kind      int // index in fieldKinds
}

var fieldKinds = []string{"int", "int64", "uint32", "float64", "string", "bool", "[]byte", "[]int", "map[string]int", "*T", "[4]int16", "struct{ Lo, Hi int32 }"}

type typeInfo struct {
	name   string
	fields []field
}

func genTypes(p, nfunc int) []typeInfo {
	r := rand.New(rand.NewPCG(uint64(p), 0x7e57))
	types := make([]typeInfo, ntypes(nfunc))
	for t := range types {
		ti := typeInfo{name: fmt.Sprintf("T%03d%s", t, title(words[r.IntN(len(words))]))}
		used := map[string]bool{}
		// Every type has an int first field the methods start from.
		ti.fields = append(ti.fields, field{name: "ID", typ: "int", kind: 0})
		used["ID"] = true
		for len(ti.fields) < 4+r.IntN(7) {
			k := r.IntN(len(fieldKinds))
			name := title(words[r.IntN(len(words))])
			if used[name] {
				continue
			}
			used[name] = true
			typ := fieldKinds[k]
			if typ == "*T" {
				// Point at an earlier type, or at itself.
				if i := r.IntN(t + 1); i < t {
					typ = "*" + types[i].name
				} else {
					typ = "*" + ti.name
				}
			}
			ti.fields = append(ti.fields, field{name: name, typ: typ, kind: k})
		}
		types[t] = ti
	}
	return types
}

var methodNames = []string{"Mix", "Weigh", "Scan"}

// fieldExpr returns an int expression reading f of receiver v.
func fieldExpr(v string, f field, r *rand.Rand) string {
	switch fieldKinds[f.kind] {
	case "int":
		return v + "." + f.name
	case "int64", "uint32":
		return "int(" + v + "." + f.name + ")"
	case "float64":
		return fmt.Sprintf("int(%s.%s*%d.5)", v, f.name, 1+r.IntN(9))
	case "string":
		return "len(" + v + "." + f.name + ")"
	case "bool":
		return "b2i(" + v + "." + f.name + ")"
	case "[]byte", "[]int", "map[string]int":
		return "len(" + v + "." + f.name + ")"
	case "*T":
		return "b2i(" + v + "." + f.name + " != nil)"
	case "[4]int16":
		return fmt.Sprintf("int(%s.%s[%d])", v, f.name, r.IntN(4))
	default:
		return "int(" + v + "." + f.name + ".Lo-" + v + "." + f.name + ".Hi)"
	}
}

// fieldAssign returns a statement storing int expression e into f of v.
func fieldAssign(v string, f field, e string, r *rand.Rand) string {
	switch fieldKinds[f.kind] {
	case "int":
		return fmt.Sprintf("%s.%s = %s", v, f.name, e)
	case "int64":
		return fmt.Sprintf("%s.%s = int64(%s)", v, f.name, e)
	case "uint32":
		return fmt.Sprintf("%s.%s = uint32(%s)", v, f.name, e)
	case "float64":
		return fmt.Sprintf("%s.%s = float64(%s) / %d", v, f.name, e, 2+r.IntN(30))
	case "string":
		return fmt.Sprintf("%s.%s = %q[%s&7:]", v, f.name, words[r.IntN(len(words))]+"-"+words[r.IntN(len(words))], "uint("+e+")")
	case "bool":
		return fmt.Sprintf("%s.%s = (%s)&%d != 0", v, f.name, e, 1<<r.IntN(6))
	case "[]byte":
		return fmt.Sprintf("%s.%s = append(%s.%s, byte(%s))", v, f.name, v, f.name, e)
	case "[]int":
		return fmt.Sprintf("%s.%s = append(%s.%s, %s)", v, f.name, v, f.name, e)
	case "map[string]int":
		return fmt.Sprintf("if %s.%s != nil {\n\t\t%s.%s[%q] += %s\n\t}", v, f.name, v, f.name, words[r.IntN(len(words))], e)
	case "*T":
		return "_ = " + e
	case "[4]int16":
		return fmt.Sprintf("%s.%s[%d] = int16(%s)", v, f.name, r.IntN(4), e)
	default:
		return fmt.Sprintf("%s.%s.Lo = int32(%s)", v, f.name, e)
	}
}

// arith returns a random wrapping integer expression over the variable v.
func arith(v string, r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("%s*%d + %d", v, 3+2*r.IntN(500), r.IntN(100000))
	case 1:
		return fmt.Sprintf("(%s ^ %#x) + %s>>%d", v, r.Uint32(), v, 1+r.IntN(13))
	case 2:
		return fmt.Sprintf("%s - %s<<%d + %d", v, v, 1+r.IntN(7), r.IntN(1000))
	case 3:
		return fmt.Sprintf("(%s | %#x) - (%s & %#x)", v, r.Uint32()&0xffff, v, r.Uint32()&0xffffff)
	case 4:
		return fmt.Sprintf("%s + int(uint(%s)%%%d)*%d", v, v, 3+r.IntN(97), 1+r.IntN(50))
	default:
		return fmt.Sprintf("%s*%s%%%d + %d", v, v, 7+r.IntN(1000), r.IntN(77))
	}
}

func genTypesFile(w *bufio.Writer, p int, types []typeInfo) {
	r := rand.New(rand.NewPCG(uint64(p), 0x7e58))
	fmt.Fprintf(w, "// Code generated by bench/apps/big/gen.go. DO NOT EDIT.\n\npackage %s\n\n", pkgName(p))
	w.WriteString("func b2i(b bool) int {\n\tif b {\n\t\treturn 1\n\t}\n\treturn 0\n}\n")
	for _, t := range types {
		fmt.Fprintf(w, "\n// %s holds the %s.\ntype %s struct {\n", t.name, sentence(r), t.name)
		for _, f := range t.fields {
			fmt.Fprintf(w, "\t%s %s\n", f.name, f.typ)
		}
		w.WriteString("}\n")
		for _, m := range methodNames {
			fmt.Fprintf(w, "\n// %s folds x into the %s.\nfunc (t *%s) %s(x int) int {\n", m, words[r.IntN(len(words))], t.name, m)
			fmt.Fprintf(w, "\tacc := t.ID + x*%d\n", 3+r.IntN(1000))
			for i := 0; i < 2+r.IntN(3); i++ {
				f := t.fields[r.IntN(len(t.fields))]
				fmt.Fprintf(w, "\tacc += %s\n", fieldExpr("t", f, r))
			}
			fmt.Fprintf(w, "\tswitch uint(acc) %% %d {\n", 4)
			for c := 0; c < 4; c++ {
				f := t.fields[r.IntN(len(t.fields))]
				fmt.Fprintf(w, "\tcase %d:\n\t\t%s\n", c, strings.ReplaceAll(fieldAssign("t", f, arith("acc", r), r), "\n\t", "\n\t\t"))
			}
			w.WriteString("\t}\n")
			fmt.Fprintf(w, "\tfor i := range %d + x&3 {\n\t\tacc = %s + i\n\t}\n", 1+r.IntN(5), arith("acc", r))
			w.WriteString("\treturn acc\n}\n")
		}
	}
}

// genFunc writes function F<f> of package p.
func genFunc(w *bufio.Writer, p, f int, types []typeInfo) {
	r := rand.New(rand.NewPCG(uint64(p), uint64(f)))
	name := fmt.Sprintf("F%04d", f)
	ns := 1 + r.IntN(3)
	for s := 0; s < ns; s++ {
		fmt.Fprintf(w, "\nconst msg%04d_%d = %q\n", f, s, sentence(r))
	}
	fmt.Fprintf(w, "\n// %s will %s the %s.\nfunc %s(x int) int {\n", name, verbs[r.IntN(len(verbs))], words[r.IntN(len(words))], name)
	fmt.Fprintf(w, "\tacc := %s\n", arith("x", r))
	usedVar := false
	nblocks := 3 + r.IntN(5)
	for b := 0; b < nblocks; b++ {
		switch r.IntN(6) {
		case 0:
			fmt.Fprintf(w, "\tacc = %s\n", arith("acc", r))
		case 1:
			fmt.Fprintf(w, "\tfor i := 0; i < x&%d+%d; i++ {\n", 1<<(1+r.IntN(3))-1, 1+r.IntN(6))
			fmt.Fprintf(w, "\t\tacc += i*%d ^ acc>>%d\n", 1+r.IntN(1000), 1+r.IntN(9))
			if r.IntN(2) == 0 {
				fmt.Fprintf(w, "\t\tif acc&%#x == %d {\n\t\t\tbreak\n\t\t}\n", 0xff, r.IntN(256))
			}
			w.WriteString("\t}\n")
		case 2:
			nc := 3 + r.IntN(10)
			fmt.Fprintf(w, "\tswitch uint(acc) %% %d {\n", nc+1)
			for c := 0; c < nc; c++ {
				fmt.Fprintf(w, "\tcase %d:\n", c)
				switch r.IntN(3) {
				case 0:
					fmt.Fprintf(w, "\t\tacc = %s\n", arith("acc", r))
				case 1:
					s := r.IntN(ns)
					fmt.Fprintf(w, "\t\tacc += int(msg%04d_%d[uint(acc)%%uint(len(msg%04d_%d))])\n", f, s, f, s)
				default:
					fmt.Fprintf(w, "\t\tacc -= %d\n\t\tacc ^= x << %d\n", r.IntN(1<<20), r.IntN(16))
				}
			}
			fmt.Fprintf(w, "\tdefault:\n\t\tacc = %s\n\t}\n", arith("acc", r))
		case 3:
			s := r.IntN(ns)
			fmt.Fprintf(w, "\tfor i, c := range msg%04d_%d {\n\t\tif i > x&%d {\n\t\t\tbreak\n\t\t}\n\t\tacc = acc*%d + int(c)\n\t}\n", f, s, 15, 31+2*r.IntN(20))
		case 4:
			t := types[r.IntN(len(types))]
			v := fmt.Sprintf("v%d", b)
			fmt.Fprintf(w, "\t%s := %s{ID: acc}\n", v, t.name)
			for i := 0; i < 1+r.IntN(3); i++ {
				f := t.fields[r.IntN(len(t.fields))]
				fmt.Fprintf(w, "\t%s\n", fieldAssign(v, f, arith("x", r), r))
			}
			fmt.Fprintf(w, "\tacc += %s.%s(x) + %s\n", v, methodNames[r.IntN(len(methodNames))], fieldExpr(v, t.fields[r.IntN(len(t.fields))], r))
		default:
			if !usedVar {
				usedVar = true
				fmt.Fprintf(w, "\tlabel := msg%04d_%d\n", f, r.IntN(ns))
				fmt.Fprintf(w, "\tif len(label) > x&63 {\n\t\tlabel = label[x&63:]\n\t}\n")
				fmt.Fprintf(w, "\tfor j := 0; j < len(label); j += %d {\n\t\tacc ^= int(label[j]) << (j & 15)\n\t}\n", 1+r.IntN(4))
			} else {
				fmt.Fprintf(w, "\tif acc < 0 {\n\t\tacc = -acc + %d\n\t} else if acc > %d {\n\t\tacc = %s\n\t}\n", r.IntN(1000), r.IntN(1<<30), arith("acc", r))
			}
		}
	}
	w.WriteString("\treturn acc\n}\n")
}

func genPackage(dir string, p, nfunc int) error {
	pdir := filepath.Join(dir, pkgName(p))
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	types := genTypes(p, nfunc)
	if err := writeFile(filepath.Join(pdir, "types.go"), func(w *bufio.Writer) {
		genTypesFile(w, p, types)
	}); err != nil {
		return err
	}
	for lo := 0; lo < nfunc; lo += funcsPerFile {
		hi := min(lo+funcsPerFile, nfunc)
		if err := writeFile(filepath.Join(pdir, fmt.Sprintf("funcs%02d.go", lo/funcsPerFile)), func(w *bufio.Writer) {
			fmt.Fprintf(w, "// Code generated by bench/apps/big/gen.go. DO NOT EDIT.\n\npackage %s\n", pkgName(p))
			for f := lo; f < hi; f++ {
				genFunc(w, p, f, types)
			}
		}); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(pdir, "table.go"), func(w *bufio.Writer) {
		fmt.Fprintf(w, "// Code generated by bench/apps/big/gen.go. DO NOT EDIT.\n\n// Package %s is generated filler for a large executable.\npackage %s\n\n", pkgName(p), pkgName(p))
		w.WriteString("// Funcs lists every function of the package and a method value of every\n// method, so that none is dead-code eliminated.\nvar Funcs = []func(int) int{\n")
		for f := 0; f < nfunc; f++ {
			fmt.Fprintf(w, "\tF%04d,\n", f)
		}
		for _, t := range types {
			for _, m := range methodNames {
				fmt.Fprintf(w, "\t(&%s{}).%s,\n", t.name, m)
			}
		}
		w.WriteString("}\n")
	})
}

func genMain(w *bufio.Writer, npkg int) {
	w.WriteString(`// Code generated by bench/apps/big/gen.go. DO NOT EDIT.

// Command bigsvc is a large generated executable that serves HTTP:
//
//	bigsvc serve ADDR   listens on ADDR, prints "listening HOST:PORT", answers
//	                    GET /work with "ok\n" and GET /quit with "bye\n", then
//	                    exits 0 about 50 ms later.
//
// With BIGSVC_RUN_ALL set it first calls every generated function once.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

`)
	for p := 0; p < npkg; p++ {
		fmt.Fprintf(w, "\t%q\n", "bigsvc/"+pkgName(p))
	}
	w.WriteString(")\n\n// tables holds the function table of every generated package.\nvar tables = [][]func(int) int{\n")
	for p := 0; p < npkg; p++ {
		fmt.Fprintf(w, "\t%s.Funcs,\n", pkgName(p))
	}
	w.WriteString(`}

var (
	next atomic.Uint64
	sink atomic.Int64
)

func runAll() {
	n, sum := 0, 0
	for _, t := range tables {
		for i, f := range t {
			sum += f(i)
			n++
		}
	}
	fmt.Fprintf(os.Stderr, "bigsvc: called %d functions, checksum %d\n", n, sum)
}

func main() {
	if len(os.Args) != 3 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: bigsvc serve ADDR")
		os.Exit(2)
	}
	if os.Getenv("BIGSVC_RUN_ALL") != "" {
		runAll()
	}
	ln, err := net.Listen("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigsvc:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		// Call one generated function per request, round robin.
		i := next.Add(1)
		t := tables[i%uint64(len(tables))]
		sink.Add(int64(t[(i/uint64(len(tables)))%uint64(len(t))](int(i))))
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /quit", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bye\n")
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		time.AfterFunc(50*time.Millisecond, func() { os.Exit(0) })
	})
	fmt.Println("listening", ln.Addr())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, "bigsvc:", err)
		os.Exit(1)
	}
}
`)
}
