package sqlconv

import "strings"

// driverPackages maps the import path of a driver package (or of its
// module: /v2, /v5/stdlib and other subpackages match too) to
// db.system.name.
var driverPackages = []struct{ path, system string }{
	{"github.com/lib/pq", "postgresql"},
	{"github.com/jackc/pgx", "postgresql"},
	{"github.com/go-sql-driver/mysql", "mysql"},
	{"modernc.org/sqlite", "sqlite"},
	{"github.com/mattn/go-sqlite3", "sqlite"},
	{"github.com/glebarez/go-sqlite", "sqlite"},
	{"github.com/ncruces/go-sqlite3", "sqlite"},
	{"github.com/microsoft/go-mssqldb", "microsoft.sql_server"},
	{"github.com/denisenkom/go-mssqldb", "microsoft.sql_server"},
	{"github.com/sijms/go-ora", "oracle.db"},
	{"github.com/godror/godror", "oracle.db"},
	{"github.com/ClickHouse/clickhouse-go", "clickhouse"},
}

// driverNames maps a bare package name, all a type name carries when the
// binary gives no import path (as reflect prints "*pq.Driver"), to
// db.system.name. Names several systems' drivers share (pgx's "stdlib")
// are left out.
var driverNames = map[string]string{
	"pq":         "postgresql",
	"pgx":        "postgresql",
	"mysql":      "mysql",
	"sqlite":     "sqlite",
	"sqlite3":    "sqlite",
	"mssql":      "microsoft.sql_server",
	"go_ora":     "oracle.db",
	"godror":     "oracle.db",
	"clickhouse": "clickhouse",
}

// System returns db.system.name for a database/sql driver or connector
// from its Go type name, as a symbol writes it with the full import
// path ("*github.com/lib/pq.Driver", "*github.com/jackc/pgx/v5/stdlib.Driver")
// or with the package name only ("*pq.Driver"). It returns "other_sql"
// for a driver it does not know.
func System(goType string) string {
	t := strings.TrimLeft(goType, "*")
	if i := strings.IndexByte(t, '['); i >= 0 { // generic type arguments
		t = t[:i]
	}
	slash := strings.LastIndexByte(t, '/')
	dot := strings.LastIndexByte(t[slash+1:], '.')
	if dot < 0 {
		return "other_sql"
	}
	pkg := t[:slash+1+dot]
	if i := strings.LastIndex(pkg, "vendor/"); i >= 0 && (i == 0 || pkg[i-1] == '/') {
		pkg = pkg[i+len("vendor/"):]
		slash = strings.LastIndexByte(pkg, '/')
	}
	if slash < 0 {
		if s, ok := driverNames[pkg]; ok {
			return s
		}
		return "other_sql"
	}
	for _, d := range driverPackages {
		if rest, ok := strings.CutPrefix(pkg, d.path); ok && (rest == "" || rest[0] == '/') {
			return d.system
		}
	}
	return "other_sql"
}
