package sqlconv

import "strings"

// Sanitize returns query as semantic conventions want a sanitized
// db.query.text: every string and numeric literal replaced by "?" and
// every comment removed (a comment may hold anything, even the values a
// driver interpolated). Placeholders ($1, ?, ?1, :name, @p1), keywords
// such as NULL and TRUE, identifiers (quoted or not) and blanks stay byte
// for byte; a minus sign before a number stays as an operator ("-?").
//
// system is db.system.name: it decides what is a literal (double quotes
// make a string in MySQL but an identifier elsewhere, a backslash escapes
// a quote in MySQL, ...). An unterminated literal or comment runs to the
// end of the text, so a statement cut short leaks nothing.
//
// Sanitize is idempotent, linear in len(query), keeps valid UTF-8 valid
// and accepts any bytes.
func Sanitize(query, system string) string {
	l := lexer{d: dialectFor(system), src: query}
	var b strings.Builder
	b.Grow(len(query))
	for {
		t, ok := l.next()
		if !ok {
			return b.String()
		}
		switch t.kind {
		case kString, kNumber:
			b.WriteByte('?')
		case kComment:
			// A comment between two tokens separates them: "a/**/b"
			// becomes "a b", not "ab", and "-/**/-1" not a new "--"
			// comment. A line comment leaves its line break behind.
			if out := b.String(); out != "" && !isSpace(out[len(out)-1]) &&
				l.pos < len(query) && !isSpace(query[l.pos]) {
				b.WriteByte(' ')
			}
		default:
			b.WriteString(t.text)
		}
	}
}
