package sqlconv

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"", 0, ""},
		{"", 10, ""},
		{"abc", -1, ""},
		{"abc", 0, ""},
		{"abc", 1, "a"},
		{"abc", 3, "abc"},
		{"abc", 4, "abc"},
		{"héllo", 1, "h"},
		{"héllo", 2, "h"}, // é is 2 bytes: not cut in half
		{"héllo", 3, "hé"},
		{"日本", 1, ""},
		{"日本", 2, ""},
		{"日本", 3, "日"},
		{"日本", 4, "日"},
		{"日本", 5, "日"},
		{"日本", 6, "日本"},
		{"a🎉b", 1, "a"},
		{"a🎉b", 2, "a"},
		{"a🎉b", 4, "a"},
		{"a🎉b", 5, "a🎉"},
		{"a🎉b", 6, "a🎉b"},
		{"\uFFFDx", 2, ""}, // a real U+FFFD is a character like any other
		// Invalid UTF-8 may be cut anywhere: there is no character to save.
		{"\xff\xff\xff", 2, "\xff\xff"},
		{"\x80\x80\x80\x80\x80", 3, "\x80\x80\x80"},
		{"a\xe6\x97", 2, "a\xe6"},            // a truncated sequence in the input
		{"é\x80\x80", 2, "é"},                // stray continuation bytes after é
		{"é\x80\x80", 3, "é\x80"},            // ditto
		{"\xe6\x97\xa5\xa5\xa5", 4, "日\xa5"}, // ditto, after 日
		{"\xf0\x9f\x8e", 2, "\xf0\x9f"},      // incomplete 4-byte sequence
		{"ab\x00cd", 3, "ab\x00"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestTruncateLarge(t *testing.T) {
	s := strings.Repeat("日本語", 1<<20/9+1)
	start := time.Now()
	for max := 1 << 20; max > 1<<20-8; max-- {
		got := Truncate(s, max)
		if len(got) > max || max-len(got) > 2 || !utf8.ValidString(got) {
			t.Errorf("Truncate(1 MiB, %d) gives %d bytes, valid UTF-8 %v", max, len(got), utf8.ValidString(got))
		}
	}
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Errorf("Truncate took %v", elapsed)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"SELECT 1", "SELECT 1"},
		{"héllo 日本 🎉", "héllo 日本 🎉"},
		{"\uFFFD", "\uFFFD"},
		{"\x00", "\uFFFD"},
		{"a\x00b\x00", "a\uFFFDb\uFFFD"},
		{"\xff", "\uFFFD"},
		{"a\xffb", "a\uFFFDb"},
		{"\xff\xfe", "\uFFFD\uFFFD"}, // one U+FFFD per bad byte
		{"\xe6\x97", "\uFFFD\uFFFD"}, // a truncated sequence
		{"\xe6\x97日", "\uFFFD\uFFFD日"},
		{"\xc0\xaf", "\uFFFD\uFFFD"},                     // overlong '/'
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},           // a surrogate
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"}, // beyond U+10FFFF
		{"ok\x80", "ok\uFFFD"},
	}
	for _, tt := range tests {
		got := Clean(tt.in)
		if got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
			t.Errorf("Clean(%q) = %q is not clean", tt.in, got)
		}
		if Clean(got) != got {
			t.Errorf("Clean(Clean(%q)) changed it", tt.in)
		}
	}
}

func TestCleanDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("SELECT 日本 FROM t; ", 1000)
	if n := testing.AllocsPerRun(10, func() { Clean(s) }); n != 0 {
		t.Errorf("Clean of a clean string allocates %v times", n)
	}
	if got := Clean(s); got != s {
		t.Errorf("Clean changed a clean string")
	}
}
