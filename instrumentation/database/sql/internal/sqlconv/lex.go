package sqlconv

import "strings"

// dialect holds the lexical rules that differ between SQL systems and
// decide where a literal or a comment ends. Where a system is unknown the
// rules lean towards hiding too much rather than leaking a literal.
type dialect struct {
	backslashStrings   bool // '...' takes backslash escapes (MySQL, ClickHouse)
	doubleQuoteStrings bool // "..." is a string, not an identifier (MySQL)
	hashComments       bool // # starts a comment to the end of the line (MySQL)
	nestedComments     bool // /* /* */ */ nests (PostgreSQL)
	dollarQuotes       bool // $$...$$ and $tag$...$tag$ strings (PostgreSQL)
	brackets           bool // [name] is a quoted identifier (SQL Server, SQLite)
	qQuotes            bool // q'[...]' strings (Oracle)
	colonNumbers       bool // :1 is a placeholder, not ':' and a number (Oracle, SQLite)
	// stringNames: a '...' string where only a name may stand is that
	// name (SQLite: INSERT INTO 'contacts'). Only Summary reads it;
	// Sanitize still hides every string.
	stringNames bool
}

// dialectFor returns the rules for a db.system.name value.
func dialectFor(system string) dialect {
	switch system {
	case "mysql", "mariadb":
		return dialect{backslashStrings: true, doubleQuoteStrings: true, hashComments: true}
	case "postgresql":
		return dialect{nestedComments: true, dollarQuotes: true}
	case "sqlite":
		// SQLite's $name is a placeholder, so no dollar quotes.
		return dialect{brackets: true, colonNumbers: true, stringNames: true}
	case "microsoft.sql_server":
		return dialect{brackets: true}
	case "oracle.db":
		return dialect{qQuotes: true, colonNumbers: true}
	case "clickhouse":
		return dialect{backslashStrings: true, nestedComments: true, dollarQuotes: true}
	}
	// Unknown: a backslash may escape a quote, comments may nest and
	// dollar quotes may exist; each at worst hides more than needed.
	// Double quotes and brackets stay identifiers as standard SQL has it.
	return dialect{backslashStrings: true, nestedComments: true, dollarQuotes: true}
}

// kind is the class of a token.
type kind uint8

const (
	kSpace   kind = iota // blanks
	kComment             // -- ..., /* ... */, # ... (MySQL)
	kWord                // keyword or unquoted identifier
	kIdent               // quoted identifier: "x", `x`, [x]
	kString              // any string literal, prefix included
	kNumber              // numeric literal, without a sign
	kParam               // placeholder or variable: ?, ?1, $1, :name, @p1
	kPunct               // any other single byte
)

// token is a piece of the source, text being a slice of it.
type token struct {
	kind kind
	text string
}

// maxDollarTag bounds the tag of a dollar quote, so looking for the
// closing tag stays linear (PostgreSQL names are at most 63 bytes).
const maxDollarTag = 64

// lexer splits SQL text into tokens. Every byte belongs to exactly one
// token, and token boundaries fall on ASCII bytes only, so cutting the
// source at them never splits a UTF-8 sequence.
type lexer struct {
	d   dialect
	src string
	pos int
	// noBracketEnd is set once a '[' has no closing ']': then no later
	// '[' has one either, and it is not looked for again (which would
	// make "[[[[..." quadratic).
	noBracketEnd bool
}

// next returns the next token, or false at the end of the source.
func (l *lexer) next() (token, bool) {
	if l.pos >= len(l.src) {
		return token{}, false
	}
	start := l.pos
	k := l.scan()
	return token{k, l.src[start:l.pos]}, true
}

// scan classifies the token at l.pos and moves l.pos past it.
func (l *lexer) scan() kind {
	s, i := l.src, l.pos
	c := s[i]
	switch {
	case isSpace(c):
		l.pos = skip(s, i+1, isSpace)
		return kSpace
	case c == '-' && at(s, i+1) == '-', c == '#' && l.d.hashComments:
		l.pos = lineEnd(s, i)
		return kComment
	case c == '/' && at(s, i+1) == '*':
		l.pos = l.blockCommentEnd(i + 2)
		return kComment
	case c == '\'':
		l.pos, _ = quoteEnd(s, i+1, '\'', l.d.backslashStrings)
		return kString
	case c == '"' && l.d.doubleQuoteStrings:
		l.pos, _ = quoteEnd(s, i+1, '"', true)
		return kString
	case c == '"', c == '`':
		return l.quotedIdent(i, c)
	case c == '[' && l.d.brackets && !l.noBracketEnd:
		k := l.quotedIdent(i, ']')
		l.noBracketEnd = k != kIdent
		return k
	case isDigit(c), c == '.' && isDigit(at(s, i+1)):
		l.pos = numberEnd(s, i)
		return kNumber
	case isIdentStart(c):
		return l.word(i)
	case c == '$':
		return l.dollar(i)
	case c == '?':
		l.pos = skip(s, i+1, isDigit)
		return kParam
	case c == ':' && (isIdentStart(at(s, i+1)) || l.d.colonNumbers && isDigit(at(s, i+1))),
		c == '@' && (isIdentStart(at(s, i+1)) || at(s, i+1) == '@'):
		l.pos = skip(s, i+1, isVarChar)
		return kParam
	}
	l.pos = i + 1
	return kPunct
}

// blockCommentEnd returns the index after the "*/" closing the comment
// whose body starts at i, or len(src) if there is none.
func (l *lexer) blockCommentEnd(i int) int {
	s := l.src
	if !l.d.nestedComments {
		if j := strings.Index(s[i:], "*/"); j >= 0 {
			return i + j + 2
		}
		return len(s)
	}
	for depth := 1; i < len(s)-1; i++ {
		switch {
		case s[i] == '*' && s[i+1] == '/':
			if depth--; depth == 0 {
				return i + 2
			}
			i++
		case s[i] == '/' && s[i+1] == '*':
			depth++
			i++
		}
	}
	return len(s)
}

// quotedIdent reads an identifier quoted by open at i and closed by
// closer (doubled to escape it). An unclosed quote is a lone punctuation
// byte and lexing goes on after it: the rest is most likely a statement
// cut short, whose literals must still be found.
func (l *lexer) quotedIdent(i int, closer byte) kind {
	end, ok := quoteEnd(l.src, i+1, closer, false)
	if !ok {
		l.pos = i + 1
		return kPunct
	}
	l.pos = end
	return kIdent
}

// word reads an unquoted identifier or keyword at i, or a string literal
// when the word is a prefix glued to a quote: E'..', X'..', B'..', N'..',
// U&'..' and, for Oracle, Q'[..]' and NQ'[..]'.
func (l *lexer) word(i int) kind {
	s := l.src
	end := skip(s, i+1, isIdentChar)
	w := s[i:end]
	switch {
	case at(s, end) == '\'' && (w == "E" || w == "e"):
		l.pos, _ = quoteEnd(s, end+1, '\'', true)
		return kString
	case at(s, end) == '\'' && len(w) == 1 && strings.Contains("xXbBnN", w):
		l.pos, _ = quoteEnd(s, end+1, '\'', l.d.backslashStrings)
		return kString
	case at(s, end) == '\'' && l.d.qQuotes && (strings.EqualFold(w, "q") || strings.EqualFold(w, "nq")):
		l.pos = qQuoteEnd(s, end+1)
		return kString
	case at(s, end) == '&' && at(s, end+1) == '\'' && (w == "U" || w == "u"):
		l.pos, _ = quoteEnd(s, end+2, '\'', l.d.backslashStrings)
		return kString
	}
	l.pos = end
	return kWord
}

// dollar reads what starts with '$' at i: a dollar-quoted string (where
// the dialect has them), a placeholder $1 or a variable $name, or a lone
// '$'.
func (l *lexer) dollar(i int) kind {
	s := l.src
	if l.d.dollarQuotes {
		j := i + 1
		if isIdentStart(at(s, j)) {
			j = skip(s, j+1, isTagChar)
		}
		if at(s, j) == '$' && j-i <= maxDollarTag {
			tag := s[i : j+1]
			if k := strings.Index(s[j+1:], tag); k >= 0 {
				l.pos = j + 1 + k + len(tag)
			} else {
				l.pos = len(s)
			}
			return kString
		}
	}
	if isDigit(at(s, i+1)) {
		l.pos = skip(s, i+1, isDigit)
		return kParam
	}
	if isIdentStart(at(s, i+1)) {
		l.pos = skip(s, i+1, isVarChar)
		return kParam
	}
	l.pos = i + 1
	return kPunct
}

// quoteEnd returns the index after the quote q closing a quoted text
// whose body starts at i, and whether there was one. A doubled q stands
// for itself; with backslash, a backslash escapes the byte after it.
func quoteEnd(s string, i int, q byte, backslash bool) (int, bool) {
	for i < len(s) {
		switch c := s[i]; {
		case c == q:
			if at(s, i+1) != q {
				return i + 1, true
			}
			i += 2
		case c == '\\' && backslash:
			i += 2
		default:
			i++
		}
	}
	return len(s), false
}

// qQuoteEnd returns the index after an Oracle q'<d>...<d>' literal whose
// opening delimiter is at i; brackets close with their mirror image.
func qQuoteEnd(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	closer := s[i]
	switch closer {
	case '[':
		closer = ']'
	case '{':
		closer = '}'
	case '(':
		closer = ')'
	case '<':
		closer = '>'
	}
	for j := i + 1; j < len(s)-1; j++ {
		if s[j] == closer && s[j+1] == '\'' {
			return j + 2
		}
	}
	return len(s)
}

// numberEnd returns the index after the numeric literal at i: 0x1F, 0b101,
// 0o17, 12, 1_000, 1.5, .5, 1., 1e10, 1.5E-3. An exponent needs a digit.
func numberEnd(s string, i int) int {
	if s[i] == '0' {
		switch at(s, i+1) | 0x20 {
		case 'x':
			if isHex(at(s, i+2)) {
				return skip(s, i+2, isHexOrUnderscore)
			}
		case 'b', 'o':
			if isDigit(at(s, i+2)) {
				return skip(s, i+2, isDigitOrUnderscore)
			}
		}
	}
	i = digits(s, i)
	if at(s, i) == '.' {
		i = digits(s, i+1)
	}
	if at(s, i)|0x20 == 'e' {
		j := i + 1
		if c := at(s, j); c == '+' || c == '-' {
			j++
		}
		if isDigit(at(s, j)) {
			i = digits(s, j)
		}
	}
	return i
}

// digits skips decimal digits at i, with single underscores between
// them (1_000_000, PostgreSQL 16).
func digits(s string, i int) int {
	for i < len(s) && (isDigit(s[i]) || s[i] == '_' && i > 0 && isDigit(s[i-1]) && isDigit(at(s, i+1))) {
		i++
	}
	return i
}

// lineEnd returns the index of the line break ending the line at i, or
// len(s).
func lineEnd(s string, i int) int {
	if j := strings.IndexAny(s[i:], "\n\r"); j >= 0 {
		return i + j
	}
	return len(s)
}

// at returns s[i], or 0 past the end.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// skip returns the first index from i where s holds a byte not in the
// class.
func skip(s string, i int, in func(byte) bool) int {
	for i < len(s) && in(s[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func isHexOrUnderscore(c byte) bool { return isHex(c) || c == '_' }

func isDigitOrUnderscore(c byte) bool { return isDigit(c) || c == '_' }

// isIdentStart reports whether c may start an unquoted identifier. Bytes
// of multi-byte UTF-8 sequences count as letters, so such a sequence is
// never split.
func isIdentStart(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || c == '_' || c >= 0x80
}

// isIdentChar reports whether c may continue an unquoted identifier
// (PostgreSQL and MySQL allow '$' after the first byte).
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

// isTagChar reports whether c may continue a dollar-quote tag.
func isTagChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// isVarChar reports whether c may continue a placeholder or variable
// name (@@global.x is read as "@@global", "." and "x").
func isVarChar(c byte) bool { return isIdentChar(c) || c == '@' }
