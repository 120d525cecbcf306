package span

// Strings interns the short strings converters copy out of events:
// methods, hosts, routes and paths mostly repeat, and a repeated one then
// costs no allocation. Not safe for concurrent use: each probe's Handle
// runs on the session's one event goroutine and owns its Strings.
type Strings struct{ m map[string]string }

const (
	// maxInterned bounds the table; when full it is cleared, so a
	// program whose values never repeat (ids in paths) only loses the
	// saving, and memory stays bounded.
	maxInterned = 4096
	// maxInternLen: longer strings are rarely repeated exactly.
	maxInternLen = 256
)

// Str is Str(n, b) interned. A nil *Strings interns nothing.
func (s *Strings) Str(n uint32, b []byte) string {
	return s.Bytes(b[:min(int(n), len(b))])
}

// Bytes returns b as a string, interned when short.
func (s *Strings) Bytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s == nil || len(b) > maxInternLen {
		return string(b)
	}
	if v, ok := s.m[string(b)]; ok { // no allocation: the compiler looks up without converting
		return v
	}
	v := string(b)
	if s.m == nil {
		s.m = make(map[string]string, 64)
	} else if len(s.m) >= maxInterned {
		clear(s.m)
	}
	s.m[v] = v
	return v
}

// Join returns a+sep+b, interned when short.
func (s *Strings) Join(a, sep, b string) string {
	var buf [maxInternLen]byte
	if len(a)+len(sep)+len(b) > len(buf) {
		return a + sep + b
	}
	out := append(append(append(buf[:0], a...), sep...), b...)
	return s.Bytes(out)
}
