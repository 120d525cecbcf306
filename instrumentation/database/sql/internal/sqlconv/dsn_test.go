package sqlconv

import (
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	type ep = Endpoint
	tests := []struct {
		system, dsn string
		want        Endpoint
	}{
		// PostgreSQL URLs.
		{"postgresql", "postgres://user:pw@db.example.com:5433/shop?sslmode=disable", ep{"shop", "db.example.com", 5433}},
		{"postgresql", "postgresql://user:pw@db.example.com/shop", ep{"shop", "db.example.com", 5432}},
		{"postgresql", "postgres://db.example.com", ep{"", "db.example.com", 5432}},
		{"postgresql", "postgres://db.example.com/", ep{"", "db.example.com", 5432}},
		{"postgresql", "postgres://user@localhost/shop", ep{"shop", "localhost", 5432}},
		{"postgresql", "postgres://h1:5432,h2:5433/shop", ep{"shop", "h1", 5432}},
		{"postgresql", "postgres://h1,h2:5433/shop", ep{"shop", "h1", 5432}},
		{"postgresql", "postgres://[::1]:5433/shop", ep{"shop", "::1", 5433}},
		{"postgresql", "postgres://[2001:db8::1]/shop", ep{"shop", "2001:db8::1", 5432}},
		{"postgresql", "postgres://[::1]:5433,[::2]:5434/shop", ep{"shop", "::1", 5433}},
		{"postgresql", "postgres:///shop", ep{"shop", "", 0}},
		{"postgresql", "postgres:///shop?host=/var/run/postgresql", ep{"shop", "", 0}},
		{"postgresql", "postgres://%2Fvar%2Frun%2Fpostgresql/shop", ep{"shop", "", 0}},
		{"postgresql", "postgres://user:pw@/shop?host=db.internal&port=6432", ep{"shop", "db.internal", 6432}},
		{"postgresql", "postgres://h/x?dbname=shop", ep{"shop", "h", 5432}},
		{"postgresql", "postgres://h/x?host=a,b&port=1,2", ep{"x", "a", 1}},
		{"postgresql", "postgres:///x?hostaddr=10.0.0.1", ep{"x", "10.0.0.1", 5432}},
		{"postgresql", "postgres://h/my%20db", ep{"my db", "h", 5432}},
		{"postgresql", "POSTGRES://h/shop", ep{"shop", "h", 5432}},
		{"postgresql", "postgres://h:notaport/shop", ep{"shop", "h", 0}},
		{"postgresql", "postgres://h:99999/shop", ep{"shop", "h", 0}},
		{"postgresql", "postgres://h:/shop", ep{"shop", "h", 5432}},
		// A password with unescaped '@', '/', ':' or '?' stays hidden.
		{"postgresql", "postgres://user:p@ss/w:rd@db:5432/shop", ep{"shop", "db", 5432}},
		{"postgresql", "postgres://user:p@ss/w:rd?x@db:5432/shop", ep{}}, // '?' in the password, or '@' in the parameters?
		{"postgresql", "postgres://db/shop?password=p@ss", ep{}},
		{"postgresql", "postgres://db/shop?application_name=a@b", ep{}},
		{"postgresql", "postgres://db/shop?password=secret&sslmode=disable", ep{"shop", "db", 5432}},
		{"postgresql", "postgres://user:p@ss@db/shop", ep{"shop", "db", 5432}},
		{"postgresql", "postgres://us@er:secret@db/shop", ep{"shop", "db", 5432}},
		{"postgresql", "postgres://user:secret@", ep{"", "", 0}},

		// PostgreSQL key=value.
		{"postgresql", "host=db.example.com port=5433 dbname=shop user=bob password=secret", ep{"shop", "db.example.com", 5433}},
		{"postgresql", "host=db dbname=shop", ep{"shop", "db", 5432}},
		{"postgresql", "dbname=shop", ep{"shop", "", 0}},
		{"postgresql", "user=bob password=secret", ep{"", "", 0}}, // libpq's default dbname is the user: not reported
		{"postgresql", "host=/tmp dbname=shop", ep{"shop", "", 0}},
		{"postgresql", "host=@abstract dbname=shop", ep{"shop", "", 0}},
		{"postgresql", "host=h1,h2 port=5433,5434 dbname=shop", ep{"shop", "h1", 5433}},
		{"postgresql", "hostaddr=10.1.2.3 dbname=shop", ep{"shop", "10.1.2.3", 5432}},
		{"postgresql", "host=db hostaddr=10.1.2.3", ep{"", "db", 5432}},
		{"postgresql", "  host = db   dbname = 'my shop'  ", ep{"my shop", "db", 5432}},
		{"postgresql", `dbname='it\'s' host=h`, ep{"it's", "h", 5432}},
		{"postgresql", `dbname='back\\slash' host=h`, ep{`back\slash`, "h", 5432}},
		{"postgresql", `dbname=a\ b host=h`, ep{"a b", "h", 5432}},
		{"postgresql", `password='p w=x host=evil' host=h dbname=d`, ep{"d", "h", 5432}},
		{"postgresql", "host='h'port=1", ep{"", "h", 1}},
		{"postgresql", "host=h dbname=''", ep{"", "h", 5432}},
		{"postgresql", "host=h port=", ep{"", "h", 5432}},
		{"postgresql", "host=[::1] dbname=x", ep{"x", "::1", 5432}},
		{"postgresql", "host=::1 dbname=x", ep{"x", "::1", 5432}},
		{"postgresql", "host=h:5433 dbname=x", ep{"x", "h", 5433}},
		{"postgresql", "host=h password='unterminated", ep{}},
		{"postgresql", "host", ep{}},
		{"postgresql", "host h", ep{}},
		{"postgresql", "=x", ep{}},
		{"postgresql", "ho st=h", ep{}},
		{"postgresql", "garbage", ep{}},
		{"postgresql", "\x00\xff", ep{}},

		// MySQL.
		{"mysql", "u:p@tcp(127.0.0.1:3306)/shop?parseTime=true", ep{"shop", "127.0.0.1", 3306}},
		{"mysql", "u:p@tcp(db.example.com:3307)/shop", ep{"shop", "db.example.com", 3307}},
		{"mysql", "u:p@tcp(db.example.com)/shop", ep{"shop", "db.example.com", 3306}},
		{"mysql", "u:p@tcp([::1]:3307)/shop", ep{"shop", "::1", 3307}},
		{"mysql", "u:p@tcp([::1])/shop", ep{"shop", "::1", 3306}},
		{"mysql", "u:p@tcp6(::1)/shop", ep{"shop", "::1", 3306}},
		{"mysql", "u:p@/shop", ep{"shop", "127.0.0.1", 3306}},
		{"mysql", "/shop", ep{"shop", "127.0.0.1", 3306}},
		{"mysql", "/", ep{"", "127.0.0.1", 3306}},
		{"mysql", "u@tcp(h:1)/", ep{"", "h", 1}},
		{"mysql", "u:p@tcp/shop", ep{"shop", "127.0.0.1", 3306}},
		{"mysql", "u:p@unix(/var/run/mysqld/mysqld.sock)/shop", ep{"shop", "", 0}},
		{"mysql", "u:p@unix/shop", ep{"shop", "", 0}},
		{"mysql", "u:p@cloudsql(project:region:instance)/shop", ep{"shop", "project:region:instance", 0}},
		{"mysql", "u:p@tcp(h:3306)/my%20shop", ep{"my shop", "h", 3306}},
		{"mysql", "u:p@tcp(h:3306)/shop?tls=custom&loc=Local", ep{"shop", "h", 3306}},
		// The user info ends at the last '@' before the last '/'.
		{"mysql", "u:p/@ss@tcp(h:3306)/shop", ep{"shop", "h", 3306}},
		{"mysql", "u:p@ss@tcp(h:3306)/shop", ep{"shop", "h", 3306}},
		{"mysql", "u:p(x)@tcp(h:3306)/shop", ep{"shop", "h", 3306}},
		{"mysql", "u:p@tcp(h:3306/shop", ep{}},
		{"mysql", "u:p@tcp(h:3306)", ep{}},
		{"mysql", "u:p/shop", ep{}},    // no '@': "u:p" is no network name
		{"mysql", "u:p(h)/shop", ep{}}, // ditto
		{"mysql", "shop", ep{}},        // no '/'
		{"mysql", "u:p@tcp(h:x)/d", ep{"d", "h", 0}},
		{"mysql", "mysql://u:p@h:3306/shop", ep{}}, // not this driver's form

		// SQLite.
		{"sqlite", "test.db", ep{"test.db", "", 0}},
		{"sqlite", "/var/lib/app/data.db", ep{"/var/lib/app/data.db", "", 0}},
		{"sqlite", "./data.db?_busy_timeout=5000&_journal=WAL", ep{"./data.db", "", 0}},
		{"sqlite", "file:test.db", ep{"test.db", "", 0}},
		{"sqlite", "file:test.db?cache=shared&mode=rwc", ep{"test.db", "", 0}},
		{"sqlite", "file:/abs/path.db?_auth_user=u&_auth_pass=secret", ep{"/abs/path.db", "", 0}},
		{"sqlite", "file:///abs/path.db", ep{"/abs/path.db", "", 0}},
		{"sqlite", "file://localhost/abs/path.db", ep{"/abs/path.db", "", 0}},
		{"sqlite", "file:my%20data.db", ep{"my data.db", "", 0}},
		{"sqlite", "file:data.db#frag", ep{"data.db", "", 0}},
		{"sqlite", ":memory:", ep{}},
		{"sqlite", "file::memory:", ep{}},
		{"sqlite", "file::memory:?cache=shared", ep{}},
		{"sqlite", "file:memdb1?mode=memory&cache=shared", ep{}},
		{"sqlite", "", ep{}},
		{"sqlite", "file:", ep{}},
		{"sqlite", "?x=y", ep{}},
		{"sqlite", "file://", ep{}},

		// Other systems, or nothing to read.
		{"microsoft.sql_server", "sqlserver://u:p@h:1433?database=shop", ep{}},
		{"oracle.db", "oracle://u:p@h:1521/svc", ep{}},
		{"other_sql", "u:p@tcp(h)/d", ep{}},
		{"", "postgres://h/d", ep{}},
		{"postgresql", "", ep{}},
		{"mysql", "", ep{}},
	}
	for _, tt := range tests {
		got := ParseDSN(tt.system, tt.dsn)
		if got != tt.want {
			t.Errorf("ParseDSN(%q, %q) = %+v, want %+v", tt.system, tt.dsn, got, tt.want)
		}
		for _, secret := range []string{"secret", "bob", "ss", "w:rd"} {
			if strings.Contains(got.Namespace+got.Address, secret) {
				t.Errorf("ParseDSN(%q, %q) = %+v: user info leaked", tt.system, tt.dsn, got)
			}
		}
	}
}

func TestParseDSNLarge(t *testing.T) {
	big := strings.Repeat("a@b/c:(d)'=\\ ,", 1<<16)
	for _, s := range systems {
		for _, dsn := range []string{big, "postgres://" + big, "host='" + big, "file:" + big} {
			ParseDSN(s, dsn) // must not panic, nor take long
		}
	}
}
