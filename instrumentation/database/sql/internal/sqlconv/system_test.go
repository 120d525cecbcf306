package sqlconv

import "testing"

func TestSystem(t *testing.T) {
	tests := []struct{ in, want string }{
		// Full import paths, as symbols and DWARF write them.
		{"*github.com/lib/pq.Driver", "postgresql"},
		{"*github.com/lib/pq.Connector", "postgresql"},
		{"github.com/lib/pq.Driver", "postgresql"},
		{"*github.com/jackc/pgx/v5/stdlib.Driver", "postgresql"},
		{"*github.com/jackc/pgx/v4/stdlib.driverConnector", "postgresql"},
		{"*github.com/jackc/pgx/stdlib.Driver", "postgresql"},
		{"*github.com/jackc/pgx/v5.Conn", "postgresql"},
		{"*github.com/go-sql-driver/mysql.MySQLDriver", "mysql"},
		{"*github.com/go-sql-driver/mysql.connector", "mysql"},
		{"*modernc.org/sqlite.Driver", "sqlite"},
		{"*modernc.org/sqlite/lib.X", "sqlite"},
		{"*github.com/mattn/go-sqlite3.SQLiteDriver", "sqlite"},
		{"*github.com/glebarez/go-sqlite.Driver", "sqlite"},
		{"*github.com/ncruces/go-sqlite3/driver.SQLite", "sqlite"},
		{"github.com/microsoft/go-mssqldb.Driver", "microsoft.sql_server"},
		{"*github.com/microsoft/go-mssqldb.Connector", "microsoft.sql_server"},
		{"*github.com/denisenkom/go-mssqldb.Driver", "microsoft.sql_server"},
		{"*github.com/ClickHouse/clickhouse-go/v2.stdDriver", "clickhouse"},
		{"*github.com/ClickHouse/clickhouse-go.stdDriver", "clickhouse"},
		{"*github.com/sijms/go-ora/v2.OracleDriver", "oracle.db"},
		{"*github.com/godror/godror.drv", "oracle.db"},
		{"**github.com/lib/pq.Driver", "postgresql"},
		{"*example.com/app/vendor/github.com/lib/pq.Driver", "postgresql"},
		{"*vendor/github.com/lib/pq.Driver", "postgresql"},
		{"*github.com/jackc/pgx/v5/stdlib.Driver[int]", "postgresql"},

		// Look-alikes are not the drivers.
		{"*github.com/lib/pqx.Driver", "other_sql"},
		{"*github.com/lib/p.Driver", "other_sql"},
		{"*github.com/jackc/pgxpool.Pool", "other_sql"},
		{"*github.com/example/mysql.Driver", "other_sql"},
		{"*example.com/sqlite.Driver", "other_sql"},
		{"*github.com/mattn/go-sqlite3x.Driver", "other_sql"},
		{"*github.com/clickhouse/clickhouse-go/v2.stdDriver", "other_sql"}, // import paths are case-sensitive
		{"*database/sql.DB", "other_sql"},
		{"*github.com/snowflakedb/gosnowflake.SnowflakeDriver", "other_sql"},

		// Package names only.
		{"*pq.Driver", "postgresql"},
		{"*pq.Connector", "postgresql"},
		{"*pgx.Conn", "postgresql"},
		{"*mysql.MySQLDriver", "mysql"},
		{"*sqlite3.SQLiteDriver", "sqlite"},
		{"*sqlite.Driver", "sqlite"},
		{"mssql.Driver", "microsoft.sql_server"},
		{"*go_ora.OracleDriver", "oracle.db"},
		{"*godror.drv", "oracle.db"},
		{"*clickhouse.stdDriver", "clickhouse"},
		{"*stdlib.Driver", "other_sql"}, // pgx's, or anyone's
		{"*main.Driver", "other_sql"},

		// Not a type name.
		{"", "other_sql"},
		{"*", "other_sql"},
		{"Driver", "other_sql"},
		{"github.com/lib/pq", "other_sql"}, // a package, no type
		{"github.com/lib/pq/", "other_sql"},
		{".", "other_sql"},
		{"/.", "other_sql"},
		{"a/b/c.", "other_sql"},
		{"\x00\xff.\x00", "other_sql"},
		{"[", "other_sql"},
	}
	for _, tt := range tests {
		if got := System(tt.in); got != tt.want {
			t.Errorf("System(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
