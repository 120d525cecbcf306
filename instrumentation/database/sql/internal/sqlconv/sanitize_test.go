package sqlconv

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// systems are the db.system.name values with their own lexical rules,
// plus unknown ones.
var systems = []string{
	"postgresql", "mysql", "sqlite", "microsoft.sql_server", "oracle.db",
	"clickhouse", "other_sql", "",
}

// allSystems stands for every system in a sanitizeTest.
const allSystems = "*"

type sanitizeTest struct {
	system string // allSystems for a case every system agrees on
	in     string
	want   string
}

var sanitizeTests = []sanitizeTest{
	// Nothing to hide.
	{allSystems, "", ""},
	{allSystems, "SELECT * FROM users", "SELECT * FROM users"},
	{allSystems, "  select\ta,b\nfrom   t  ", "  select\ta,b\nfrom   t  "},
	{allSystems, "SELECT NULL, TRUE, FALSE, null, true", "SELECT NULL, TRUE, FALSE, null, true"},
	{allSystems, "BEGIN", "BEGIN"},

	// Numbers.
	{allSystems, "SELECT 1", "SELECT ?"},
	{allSystems, "WHERE a = 123 AND b = 1.5 AND c = .5 AND d = 1.", "WHERE a = ? AND b = ? AND c = ? AND d = ?"},
	{allSystems, "VALUES (1e10, 1.5E-3, 2e+7, 0x1F, 0XAB, 0b101, 0o17, 1_000_000)", "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
	{allSystems, "WHERE a = -5 AND b = - 2.5", "WHERE a = -? AND b = - ?"},
	{allSystems, "WHERE a=1+2*3/4%5", "WHERE a=?+?*?/?%?"},
	{allSystems, "LIMIT 10 OFFSET 20", "LIMIT ? OFFSET ?"},
	{allSystems, "SELECT t1.col_2, c3po, x123y FROM t1", "SELECT t1.col_2, c3po, x123y FROM t1"},
	{allSystems, "SELECT a1b2$3 FROM _t9", "SELECT a1b2$3 FROM _t9"},
	{allSystems, "SELECT 1e", "SELECT ?e"},      // no exponent without a digit
	{allSystems, "SELECT 1ex", "SELECT ?ex"},    // ditto
	{allSystems, "SELECT 0xZZ", "SELECT ?xZZ"},  // no hex digit: 0 then a word
	{allSystems, "SELECT 1..2", "SELECT ??"},    // "1." and ".2"
	{allSystems, "SELECT 12abc", "SELECT ?abc"}, // a number glued to a word
	{allSystems, "SELECT a.b, t.c FROM s.t", "SELECT a.b, t.c FROM s.t"},
	{allSystems, "SELECT 1_", "SELECT ?_"},
	{allSystems, "SELECT 3.14159265358979323846264338327950288", "SELECT ?"},
	{allSystems, "ORDER BY 1, 2", "ORDER BY ?, ?"},

	// Placeholders stay.
	{allSystems, "WHERE a = $1 AND b = $23", "WHERE a = $1 AND b = $23"},
	{allSystems, "WHERE a = ? AND b = ?", "WHERE a = ? AND b = ?"},
	{allSystems, "WHERE a = ?1 AND b = ?2", "WHERE a = ?1 AND b = ?2"},
	{allSystems, "WHERE a = :name AND b = :b_2", "WHERE a = :name AND b = :b_2"},
	{allSystems, "WHERE a = @p1 AND b = @name", "WHERE a = @p1 AND b = @name"},
	{allSystems, "SELECT @@version, @@global.max_connections", "SELECT @@version, @@global.max_connections"},
	{allSystems, "SELECT x::int, y::text[]", "SELECT x::int, y::text[]"},
	{"oracle.db", "WHERE a = :1 AND b = :2", "WHERE a = :1 AND b = :2"},
	{"sqlite", "WHERE a = :1 AND b = $name AND c = $a$", "WHERE a = :1 AND b = $name AND c = $a$"},
	{"postgresql", "SELECT arr[1:2]", "SELECT arr[?:?]"}, // a slice, not :2
	{"postgresql", "SELECT @ -5, @5", "SELECT @ -?, @?"}, // absolute value

	// Single-quoted strings.
	{allSystems, "WHERE name = 'bob'", "WHERE name = ?"},
	{allSystems, "WHERE name = 'O''Brien'", "WHERE name = ?"},
	{allSystems, "WHERE a = '' AND b = ''''", "WHERE a = ? AND b = ?"},
	{allSystems, "WHERE a = 'x''", "WHERE a = ?"}, // unterminated
	{allSystems, "WHERE a = 'secret AND b = 1", "WHERE a = ?"},
	{allSystems, "WHERE a='x'AND b='y'", "WHERE a=?AND b=?"},
	{allSystems, "WHERE a = 'multi\nline -- not a comment /* nor this */'", "WHERE a = ?"},
	{allSystems, "WHERE a = '1' || '2'", "WHERE a = ? || ?"},
	{allSystems, "WHERE a = 'é日本語🎉'", "WHERE a = ?"},
	{allSystems, "WHERE a IN ('a', 'b', 'c')", "WHERE a IN (?, ?, ?)"},
	{allSystems, "SELECT 'a'1", "SELECT ??"},
	{allSystems, "SELECT 'a'.5", "SELECT ??"},
	{allSystems, "SELECT 'a'b", "SELECT ?b"},

	// Prefixed strings.
	{allSystems, "WHERE a = E'it\\'s' AND b = e'\\\\'", "WHERE a = ? AND b = ?"},
	{allSystems, "WHERE a = X'DEADBEEF' AND b = x'00' AND c = B'0101' AND d = b'1'", "WHERE a = ? AND b = ? AND c = ? AND d = ?"},
	{allSystems, "WHERE a = N'unicode' AND b = n'x'", "WHERE a = ? AND b = ?"},
	{allSystems, "WHERE a = U&'d\\0061t\\+000061' AND b = u&'x'", "WHERE a = ? AND b = ?"},
	{allSystems, "WHERE a = U&'x' UESCAPE '!'", "WHERE a = ? UESCAPE ?"},
	{allSystems, "WHERE ae'x'", "WHERE ae?"},               // not a prefix: a word, then a string
	{allSystems, "SELECT _utf8mb4'x'", "SELECT _utf8mb4?"}, // a MySQL introducer stays
	{allSystems, "SELECT E 'x'", "SELECT E ?"},
	{"postgresql", "SELECT U&\"ident\"", "SELECT U&\"ident\""},
	{"mysql", "SELECT U&\"ident\"", "SELECT U&?"},

	// Backslashes.
	{"postgresql", "WHERE a = 'C:\\' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"sqlite", "WHERE a = 'C:\\' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"microsoft.sql_server", "WHERE a = 'C:\\' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"mysql", "WHERE a = 'it\\'s' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"mysql", "WHERE a = 'C:\\\\' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"mysql", "WHERE a = 'C:\\' AND b = 1", "WHERE a = ?"}, // escaped quote: unterminated
	{"clickhouse", "WHERE a = 'it\\'s' AND b = 'x'", "WHERE a = ? AND b = ?"},
	{"postgresql", "WHERE a = E'\\'' AND b = 2", "WHERE a = ? AND b = ?"},
	{"postgresql", "WHERE a = 'x\\' AND b = 'it\\'s'", "WHERE a = ? AND b = ?s?"}, // standard strings
	{"other_sql", "WHERE a = 'it\\'s' AND b = 'x'", "WHERE a = ? AND b = ?"},      // unknown: escapes assumed

	// Double quotes: strings in MySQL, identifiers elsewhere.
	{"mysql", `WHERE a = "bob" AND b = "it""s" AND c = "x\"y"`, "WHERE a = ? AND b = ? AND c = ?"},
	{"mysql", `WHERE a = "unterminated`, "WHERE a = ?"},
	{"postgresql", `SELECT "Id", "it""s" FROM "public"."Users" WHERE "x" = 1`, `SELECT "Id", "it""s" FROM "public"."Users" WHERE "x" = ?`},
	{"sqlite", `SELECT "a b" FROM "t"`, `SELECT "a b" FROM "t"`},
	{"oracle.db", `SELECT "A1" FROM "T2"`, `SELECT "A1" FROM "T2"`},
	{"postgresql", `SELECT "col 'x' 1"`, `SELECT "col 'x' 1"`},
	{"postgresql", `SELECT "-- not a comment", "/* nor this */"`, `SELECT "-- not a comment", "/* nor this */"`},
	// An unclosed identifier quote (a statement cut short?) is left
	// alone and what follows is still sanitized.
	{"postgresql", `SELECT "abc, 'secret', 42`, `SELECT "abc, ?, ?`},
	{"postgresql", `SELECT "a""`, `SELECT "a""`},

	// Backticks are identifiers everywhere.
	{allSystems, "SELECT `a`, `it``s 1`, `x'y` FROM `db`.`t` WHERE `n` = 1", "SELECT `a`, `it``s 1`, `x'y` FROM `db`.`t` WHERE `n` = ?"},
	{allSystems, "SELECT `abc, 'x', 2", "SELECT `abc, ?, ?"},

	// Brackets: identifiers for SQL Server and SQLite, subscripts elsewhere.
	{"microsoft.sql_server", "SELECT [a], [it]]s 1], [x'y] FROM [dbo].[t] WHERE [n] = 1", "SELECT [a], [it]]s 1], [x'y] FROM [dbo].[t] WHERE [n] = ?"},
	{"sqlite", "SELECT [order 1] FROM [t]", "SELECT [order 1] FROM [t]"},
	{"microsoft.sql_server", "SELECT [abc, 'x', 2", "SELECT [abc, ?, ?"},
	{"microsoft.sql_server", "SELECT [[[[ 1", "SELECT [[[[ ?"},
	{"postgresql", "SELECT a[1], ARRAY[1,2], b['k']", "SELECT a[?], ARRAY[?,?], b[?]"},
	{"mysql", "SELECT [1]", "SELECT [?]"},

	// Dollar quotes (PostgreSQL and unknown systems).
	{"postgresql", "SELECT $$it's$$, $tag$a $$ b$tag$, $a$x$a$", "SELECT ?, ?, ?"},
	{"postgresql", "DO $body$ BEGIN RAISE 'x'; END $body$", "DO ?"},
	{"postgresql", "SELECT $$unterminated", "SELECT ?"},
	{"postgresql", "SELECT $tag$ $TAG$ $tag", "SELECT ?"}, // tags are case-sensitive
	{"postgresql", "SELECT $1$$x$$", "SELECT $1?"},
	{"postgresql", "SELECT a$$b$$", "SELECT a$$b$$"}, // '$' inside an identifier
	{"postgresql", "SELECT $", "SELECT $"},
	{"postgresql", "SELECT $é$x$é$", "SELECT ?"},
	{"other_sql", "SELECT $$x$$", "SELECT ?"},
	{"mysql", "SELECT $$x$$", "SELECT $$x$$"}, // identifier characters in MySQL
	{"sqlite", "SELECT $x", "SELECT $x"},      // a placeholder

	// Oracle's alternative quoting.
	{"oracle.db", "SELECT q'[it's]', Q'{a}b}', q'(x)', q'<y>', q'!z!', nq'#w#' FROM dual", "SELECT ?, ?, ?, ?, ?, ? FROM dual"},
	{"oracle.db", "SELECT q'[unterminated", "SELECT ?"},
	{"oracle.db", "SELECT q'", "SELECT ?"},

	// Comments go; what they separated stays separate.
	{allSystems, "SELECT 1 -- comment", "SELECT ? "},
	{allSystems, "SELECT a -- it's 'x'\nFROM t", "SELECT a \nFROM t"},
	{allSystems, "SELECT a --x\r\nFROM t", "SELECT a \r\nFROM t"},
	{allSystems, "-- leading\nSELECT 1", "\nSELECT ?"},
	{allSystems, "/* leading */ SELECT 1", " SELECT ?"},
	{allSystems, "/* leading */SELECT 1", "SELECT ?"},
	{allSystems, "SELECT /* a 'b' */ c", "SELECT  c"},
	{allSystems, "SELECT a/**/b", "SELECT a b"},
	{allSystems, "SELECT a/**/ b", "SELECT a b"},
	{allSystems, "SELECT a /**/b", "SELECT a b"},
	{allSystems, "SELECT 1/*x*/", "SELECT ?"},
	{allSystems, "SELECT -/**/-1", "SELECT - -?"},   // no new "--" comment
	{allSystems, "SELECT 2//**/*3", "SELECT ?/ *?"}, // no new "/*" comment
	{allSystems, "SELECT /*+ INDEX(t i) */ *", "SELECT  *"},
	{allSystems, "SELECT /*! STRAIGHT_JOIN */ *", "SELECT  *"},
	{allSystems, "SELECT 1 /* unterminated 'x'", "SELECT ? "},
	{allSystems, "SELECT 1 --", "SELECT ? "},
	{allSystems, "SELECT '--', '/*'", "SELECT ?, ?"},
	{allSystems, "SELECT 1-1, 1 - 1", "SELECT ?-?, ? - ?"},
	{allSystems, "SELECT a-- x\n-1", "SELECT a\n-?"},
	{allSystems, "SELECT /**/", "SELECT "},
	{allSystems, "/**/", ""},
	{allSystems, "--", ""},
	{"postgresql", "SELECT /* a /* nested */ secret */ 1", "SELECT  ?"},
	{"postgresql", "SELECT /* /* unclosed */ 1", "SELECT "},
	{"mysql", "SELECT /* a /* b */ c */ 1", "SELECT  c */ ?"}, // MySQL comments do not nest
	{"mysql", "SELECT 1 # comment 'x'\nFROM t", "SELECT ? \nFROM t"},
	{"mysql", "# only", ""},
	{"postgresql", "SELECT 5 # 3", "SELECT ? # ?"}, // XOR
	{"postgresql", "SELECT '#'", "SELECT ?"},

	// Binary junk: kept as it is, never split inside UTF-8.
	{allSystems, "\x00", "\x00"},
	{allSystems, "SELECT '\x00' \x00 1", "SELECT ? \x00 ?"},
	{allSystems, "\xff\xfe 1 '\xff'", "\xff\xfe ? ?"},
	{allSystems, "SELECT é1, 1é, 日本", "SELECT é1, ?é, 日本"},
	{allSystems, "\x80\x81'", "\x80\x81?"},
}

func TestSanitize(t *testing.T) {
	for _, tt := range sanitizeTests {
		sys := []string{tt.system}
		if tt.system == allSystems {
			sys = systems
		}
		for _, s := range sys {
			got := Sanitize(tt.in, s)
			if got != tt.want {
				t.Errorf("Sanitize(%q, %q) =\n\t%q, want\n\t%q", tt.in, s, got, tt.want)
			}
			if again := Sanitize(got, s); again != got {
				t.Errorf("Sanitize(Sanitize(%q, %q)) = %q, not idempotent", tt.in, s, again)
			}
		}
	}
}

// TestSanitizeLarge feeds megabyte statements, some of them made to
// catch quadratic scanning, and checks the time taken.
func TestSanitizeLarge(t *testing.T) {
	const mib = 1 << 20
	fill := func(unit string) string { return strings.Repeat(unit, mib/len(unit)) }
	tests := []struct {
		name, in string
		check    func(string) bool
	}{
		{"insert", "INSERT INTO t VALUES " + fill("(1, 'abc', 2.5, NULL), "), func(s string) bool {
			return strings.HasSuffix(s, "(?, ?, ?, NULL), ") && !strings.ContainsAny(s, "'0123456789")
		}},
		{"one string", "SELECT '" + fill("x") + "'", func(s string) bool { return s == "SELECT ?" }},
		{"unterminated string", "SELECT '" + fill("x"), func(s string) bool { return s == "SELECT ?" }},
		{"one number", "SELECT " + fill("9"), func(s string) bool { return s == "SELECT ?" }},
		{"one word", fill("a"), func(s string) bool { return len(s) == mib }},
		{"blanks", fill(" \n\t"), func(s string) bool { return len(s) == mib/3*3 }},
		{"comment", "/*" + fill("x"), func(s string) bool { return s == "" }},
		{"nested comments", fill("/*"), func(s string) bool { return strings.Trim(s, "* ") == "" }},
		{"line comments", fill("--x\n"), func(s string) bool { return s == strings.Repeat("\n", mib/4) }},
		{"brackets", fill("["), nil},
		{"double quotes", fill(`"`), nil},
		{"double quotes and letters", fill(`"a`), nil},
		{"backticks", fill("`a"), nil},
		{"dollars", fill("$"), nil},
		{"dollar tags", fill("$a"), nil},
		{"dollar quote", "$" + strings.Repeat("t", 63) + "$" + fill("$tttt"), nil},
		{"quotes", fill("'"), nil},
		{"escapes", fill(`\'`), nil},
		{"q quotes", fill("q'["), nil},
		{"prefixes", fill("E'"), nil},
		{"placeholders", fill("$1?:a@b"), nil},
		{"numbers", fill("1.5e3 "), nil},
		{"utf8", fill("日本語"), nil},
		{"junk", fill("\xff\x00\x80"), nil},
	}
	// A linear scan takes a few milliseconds per MiB; quadratic
	// behaviour would take seconds.
	limit := 100 * time.Millisecond
	if raceEnabled {
		limit *= 10
	}
	for _, tt := range tests {
		for _, s := range systems {
			start := time.Now()
			got := Sanitize(tt.in, s)
			elapsed := time.Since(start)
			if elapsed > limit {
				t.Errorf("%s (%s): Sanitize of %d bytes took %v", tt.name, s, len(tt.in), elapsed)
			}
			if tt.check != nil && !tt.check(got) {
				t.Errorf("%s (%s): Sanitize returned %q...", tt.name, s, Truncate(got, 80))
			}
			if again := Sanitize(got, s); again != got {
				t.Errorf("%s (%s): Sanitize is not idempotent", tt.name, s)
			}
			start = time.Now()
			Summary(tt.in, s)
			if elapsed := time.Since(start); elapsed > limit {
				t.Errorf("%s (%s): Summary of %d bytes took %v", tt.name, s, len(tt.in), elapsed)
			}
		}
	}
}

func BenchmarkSanitize(b *testing.B) {
	q := "SELECT u.id, u.name FROM users u WHERE u.email = 'someone@example.com' AND u.age > 21 -- note\n" +
		"AND u.created_at < '2024-01-01' ORDER BY u.id LIMIT 10"
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		Sanitize(q, "postgresql")
	}
}

func BenchmarkSanitize1MiB(b *testing.B) {
	q := "INSERT INTO t VALUES " + strings.Repeat("(1, 'abc', 2.5, NULL), ", 1<<20/23)
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		Sanitize(q, "mysql")
	}
}

// TestSanitizeTokenSoup checks idempotence on random mixes of the pieces
// the lexer cares about, which byte-level fuzzing finds only slowly.
func TestSanitizeTokenSoup(t *testing.T) {
	pieces := []string{
		"'", `"`, "`", "[", "]", "]]", "$", "$$", "$a$", "$1", "/*", "*/", "/", "*", "--", "-", "#",
		"\n", "\r", " ", `\`, "E", "e", "U", "&", "U&", "N", "X", "q", "q'[", "]'", "nq'(", ")'",
		"1", "0x", "0b", ".", "e", "_", "a", "?", ":", "@", "@@", "(", ")", ";", "é", "\xff", "\x00",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		in := b.String()
		for _, s := range systems {
			out := Sanitize(in, s)
			if again := Sanitize(out, s); again != out {
				t.Fatalf("Sanitize(%q, %q) = %q, but sanitized again %q", in, s, out, again)
			}
			Summary(in, s)
		}
	}
}
