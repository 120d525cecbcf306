package sqlconv

import (
	"strings"
	"unicode/utf8"
)

// Truncate returns the longest prefix of s of at most max bytes that does
// not end inside a UTF-8 sequence (a multi-byte character cut in two
// would turn into garbage in the exported string). Bytes that are not
// valid UTF-8 anyway may be cut anywhere.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	if utf8.RuneStart(s[max]) {
		return s[:max]
	}
	// s[max] continues a sequence: find where it started.
	for i := max - 1; i >= 0 && i > max-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if r, n := utf8.DecodeRuneInString(s[i:]); (r != utf8.RuneError || n > 1) && i+n > max {
				return s[:i]
			}
			break
		}
	}
	return s[:max]
}

// Clean returns s with each byte that is not part of valid UTF-8, and
// each NUL byte, replaced by U+FFFD: OTLP carries strings as protobuf
// strings, which must be valid UTF-8, and a NUL read from another
// process is almost certainly garbage. A clean s is returned as is,
// without allocating.
func Clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == 0 || r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}
