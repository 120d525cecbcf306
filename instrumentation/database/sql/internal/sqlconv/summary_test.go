package sqlconv

import (
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		system   string // allSystems when every system agrees
		in       string
		op, coll string
	}{
		// SELECT.
		{allSystems, "SELECT * FROM users", "SELECT", "users"},
		{allSystems, "select id from users where id = $1", "SELECT", "users"},
		{allSystems, "SeLeCt 1 FrOm Users", "SELECT", "Users"},
		{allSystems, "SELECT a FROM public.users", "SELECT", "public.users"},
		{allSystems, "SELECT a FROM db.public.users u", "SELECT", "db.public.users"},
		{allSystems, "SELECT a FROM users u WHERE u.id = 1", "SELECT", "users"},
		{allSystems, "SELECT a FROM users AS u WHERE u.id = 1", "SELECT", "users"},
		{allSystems, "SELECT a FROM users;", "SELECT", "users"},
		{allSystems, "SELECT a FROM users; DROP TABLE x", "SELECT", "users"},
		{allSystems, "SELECT a FROM users GROUP BY a HAVING count(*) > 1", "SELECT", "users"},
		{allSystems, "SELECT a FROM users ORDER BY a LIMIT 1 OFFSET 2", "SELECT", "users"},
		{allSystems, "SELECT a FROM users LIMIT 1", "SELECT", "users"},
		{allSystems, "SELECT a FROM users OFFSET 5", "SELECT", "users"},
		{allSystems, "SELECT a FROM users FOR UPDATE", "SELECT", "users"},
		{allSystems, "SELECT a FROM users FETCH FIRST 1 ROWS ONLY", "SELECT", "users"},
		{allSystems, "SELECT a FROM users WINDOW w AS (PARTITION BY b)", "SELECT", "users"},
		{allSystems, "SELECT a FROM users\n\tWHERE b IN (SELECT c FROM d)", "SELECT", "users"},
		{allSystems, "SELECT (SELECT max(x) FROM t2) FROM users", "SELECT", "users"},
		{allSystems, "SELECT EXTRACT(YEAR FROM d) FROM users", "SELECT", "users"},
		{allSystems, "SELECT a FROM users WHERE x IS DISTINCT FROM y", "SELECT", "users"},
		{allSystems, "SELECT a FROM ONLY users", "SELECT", "users"},
		{allSystems, "SELECT a FROM users x WHERE 'UNION' = 'x'", "SELECT", "users"},
		{allSystems, "SELECT 'FROM other' FROM users", "SELECT", "users"},
		{allSystems, "SELECT a /* FROM other */ FROM users -- JOIN x", "SELECT", "users"},
		{allSystems, "SELECT a FROM users WHERE (b = 1", "SELECT", "users"},
		{allSystems, "SELECT a FROM users WHERE b = 1)", "SELECT", ""},
		{allSystems, "SELECT a FROM users u1 JOIN orders o ON o.u = u1.id", "SELECT", ""},
		{allSystems, "SELECT a FROM users JOIN orders USING (id)", "SELECT", ""},
		{allSystems, "SELECT a FROM users LEFT JOIN orders ON true", "SELECT", ""},
		{allSystems, "SELECT a FROM users NATURAL JOIN orders", "SELECT", ""},
		{allSystems, "SELECT a FROM users CROSS JOIN orders", "SELECT", ""},
		{allSystems, "SELECT a FROM users, orders", "SELECT", ""},
		{allSystems, "SELECT a FROM users u, orders o", "SELECT", ""},
		{allSystems, "SELECT a FROM (SELECT b FROM users) s", "SELECT", ""},
		{allSystems, "SELECT a FROM users UNION SELECT a FROM admins", "SELECT", ""},
		{allSystems, "SELECT a FROM users WHERE b UNION ALL SELECT 1", "SELECT", ""},
		{allSystems, "SELECT a FROM users INTERSECT SELECT a FROM admins", "SELECT", ""},
		{allSystems, "SELECT a FROM users EXCEPT SELECT a FROM admins", "SELECT", ""},
		{allSystems, "SELECT 1 UNION SELECT a FROM users", "SELECT", ""},
		{allSystems, "SELECT a FROM users WHERE b IN (SELECT 1 UNION SELECT 2)", "SELECT", "users"},
		{allSystems, "SELECT 1", "SELECT", ""},
		{allSystems, "SELECT now()", "SELECT", ""},
		{allSystems, "SELECT a FROM", "SELECT", ""},
		{allSystems, "SELECT a FROM users.", "SELECT", ""},
		{allSystems, "SELECT a FROM generate_series(1, 3)", "SELECT", ""},
		{allSystems, "SELECT a FROM LATERAL f(x)", "SELECT", ""},
		{allSystems, "SELECT a FROM users TABLESAMPLE SYSTEM (1)", "SELECT", ""},
		{allSystems, "SELECT a FROM users AS", "SELECT", ""},
		{allSystems, "SELECT 1 FROM DUAL", "SELECT", ""},
		{allSystems, "SELECT a FROM $1", "SELECT", ""},
		{"postgresql", "SELECT a FROM 'users'", "SELECT", ""}, // a string, not a name
		{"mysql", "SELECT a FROM 'users'", "SELECT", ""},
		{"microsoft.sql_server", "SELECT a FROM 'users'", "SELECT", ""},
		{"other_sql", "SELECT a FROM 'users'", "SELECT", ""},
		{"microsoft.sql_server", "SELECT TOP 10 * FROM @t", "SELECT", ""},

		// Quoted names.
		{"postgresql", `SELECT * FROM "Users"`, "SELECT", "Users"},
		{"postgresql", `SELECT * FROM "public"."Users" "u"`, "SELECT", "public.Users"},
		{"postgresql", `SELECT * FROM "we""ird"`, "SELECT", `we"ird`},
		{"postgresql", `SELECT * FROM public."my table" WHERE x`, "SELECT", "public.my table"},
		{"postgresql", `SELECT * FROM "users`, "SELECT", ""},
		{"mysql", "SELECT * FROM `shop`.`orders`", "SELECT", "shop.orders"},
		{"mysql", "SELECT * FROM `we``ird`", "SELECT", "we`ird"},
		{"mysql", `SELECT * FROM "users"`, "SELECT", ""}, // a string in MySQL
		{"microsoft.sql_server", "SELECT * FROM [dbo].[Order Details] od", "SELECT", "dbo.Order Details"},
		{"microsoft.sql_server", "SELECT * FROM [a]]b]", "SELECT", "a]b"},
		{"sqlite", "SELECT * FROM [t]", "SELECT", "t"},
		{"postgresql", "SELECT * FROM [t]", "SELECT", ""}, // not a name in PostgreSQL
		// SQLite takes a '...' string where only a name may stand for it.
		{"sqlite", "SELECT a FROM 'users'", "SELECT", "users"},
		{"sqlite", "INSERT INTO 'contacts'\n\t('first_name', 'phone') VALUES\n\t('Moshe', '052');", "INSERT", "contacts"},
		{"sqlite", "INSERT OR REPLACE INTO 'main'.'contacts' VALUES (1)", "INSERT", "main.contacts"},
		{"sqlite", "UPDATE 'contacts' SET 'name' = ?", "UPDATE", "contacts"},
		{"sqlite", "DELETE FROM 'contacts' WHERE id = 1", "DELETE", "contacts"},
		{"sqlite", "SELECT * FROM 'main'.'contacts' 'c' WHERE 'c'.id = 1", "SELECT", "main.contacts"},
		{"sqlite", "CREATE TABLE IF NOT EXISTS 'contacts' (id int)", "CREATE", "contacts"},
		{"sqlite", "DROP TABLE 'contacts'", "DROP", "contacts"},
		{"sqlite", "ALTER TABLE 'contacts' ADD COLUMN a int", "ALTER", "contacts"},
		{"sqlite", "SELECT a FROM 'we''ird'", "SELECT", "we'ird"},
		{"sqlite", "WITH 'x' AS (SELECT 1) SELECT * FROM x", "SELECT", ""},
		{"sqlite", "SELECT a FROM 'users", "SELECT", ""},   // unclosed
		{"sqlite", "SELECT a FROM 'users''", "SELECT", ""}, // unclosed
		{"sqlite", "SELECT a FROM X'00'", "SELECT", ""},    // a blob
		{"sqlite", "SELECT 'a' FROM users", "SELECT", "users"},
		{"sqlite", "SELECT a FROM users WHERE b = 'c'", "SELECT", "users"},

		// Comments and blanks first.
		{allSystems, "  \n\t-- hello\n/* x */ SELECT a FROM t", "SELECT", "t"},
		{allSystems, "/* a */ /* b */select 1", "SELECT", ""},
		{"mysql", "# comment\nSELECT a FROM t", "SELECT", "t"},
		{"postgresql", "/* /* nested */ */ DELETE FROM t", "DELETE", "t"},

		// INSERT, REPLACE, UPSERT.
		{allSystems, "INSERT INTO users (a, b) VALUES (1, 2)", "INSERT", "users"},
		{allSystems, "insert into public.users values ($1)", "INSERT", "public.users"},
		{allSystems, "INSERT users VALUES (1)", "INSERT", "users"},
		{allSystems, "INSERT INTO users SELECT * FROM other", "INSERT", "users"},
		{allSystems, "INSERT INTO users(a) VALUES (1) RETURNING id", "INSERT", "users"},
		{allSystems, "INSERT INTO users DEFAULT VALUES", "INSERT", "users"},
		{allSystems, "INSERT INTO users AS u VALUES (1) ON CONFLICT DO NOTHING", "INSERT", "users"},
		{"mysql", "INSERT IGNORE INTO users SET a = 1", "INSERT", "users"},
		{"mysql", "INSERT LOW_PRIORITY IGNORE INTO users VALUES (1)", "INSERT", "users"},
		{"sqlite", "INSERT OR REPLACE INTO users VALUES (1)", "INSERT", "users"},
		{"sqlite", "INSERT OR IGNORE INTO \"users\" VALUES (1)", "INSERT", "users"},
		{"mysql", "REPLACE INTO users VALUES (1)", "REPLACE", "users"},
		{"mysql", "REPLACE users VALUES (1)", "REPLACE", "users"},
		{allSystems, "UPSERT INTO users VALUES (1)", "UPSERT", "users"},
		{"oracle.db", "INSERT ALL INTO a VALUES (1) INTO b VALUES (2) SELECT 1 FROM dual", "INSERT", ""},
		{allSystems, "INSERT INTO", "INSERT", ""},
		{allSystems, "INSERT INTO (a) VALUES (1)", "INSERT", ""},
		{allSystems, "INSERT INTO VALUES (1)", "INSERT", ""},

		// UPDATE.
		{allSystems, "UPDATE users SET a = 1 WHERE id = 2", "UPDATE", "users"},
		{allSystems, "UPDATE public.users u SET a = 1", "UPDATE", "public.users"},
		{allSystems, "UPDATE users AS u SET a = 1", "UPDATE", "users"},
		{allSystems, "UPDATE ONLY users SET a = 1", "UPDATE", "users"},
		{"mysql", "UPDATE LOW_PRIORITY IGNORE users SET a = 1", "UPDATE", "users"},
		{"sqlite", "UPDATE OR ROLLBACK users SET a = 1", "UPDATE", "users"},
		{"mysql", "UPDATE users, orders SET a = 1", "UPDATE", ""},
		{"mysql", "UPDATE users u JOIN orders o ON o.u = u.id SET a = 1", "UPDATE", ""},
		{allSystems, "UPDATE users", "UPDATE", ""},
		{allSystems, "UPDATE SET a = 1", "UPDATE", ""},

		// DELETE.
		{allSystems, "DELETE FROM users WHERE id = 1", "DELETE", "users"},
		{allSystems, "DELETE FROM users", "DELETE", "users"},
		{allSystems, "DELETE FROM users;", "DELETE", "users"},
		{allSystems, "DELETE FROM users u WHERE u.id = 1", "DELETE", "users"},
		{allSystems, "DELETE FROM ONLY users RETURNING *", "DELETE", "users"},
		{"mysql", "DELETE LOW_PRIORITY QUICK IGNORE FROM users ORDER BY a LIMIT 1", "DELETE", "users"},
		{allSystems, "DELETE FROM users USING orders WHERE x", "DELETE", ""},
		{allSystems, "DELETE FROM users, orders", "DELETE", ""},
		{"mysql", "DELETE users FROM users JOIN orders", "DELETE", ""},
		{allSystems, "DELETE users WHERE id = 1", "DELETE", ""},

		// DDL.
		{allSystems, "CREATE TABLE users (id int)", "CREATE", "users"},
		{allSystems, "CREATE TABLE IF NOT EXISTS public.users (id int)", "CREATE", "public.users"},
		{allSystems, "CREATE TEMP TABLE t AS SELECT 1", "CREATE", "t"},
		{allSystems, "CREATE TEMPORARY TABLE t (a int)", "CREATE", "t"},
		{allSystems, "CREATE UNLOGGED TABLE t (a int)", "CREATE", "t"},
		{allSystems, "CREATE GLOBAL TEMPORARY TABLE t (a int)", "CREATE", "t"},
		{allSystems, "CREATE OR REPLACE TABLE t (a int)", "CREATE", "t"},
		{allSystems, "CREATE INDEX i ON t (a)", "CREATE", ""},
		{allSystems, "CREATE VIEW v AS SELECT * FROM t", "CREATE", ""},
		{allSystems, "CREATE OR REPLACE FUNCTION f()", "CREATE", ""},
		{allSystems, "DROP TABLE users", "DROP", "users"},
		{allSystems, "DROP TABLE IF EXISTS users CASCADE", "DROP", "users"},
		{allSystems, "DROP TABLE a, b", "DROP", ""},
		{allSystems, "DROP INDEX i", "DROP", ""},
		{allSystems, "ALTER TABLE users ADD COLUMN a int", "ALTER", "users"},
		{allSystems, "ALTER TABLE IF EXISTS ONLY users RENAME TO x", "ALTER", "users"},
		{allSystems, "ALTER INDEX i RENAME TO j", "ALTER", ""},
		{allSystems, "TRUNCATE users", "TRUNCATE", "users"},
		{allSystems, "TRUNCATE TABLE users RESTART IDENTITY", "TRUNCATE", "users"},
		{allSystems, "TRUNCATE a, b", "TRUNCATE", ""},
		{"postgresql", "COPY users FROM STDIN", "COPY", "users"},
		{"postgresql", "COPY users (a, b) TO STDOUT", "COPY", "users"},
		{"postgresql", "COPY (SELECT 1) TO STDOUT", "COPY", ""},

		// CTEs: the main statement's verb.
		{allSystems, "WITH x AS (SELECT 1) SELECT * FROM users", "SELECT", "users"},
		{allSystems, "WITH x AS (SELECT 1) SELECT * FROM x", "SELECT", ""},
		{allSystems, "WITH X AS (SELECT 1) SELECT * FROM x", "SELECT", ""},
		{allSystems, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT n FROM r", "SELECT", ""},
		{allSystems, "WITH a AS (SELECT 1), b AS MATERIALIZED (SELECT 2) INSERT INTO t SELECT * FROM a", "INSERT", "t"},
		{allSystems, "WITH a AS NOT MATERIALIZED (SELECT (1)) DELETE FROM t WHERE id IN (SELECT * FROM a)", "DELETE", "t"},
		{allSystems, "WITH a AS (UPDATE t SET x = 1 RETURNING *) SELECT * FROM a", "SELECT", ""},
		{allSystems, "with a as (select 1) update users set b = 1", "UPDATE", "users"},
		{allSystems, "WITH a AS (SELECT 1) MERGE INTO t USING a ON true", "MERGE", ""},
		{allSystems, "WITH a AS (SELECT 1", "WITH", ""},
		{allSystems, "WITH a AS (SELECT 1) VALUES (1)", "WITH", ""},
		{allSystems, "WITH a (SELECT 1) SELECT 1", "WITH", ""},
		{allSystems, "WITH", "WITH", ""},
		{allSystems, "WITH 1", "WITH", ""},

		// Verbs without a collection.
		{allSystems, "BEGIN", "BEGIN", ""},
		{allSystems, "begin transaction", "BEGIN", ""},
		{allSystems, "START TRANSACTION", "START", ""},
		{allSystems, "COMMIT", "COMMIT", ""},
		{allSystems, "ROLLBACK TO SAVEPOINT s", "ROLLBACK", ""},
		{allSystems, "SAVEPOINT s", "SAVEPOINT", ""},
		{allSystems, "RELEASE SAVEPOINT s", "RELEASE", ""},
		{allSystems, "SET search_path TO x", "SET", ""},
		{allSystems, "SHOW TABLES", "SHOW", ""},
		{allSystems, "EXPLAIN SELECT * FROM users", "EXPLAIN", ""},
		{allSystems, "PRAGMA foreign_keys = ON", "PRAGMA", ""},
		{allSystems, "CALL proc(1)", "CALL", ""},
		{allSystems, "EXEC sp_who", "EXEC", ""},
		{allSystems, "EXECUTE stmt", "EXECUTE", ""},
		{allSystems, "GRANT SELECT ON users TO bob", "GRANT", ""},
		{allSystems, "REVOKE ALL ON users FROM bob", "REVOKE", ""},
		{allSystems, "VACUUM users", "VACUUM", ""},
		{allSystems, "ANALYZE users", "ANALYZE", ""},
		{allSystems, "LOCK TABLE users", "LOCK", ""},
		{allSystems, "MERGE INTO t USING s ON t.id = s.id", "MERGE", ""},

		// Not a statement Summary knows.
		{allSystems, "", "", ""},
		{allSystems, "   ", "", ""},
		{allSystems, "-- only a comment", "", ""},
		{allSystems, "/* unterminated SELECT", "", ""},
		{allSystems, "(SELECT 1) UNION (SELECT 2)", "", ""},
		{allSystems, "VALUES (1)", "", ""},
		{allSystems, "DECLARE c CURSOR FOR SELECT 1", "", ""},
		{allSystems, "SELECTED", "", ""},
		{allSystems, "SELECT_X FROM t", "", ""},
		{allSystems, "'SELECT' FROM t", "", ""},
		{allSystems, "1 SELECT", "", ""},
		{allSystems, "\x00SELECT 1", "", ""},
		{allSystems, "\xffSELECT", "", ""},
		{allSystems, "SELECT\xff FROM t", "", ""},
		{allSystems, "SAVEPOINTS", "", ""},
		{allSystems, strings.Repeat("S", 1<<16), "", ""},
		{allSystems, "SELECT a FROM \xff\xfe", "SELECT", "\xff\xfe"}, // as written; Clean makes it valid
	}
	for _, tt := range tests {
		sys := []string{tt.system}
		if tt.system == allSystems {
			sys = systems
		}
		for _, s := range sys {
			op, coll := Summary(tt.in, s)
			if op != tt.op || coll != tt.coll {
				t.Errorf("Summary(%q, %q) = %q, %q; want %q, %q", tt.in, s, op, coll, tt.op, tt.coll)
			}
		}
	}
}

// TestSummarySanitized checks that a sanitized statement has the
// summary of the raw one: the agent may have only the sanitized text.
func TestSummarySanitized(t *testing.T) {
	for _, q := range []string{
		"SELECT a FROM users WHERE b = 'x' AND c = 1",
		"/* app=shop */ INSERT INTO orders VALUES (1, 'a')",
		"UPDATE t SET a = $$x$$ WHERE id = 5",
		"WITH a AS (SELECT 1) SELECT * FROM users -- x",
		"DELETE FROM t WHERE a IN (1, 2, 3)",
	} {
		for _, s := range systems {
			op, coll := Summary(q, s)
			op2, coll2 := Summary(Sanitize(q, s), s)
			if op != op2 || coll != coll2 {
				t.Errorf("Summary(Sanitize(%q, %q)) = %q, %q; raw gives %q, %q", q, s, op2, coll2, op, coll)
			}
		}
	}
}
