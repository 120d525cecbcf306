package sqlconv

import "strings"

// verbs are the first keywords Summary reports as db.operation.name.
var verbs = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true,
	"REPLACE": true, "MERGE": true, "UPSERT": true, "CREATE": true,
	"DROP": true, "ALTER": true, "TRUNCATE": true, "WITH": true,
	"BEGIN": true, "START": true, "COMMIT": true, "ROLLBACK": true,
	"SAVEPOINT": true, "RELEASE": true, "SET": true, "SHOW": true,
	"EXPLAIN": true, "PRAGMA": true, "CALL": true, "EXEC": true,
	"EXECUTE": true, "GRANT": true, "REVOKE": true, "VACUUM": true,
	"ANALYZE": true, "COPY": true, "LOCK": true,
}

// maxVerb is the length of the longest verb, so a long first word is
// not upper-cased only to be looked up in vain.
const maxVerb = len("SAVEPOINT")

// notNames are keywords never taken for a table name or an alias: where
// one stands instead, the statement is one whose table Summary cannot
// tell (FROM LATERAL, INSERT ALL, a JOIN after the table, ...).
var notNames = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "VALUES": true,
	"VALUE": true, "SET": true, "INTO": true, "TABLE": true, "AS": true,
	"ON": true, "USING": true, "JOIN": true, "LATERAL": true,
	"ONLY": true, "DEFAULT": true, "IF": true, "WITH": true, "ALL": true,
	"UNION": true, "INTERSECT": true, "EXCEPT": true, "MINUS": true,
	"NATURAL": true, "CROSS": true, "INNER": true, "LEFT": true,
	"RIGHT": true, "FULL": true, "OUTER": true, "STRAIGHT_JOIN": true,
	"DUAL": true, // Oracle's and MySQL's one-row stand-in, not a table
}

// maxNotName is the length of the longest of notNames.
const maxNotName = len("STRAIGHT_JOIN")

// Summary returns db.operation.name and db.collection.name for a simple
// statement, reading past leading blanks and comments. The operation is
// the first keyword, upper-cased, if it is a known statement verb; else
// both are "". The collection is set only where the statement names a
// single table in one of these places (the name as written, schema
// included, quotes removed from each part; on SQLite a '...' string
// there is the name, as SQLite takes it):
//
//	SELECT ... FROM t [[AS] alias] [WHERE|GROUP|ORDER|LIMIT|OFFSET|HAVING|FOR|WINDOW|FETCH ...]
//	INSERT|REPLACE|UPSERT [INTO] t, UPDATE t [[AS] alias] SET, DELETE FROM t,
//	CREATE [TEMP|TEMPORARY|UNLOGGED] TABLE [IF NOT EXISTS] t,
//	DROP TABLE [IF EXISTS] t, ALTER TABLE t, TRUNCATE [TABLE] t, COPY t
//
// A SELECT with a join, a list of tables, a subquery in FROM or a
// top-level UNION, INTERSECT or EXCEPT has no collection.
//
// A statement starting with WITH reports its main statement's verb
// (SELECT, INSERT, UPDATE, DELETE, MERGE), and that statement's
// collection unless it is one of the common table expressions; when the
// main statement cannot be found the operation is "WITH".
//
// Only the first statement of several is summarized. system is
// db.system.name and decides, as for Sanitize, what is a literal or a
// comment, so keywords inside them are not mistaken for the statement's.
func Summary(query, system string) (operation, collection string) {
	p := parser{l: lexer{d: dialectFor(system), src: query}}
	p.advance()
	if p.tok.kind != kWord || len(p.tok.text) > maxVerb {
		return "", ""
	}
	op := strings.ToUpper(p.tok.text)
	if !verbs[op] {
		return "", ""
	}
	p.advance()
	if op == "WITH" {
		return p.with()
	}
	return op, p.collection(op)
}

// parser walks the tokens of a statement, skipping blanks and comments.
type parser struct {
	l   lexer
	tok token // the current token; kind kSpace past the end
	ok  bool  // whether tok is a token
}

// advance moves to the next token that is neither blank nor comment.
func (p *parser) advance() {
	for {
		t, ok := p.l.next()
		if !ok {
			p.tok, p.ok = token{}, false
			return
		}
		if t.kind != kSpace && t.kind != kComment {
			p.tok, p.ok = t, true
			return
		}
	}
}

// is reports whether the current token is one of the keywords kws.
func (p *parser) is(kws ...string) bool {
	if !p.ok || p.tok.kind != kWord {
		return false
	}
	for _, kw := range kws {
		if strings.EqualFold(p.tok.text, kw) {
			return true
		}
	}
	return false
}

// accept moves past the current token if it is one of the keywords kws.
func (p *parser) accept(kws ...string) bool {
	if p.is(kws...) {
		p.advance()
		return true
	}
	return false
}

// isPunct reports whether the current token is the punctuation c.
func (p *parser) isPunct(c byte) bool {
	return p.ok && p.tok.kind == kPunct && p.tok.text[0] == c
}

// atEnd reports whether the statement ends here (end of text or ';').
func (p *parser) atEnd() bool { return !p.ok || p.isPunct(';') }

// collection returns the table named by the statement whose verb op has
// just been read, or "".
func (p *parser) collection(op string) string {
	switch op {
	case "SELECT":
		return p.selectFrom()
	case "INSERT", "REPLACE", "UPSERT":
		p.accept("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY")
		p.accept("IGNORE")
		p.orConflict()
		p.accept("INTO")
		return p.single(p.table())
	case "UPDATE":
		p.accept("LOW_PRIORITY")
		p.accept("IGNORE")
		p.orConflict()
		p.accept("ONLY")
		t := p.table()
		if !p.alias("SET") || !p.is("SET") {
			return ""
		}
		return t
	case "DELETE":
		p.accept("LOW_PRIORITY")
		p.accept("QUICK")
		p.accept("IGNORE")
		if !p.accept("FROM") {
			return ""
		}
		p.accept("ONLY")
		t := p.table()
		ends := []string{"WHERE", "RETURNING", "ORDER", "LIMIT", "OUTPUT"}
		if !p.alias(ends...) || !p.atEnd() && !p.is(ends...) {
			return ""
		}
		return t
	case "CREATE":
		if p.accept("OR") && !p.accept("REPLACE") {
			return ""
		}
		p.accept("GLOBAL", "LOCAL")
		p.accept("TEMP", "TEMPORARY", "UNLOGGED")
		if !p.accept("TABLE") {
			return ""
		}
		p.ifExists("NOT", "EXISTS")
		return p.single(p.table())
	case "DROP":
		if !p.accept("TABLE") {
			return ""
		}
		p.ifExists("EXISTS")
		return p.single(p.table())
	case "ALTER":
		if !p.accept("TABLE") {
			return ""
		}
		p.ifExists("EXISTS")
		p.accept("ONLY")
		return p.single(p.table())
	case "TRUNCATE":
		p.accept("TABLE")
		p.accept("ONLY")
		return p.single(p.table())
	case "COPY":
		return p.single(p.table())
	}
	return ""
}

// orConflict skips SQLite's "OR REPLACE", "OR IGNORE", ... after INSERT
// or UPDATE.
func (p *parser) orConflict() {
	if p.accept("OR") && p.tok.kind == kWord {
		p.advance()
	}
}

// ifExists skips "IF [NOT] EXISTS", given the keywords after IF.
func (p *parser) ifExists(kws ...string) {
	if !p.accept("IF") {
		return
	}
	for _, kw := range kws {
		p.accept(kw)
	}
}

// single returns t unless a list of tables goes on after it.
func (p *parser) single(t string) string {
	if p.isPunct(',') {
		return ""
	}
	return t
}

// selectFrom finds the top-level FROM of a SELECT and returns its table
// if it is the only one and no set operation combines the SELECT with
// another.
func (p *parser) selectFrom() string {
	depth := 0
	t := ""
	for ; p.ok; p.advance() {
		switch {
		case p.isPunct('('):
			depth++
		case p.isPunct(')'):
			if depth--; depth < 0 {
				return ""
			}
		case depth > 0:
		case p.isPunct(';'):
			return t
		case p.is("UNION", "INTERSECT", "EXCEPT", "MINUS"):
			return ""
		case t == "" && p.is("FROM"):
			p.advance()
			p.accept("ONLY")
			stops := []string{"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "FOR", "WINDOW", "FETCH"}
			if t = p.table(); t == "" || !p.alias(stops...) || !p.atEnd() && !p.is(stops...) {
				return ""
			}
			if p.atEnd() {
				return t
			}
		}
	}
	return t
}

// alias skips an optional "[AS] alias" after a table name, where a bare
// alias may not be one of the keywords next; it reports false if AS is
// not followed by a name.
func (p *parser) alias(next ...string) bool {
	if p.accept("AS") {
		if _, ok := p.name(); !ok {
			return false
		}
		p.advance()
		return true
	}
	if _, ok := p.name(); ok && !p.is(next...) {
		p.advance()
	}
	return true
}

// table reads a table name, part[.part]..., and returns it with quotes
// removed from each part, or "" if there is none here.
func (p *parser) table() string {
	var b strings.Builder
	for {
		part, ok := p.name()
		if !ok {
			return ""
		}
		b.WriteString(part)
		p.advance()
		if !p.isPunct('.') {
			return b.String()
		}
		b.WriteByte('.')
		p.advance()
	}
}

// name returns the current token as an unquoted name, if it is one.
func (p *parser) name() (string, bool) {
	if !p.ok {
		return "", false
	}
	t := p.tok.text
	switch p.tok.kind {
	case kWord:
		if len(t) <= maxNotName && notNames[strings.ToUpper(t)] {
			return "", false
		}
		return t, true
	case kIdent:
		closer := t[len(t)-1:]
		return strings.ReplaceAll(t[1:len(t)-1], closer+closer, closer), true
	case kString:
		// A plain '...' (no prefix such as X'..'), closed.
		if !p.l.d.stringNames || t[0] != '\'' {
			return "", false
		}
		if end, ok := quoteEnd(t, 1, '\'', false); !ok || end != len(t) {
			return "", false
		}
		return strings.ReplaceAll(t[1:len(t)-1], "''", "'"), true
	}
	return "", false
}

// with reads the common table expressions of a WITH statement and
// summarizes its main statement.
func (p *parser) with() (operation, collection string) {
	p.accept("RECURSIVE")
	var ctes []string
	for {
		n, ok := p.name()
		if !ok {
			return "WITH", ""
		}
		ctes = append(ctes, n)
		p.advance()
		if p.isPunct('(') && !p.skipParens() {
			return "WITH", ""
		}
		if !p.accept("AS") {
			return "WITH", ""
		}
		p.accept("NOT")
		p.accept("MATERIALIZED")
		if !p.isPunct('(') || !p.skipParens() {
			return "WITH", ""
		}
		if !p.isPunct(',') {
			break
		}
		p.advance()
	}
	if !p.is("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE") {
		return "WITH", ""
	}
	op := strings.ToUpper(p.tok.text)
	p.advance()
	t := p.collection(op)
	for _, c := range ctes {
		if strings.EqualFold(t, c) {
			return op, ""
		}
	}
	return op, t
}

// skipParens moves past the parenthesized group that starts at the
// current '(', reporting false if it is not closed.
func (p *parser) skipParens() bool {
	depth := 0
	for ; p.ok; p.advance() {
		switch {
		case p.isPunct('('):
			depth++
		case p.isPunct(')'):
			if depth--; depth == 0 {
				p.advance()
				return true
			}
		}
	}
	return false
}

// SpanName returns the span name semantic conventions give a database
// call: "{operation} {collection}", else "{operation}", else the
// db.system.name value, else "DB".
func SpanName(operation, collection, system string) string {
	switch {
	case operation != "" && collection != "":
		return operation + " " + collection
	case operation != "":
		return operation
	case system != "":
		return system
	}
	return "DB"
}
