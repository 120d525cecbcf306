package sqlconv

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSanitize checks, for every system, that Sanitize never panics, is
// idempotent, keeps valid UTF-8 valid, and hides the fuzzed text when it
// is made a literal or a comment; and that Summary never panics.
func FuzzSanitize(f *testing.F) {
	for _, tt := range sanitizeTests {
		f.Add(tt.in)
	}
	for _, s := range []string{
		"", "'", `"`, "`", "[", "$", "$$", "$a$", "/*", "*/", "--", "#", "\\", "?", ":", "@",
		"q'[", "E'\\'", "U&'", "0x", "1e+", ".5.", "\x00", "\xff", "é", "'\xff'", "\"\"\"a",
		"WITH a AS (SELECT 1) SELECT * FROM a", "SELECT a FROM t WHERE b = 'x' UNION SELECT 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, sys := range systems {
			out := Sanitize(in, sys)
			if again := Sanitize(out, sys); again != out {
				t.Fatalf("Sanitize(%q, %q) = %q, but sanitized again %q", in, sys, out, again)
			}
			if utf8.ValidString(in) && !utf8.ValidString(out) {
				t.Fatalf("Sanitize(%q, %q) = %q is not valid UTF-8", in, sys, out)
			}
			Summary(in, sys)
			Summary(out, sys)

			// The fuzzed text as a literal or in a comment.
			for _, h := range hide(in, dialectFor(sys)) {
				stmt := "SELECT a FROM t WHERE b = " + h.text + " AND c = d"
				want := "SELECT a FROM t WHERE b = " + h.want + " AND c = d"
				if got := Sanitize(stmt, sys); got != want {
					t.Fatalf("Sanitize(%q, %q) = %q, want %q", stmt, sys, got, want)
				}
			}
		}
	})
}

// hidden is SQL text holding a fuzzed string, and what Sanitize makes
// of it.
type hidden struct{ text, want string }

// hide returns s made into literals of every kind dialect d has, and put
// in comments.
func hide(s string, d dialect) []hidden {
	// closedAtEnd reports whether the first end in s+end is the added one.
	closedAtEnd := func(end string) bool { return strings.Index(s+end, end) == len(s) }
	quote := func(q string, backslash bool) string {
		esc := s
		if backslash {
			esc = strings.ReplaceAll(esc, `\`, `\\`)
		}
		return q + strings.ReplaceAll(esc, q, q+q) + q
	}
	h := []hidden{
		{quote("'", d.backslashStrings), "?"},
		{"E" + quote("'", true), "?"},
		{"X" + quote("'", d.backslashStrings), "?"},
		{"n" + quote("'", d.backslashStrings), "?"},
		{"U&" + quote("'", d.backslashStrings), "?"},
	}
	if d.doubleQuoteStrings {
		h = append(h, hidden{quote(`"`, true), "?"})
	}
	if d.dollarQuotes && closedAtEnd("$q$") {
		h = append(h, hidden{"$q$" + s + "$q$", "?"})
	}
	if d.qQuotes && closedAtEnd("]'") {
		h = append(h, hidden{"q'[" + s + "]'", "?"})
	}
	if closedAtEnd("*/") && !(d.nestedComments && strings.Contains(s+"*", "/*")) {
		h = append(h, hidden{"/*" + s + "*/?", "?"}, hidden{"?/*" + s + "*/", "?"})
	}
	if !strings.ContainsAny(s, "\r\n") {
		h = append(h, hidden{"?--" + s + "\n", "?\n"})
		if d.hashComments {
			h = append(h, hidden{"?#" + s + "\n", "?\n"})
		}
	}
	return h
}

// FuzzParseDSN checks that ParseDSN never panics and that the user name
// and password in DSNs of each form have no bearing on what it returns,
// so can never be part of it.
func FuzzParseDSN(f *testing.F) {
	f.Add("postgres://u:p@h:5432/db?sslmode=disable", "bob", "s3cret", "db.example.com:5433", "shop")
	f.Add("host=h port=5432 dbname=db user=u password='x y'", "bob", "p@ss/w:rd?#", "h1,h2", "my db")
	f.Add("u:p@tcp(127.0.0.1:3306)/shop?parseTime=true", "u@x", "p/@ss", "[::1]:3306", "a/b?c")
	f.Add("file:test.db?mode=ro", "", "'\\'", "/tmp", "file:x")
	f.Add("", "", "", "", "")
	f.Add("\x00\xff", "\xff", "\x00", "@", "/")
	f.Fuzz(func(t *testing.T, dsn, user, password, host, db string) {
		for _, sys := range systems {
			ParseDSN(sys, dsn)
		}
		for _, form := range dsnForms {
			got := ParseDSN(form.system, form.build(user, password, host, db))
			for _, other := range [][2]string{{"u", "x"}, {user + "z", password + "z"}, {"", ""}} {
				ref := ParseDSN(form.system, form.build(other[0], other[1], host, db))
				// Zero is fine: a password may make a DSN unreadable.
				if got != ref && got != (Endpoint{}) {
					t.Fatalf("%s: ParseDSN(%q) = %+v but %+v with user %q and password %q instead",
						form.name, form.build(user, password, host, db), got, ref, other[0], other[1])
				}
			}
			// And the sentinel is nowhere unless the other parts hold it.
			const secret = "S3CR3T"
			if strings.Contains(host+db, "S3") || strings.Contains(host+db, "%") {
				continue
			}
			e := ParseDSN(form.system, form.build("bob", secret, host, db))
			if strings.Contains(e.Namespace+e.Address, secret) {
				t.Fatalf("%s: password in %+v", form.name, e)
			}
		}
	})
}

// dsnForms build a DSN of each form from its parts; the parts are
// escaped where the form has a way to, as a program would.
var dsnForms = []struct {
	name, system string
	build        func(user, password, host, db string) string
}{
	{"postgres URL", "postgresql", func(u, p, h, d string) string {
		return "postgres://" + u + ":" + p + "@" + h + "/" + d + "?sslmode=disable"
	}},
	{"postgres URL with parameters", "postgresql", func(u, p, h, d string) string {
		return "postgresql://" + u + ":" + p + "@/?host=" + h + "&dbname=" + d
	}},
	{"postgres key=value", "postgresql", func(u, p, h, d string) string {
		q := func(s string) string {
			return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
		}
		return "user=" + q(u) + " password=" + q(p) + " host=" + q(h) + " dbname=" + q(d)
	}},
	{"postgres key=value, password last", "postgresql", func(u, p, h, d string) string {
		q := func(s string) string {
			return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
		}
		return "host=" + q(h) + " dbname=" + q(d) + " user=" + q(u) + " password=" + q(p)
	}},
	{"mysql", "mysql", func(u, p, h, d string) string {
		return u + ":" + p + "@tcp(" + h + ")/" + d + "?parseTime=true"
	}},
	{"sqlite", "sqlite", func(u, p, h, d string) string {
		return "file:" + h + d + "?_auth&_auth_user=" + url.QueryEscape(u) + "&_auth_pass=" + url.QueryEscape(p)
	}},
}

// FuzzText checks Truncate and Clean on any bytes.
func FuzzText(f *testing.F) {
	f.Add("héllo 日本 🎉", 3)
	f.Add("\xff\x00\xe6\x97", 2)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, max int) {
		max %= len(s) + 2
		got := Truncate(s, max)
		if len(got) > max && max >= 0 || !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q", s, max, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate(%q, %d) = %q cuts a character", s, max, got)
		}
		if max >= 0 && max < len(s) && len(got) < max-utf8.UTFMax+1 {
			t.Fatalf("Truncate(%q, %d) = %q cuts too much", s, max, got)
		}
		c := Clean(s)
		if !utf8.ValidString(c) || strings.IndexByte(c, 0) >= 0 || Clean(c) != c {
			t.Fatalf("Clean(%q) = %q", s, c)
		}
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && c != s {
			t.Fatalf("Clean(%q) = %q changed a clean string", s, c)
		}
	})
}
