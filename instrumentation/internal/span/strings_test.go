package span

import (
	"strings"
	"testing"
)

func TestStrings(t *testing.T) {
	var s Strings
	b := []byte("GET /items/{id}xx")
	if got := s.Str(15, b); got != "GET /items/{id}" {
		t.Fatalf("Str = %q", got)
	}
	if got := s.Str(99, b[:3]); got != "GET" {
		t.Fatalf("Str clamps n: %q", got)
	}
	if got := s.Join("GET", " ", "/items/{id}"); got != "GET /items/{id}" {
		t.Fatalf("Join = %q", got)
	}
	long := strings.Repeat("x", maxInternLen+1)
	if got := s.Join(long, " ", "y"); got != long+" y" {
		t.Fatalf("Join of a long string = %q", got)
	}
	if got := s.Bytes([]byte(long)); got != long {
		t.Fatalf("Bytes of a long string")
	}
	if s.Bytes(nil) != "" {
		t.Fatal("empty")
	}
	// A repeated value costs nothing.
	if n := testing.AllocsPerRun(100, func() { s.Str(15, b); s.Join("GET", " ", "/items/{id}") }); n != 0 {
		t.Errorf("interned lookups allocate %v times", n)
	}
	// The table stays bounded.
	for i := range 3 * maxInterned {
		s.Bytes([]byte(strings.Repeat("a", i%200) + string(rune('a'+i%26)) + string(rune(i))))
	}
	if len(s.m) > maxInterned {
		t.Errorf("table holds %d strings, bound %d", len(s.m), maxInterned)
	}
}
