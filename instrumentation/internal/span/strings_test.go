package span

import (
	"strconv"
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
	// Strings that share a recent slot each come back right.
	x, y := []byte("id=1"), []byte(nil)
	for i := 2; y == nil; i++ {
		if c := []byte("id=" + strconv.Itoa(i)); recentSlot(c) == recentSlot(x) {
			y = c
		}
	}
	for range 3 {
		if s.Bytes(x) != string(x) || s.Bytes(y) != string(y) {
			t.Fatalf("a recent slot shared by %q and %q returned another string", x, y)
		}
	}
	// The table stays bounded.
	for i := range 3 * maxInterned {
		s.Bytes([]byte(strings.Repeat("a", i%200) + string(rune('a'+i%26)) + string(rune(i))))
	}
	if len(s.m) > maxInterned {
		t.Errorf("table holds %d strings, bound %d", len(s.m), maxInterned)
	}
}

// BenchmarkStrings looks up strings as a decoder does: ten per event, a
// few of them (ids, ports) from a thousand values.
func BenchmarkStrings(b *testing.B) {
	fixed := [][]byte{[]byte("GET"), []byte("HTTP/1.1"), []byte("/work"), []byte("127.0.0.1:43210"), []byte("GET /work"), []byte("Go-http-client/1.1"), []byte("http")}
	var ids, ports [][]byte
	for i := range 1000 {
		ids = append(ids, []byte("id="+strconv.Itoa(i)))
		ports = append(ports, []byte("127.0.0.1:"+strconv.Itoa(50000+i%8)))
	}
	var s Strings
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for _, f := range fixed {
			s.Bytes(f)
		}
		s.Bytes(ids[i%len(ids)])
		s.Bytes(ports[i%len(ports)])
	}
}
