package span

// Strings interns the short strings converters copy out of events:
// methods, hosts, routes and paths mostly repeat, and a repeated one then
// costs no allocation. Not safe for concurrent use: each probe's Handle
// runs on the session's one event goroutine and owns its Strings.
type Strings struct {
	m map[string]string
	// recent caches strings met lately by a cheap hash of a few bytes: a
	// hit costs one comparison, not the map's hashing of every byte and
	// probe of a table too big to stay in cache. A decoder looks up about
	// ten strings per event, most of them the same as the last few events'.
	recent [256]string
}

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
	slot := &s.recent[recentSlot(b)]
	if *slot == string(b) { // no allocation: compared without converting
		return *slot
	}
	v, ok := s.m[string(b)] // nor is b converted to look up
	if !ok {
		v = string(b)
		if s.m == nil {
			s.m = make(map[string]string, 64)
		} else if len(s.m) >= maxInterned {
			clear(s.m)
		}
		s.m[v] = v
	}
	*slot = v
	return v
}

// recentSlot picks b's slot in Strings.recent from its length and three of
// its bytes (values that differ, such as ids and ports, mostly differ
// near the end). b is not empty.
func recentSlot(b []byte) uint8 {
	n := len(b)
	return uint8(n*31) ^ b[0] ^ b[n/2]<<3 ^ b[n-1]*5 ^ b[max(n-2, 0)]<<5
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
