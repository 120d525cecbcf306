package propagation

import (
	"encoding/hex"
	"strings"
)

// SpanContext is the part of a trace context that crosses processes.
type SpanContext struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// Valid reports whether both ids are non-zero, as W3C Trace Context requires.
func (sc SpanContext) Valid() bool {
	return sc.TraceID != [16]byte{} && sc.SpanID != [8]byte{}
}

// Traceparent formats sc as a version-00 W3C traceparent header value.
func (sc SpanContext) Traceparent() string {
	var b strings.Builder
	b.Grow(traceparentLen)
	b.WriteString("00-")
	b.WriteString(hex.EncodeToString(sc.TraceID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sc.SpanID[:]))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString([]byte{sc.Flags}))
	return b.String()
}

const traceparentLen = 55 // "00-" + 32 + "-" + 16 + "-" + 2

// ParseTraceparent parses a W3C traceparent header value. It rejects
// (ok=false) a wrong length, non-lowercase-hex, version ff, a version-00
// value with trailing data, and all-zero ids; a later version may carry
// more fields after a '-'. bpf/include/glsotel/traceparent.h applies the
// same rules in BPF.
func ParseTraceparent(s string) (sc SpanContext, ok bool) {
	s = strings.Trim(s, " \t")
	if len(s) < traceparentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return SpanContext{}, false
	}
	var ver [1]byte
	if !lowerHex(ver[:], s[0:2]) || ver[0] == 0xff {
		return SpanContext{}, false
	}
	if len(s) > traceparentLen && (ver[0] == 0 || s[traceparentLen] != '-') {
		return SpanContext{}, false
	}
	var flags [1]byte
	if !lowerHex(sc.TraceID[:], s[3:35]) || !lowerHex(sc.SpanID[:], s[36:52]) || !lowerHex(flags[:], s[53:55]) {
		return SpanContext{}, false
	}
	sc.Flags = flags[0]
	if !sc.Valid() {
		return SpanContext{}, false
	}
	return sc, true
}

// lowerHex decodes src into dst, accepting lowercase hex digits only.
func lowerHex(dst []byte, src string) bool {
	for i := range dst {
		hi, ok1 := hexVal(src[2*i])
		lo, ok2 := hexVal(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
