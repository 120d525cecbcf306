package exporter

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The span encoder: a finished span straight to OTLP protobuf bytes, one
// pass, no message tree. It writes what the SDK's transform followed by
// proto.Marshal would (fields in number order, proto3 defaults left out),
// except that invalid UTF-8 is replaced (validUTF8) rather than failing
// the whole request. Events and links are not written: glsotel's spans
// have none.

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func tag(num, typ int) uint64 { return uint64(num)<<3 | uint64(typ) }

func sizeVarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// openField starts a length-delimited field whose length is not known
// yet: it reserves room bytes for the length, which closeField fills in.
// Room is the usual size of the length, so a move is rare.
func openField(b []byte, num, room int) ([]byte, int) {
	b = appendVarint(b, tag(num, wireBytes))
	at := len(b)
	for range room {
		b = append(b, 0)
	}
	return b, at
}

// closeField writes the length of the field openField(…, room) started at
// at, moving its content when the length takes more or fewer bytes than
// reserved.
func closeField(b []byte, at, room int) []byte {
	end := len(b)
	n := end - at - room
	size := sizeVarint(uint64(n))
	if size != room {
		if size > room {
			for range size - room {
				b = append(b, 0)
			}
		}
		copy(b[at+size:], b[at+room:end])
		b = b[:at+size+n]
	}
	v := uint64(n)
	for i := range size - 1 {
		b[at+i] = byte(v) | 0x80
		v >>= 7
	}
	b[at+size-1] = byte(v)
	return b
}

// appendBytes writes a string or bytes field, even an empty one (a set
// oneof).
func appendBytes[T string | []byte](b []byte, num int, s T) []byte {
	b = appendVarint(b, tag(num, wireBytes))
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendOptional writes a string or bytes field unless it is empty.
func appendOptional[T string | []byte](b []byte, num int, s T) []byte {
	if len(s) == 0 {
		return b
	}
	return appendBytes(b, num, s)
}

func appendUint(b []byte, num int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarint(appendVarint(b, tag(num, wireVarint)), v)
}

func appendFixed64(b []byte, num int, v uint64) []byte {
	return binary.LittleEndian.AppendUint64(appendVarint(b, tag(num, wireFixed64)), v)
}

// appendSpan appends s as field num of the enclosing message (a
// ScopeSpans' spans).
func appendSpan(b []byte, num int, s sdktrace.ReadOnlySpan) []byte {
	b, at := openField(b, num, 2)
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, 1, tid[:])
	b = appendBytes(b, 2, sid[:])
	b = appendOptional(b, 3, sc.TraceState().String())
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytes(b, 4, psid[:])
	}
	b = appendOptional(b, 5, validUTF8(s.Name()))
	b = appendUint(b, 6, uint64(spanKind(s.SpanKind())))
	if t := s.StartTime().UnixNano(); t > 0 {
		b = appendFixed64(b, 7, uint64(t))
	}
	if t := s.EndTime().UnixNano(); t > 0 {
		b = appendFixed64(b, 8, uint64(t))
	}
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, 9, kv)
	}
	b = appendUint(b, 10, uint64(clamp32(s.DroppedAttributes())))
	b = appendUint(b, 12, uint64(clamp32(s.DroppedEvents())))
	b = appendUint(b, 14, uint64(clamp32(s.DroppedLinks())))
	st := s.Status()
	b, sat := openField(b, 15, 1) // the SDK always sets a status, even an empty one
	b = appendOptional(b, 2, validUTF8(st.Description))
	b = appendUint(b, 3, uint64(statusCode(st.Code)))
	b = closeField(b, sat, 1)
	b = appendVarint(b, tag(16, wireFixed32))
	b = binary.LittleEndian.AppendUint32(b, spanFlags(sc.TraceFlags(), parent))
	return closeField(b, at, 2)
}

// appendKeyValue writes kv as field num. A string, integer or boolean
// value, which is nearly every attribute, has its lengths computed first
// and is written in one go; other values take openField and closeField.
func appendKeyValue(b []byte, num int, kv attribute.KeyValue) []byte {
	key := validUTF8(string(kv.Key))
	var str string
	var x uint64
	var valueTag uint64 // one byte for every AnyValue field
	switch kv.Value.Type() {
	case attribute.STRING:
		str, valueTag = validUTF8(kv.Value.AsString()), tag(1, wireBytes)
	case attribute.INT64:
		x, valueTag = uint64(kv.Value.AsInt64()), tag(3, wireVarint)
	case attribute.BOOL:
		if kv.Value.AsBool() {
			x = 1
		}
		valueTag = tag(2, wireVarint)
	default:
		b, at := openField(b, num, 1)
		b = appendOptional(b, 1, key)
		b, vat := openField(b, 2, 1)
		b = appendAnyValue(b, kv.Value)
		b = closeField(b, vat, 1)
		return closeField(b, at, 1)
	}
	value := 1 + sizeVarint(x)
	if valueTag == tag(1, wireBytes) {
		value = 1 + sizeVarint(uint64(len(str))) + len(str)
	}
	n := 1 + sizeVarint(uint64(value)) + value
	if len(key) > 0 {
		n += 1 + sizeVarint(uint64(len(key))) + len(key)
	}
	b = appendVarint(appendVarint(b, tag(num, wireBytes)), uint64(n))
	b = appendOptional(b, 1, key)
	b = appendVarint(appendVarint(b, tag(2, wireBytes)), uint64(value))
	if valueTag == tag(1, wireBytes) {
		return appendBytes(b, 1, str)
	}
	return appendVarint(append(b, byte(valueTag)), x)
}

// appendAnyValue writes the content of an AnyValue: its oneof field, even
// when that holds its type's zero value, as proto.Marshal does.
func appendAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		return appendBytes(b, 1, validUTF8(v.AsString()))
	case attribute.BOOL:
		x := uint64(0)
		if v.AsBool() {
			x = 1
		}
		return appendVarint(appendVarint(b, tag(2, wireVarint)), x)
	case attribute.INT64:
		return appendVarint(appendVarint(b, tag(3, wireVarint)), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return appendFixed64(b, 4, math.Float64bits(v.AsFloat64()))
	case attribute.BOOLSLICE:
		return appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return appendArray(b, v.AsStringSlice(), attribute.StringValue)
	}
	return b // INVALID: an empty AnyValue, as the SDK's transform sends it
}

// appendArray writes an ArrayValue (AnyValue field 5) of vs.
func appendArray[T any](b []byte, vs []T, value func(T) attribute.Value) []byte {
	b, at := openField(b, 5, 1)
	for _, x := range vs {
		var e int
		b, e = openField(b, 1, 1)
		b = appendAnyValue(b, value(x))
		b = closeField(b, e, 1)
	}
	return closeField(b, at, 1)
}

// validUTF8 replaces invalid UTF-8 with U+FFFD. OTLP strings must be valid
// UTF-8: a collector rejects the whole request otherwise, so one request
// path like "/%ff" (net/url decodes it to a lone 0xff byte) would lose
// every span of its batch.
func validUTF8(s string) string {
	if asciiOnly(s) || utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// asciiOnly reports whether s has no byte >= 0x80, eight at a time (the
// last eight overlapping those before). Nearly every key and value is
// ASCII and short: this takes 2 ns where utf8.ValidString takes 4.5, whose
// word loop leaves up to seven bytes to a byte loop.
func asciiOnly(s string) bool {
	n := len(s)
	if n < 8 {
		var or byte
		for i := 0; i < n; i++ {
			or |= s[i]
		}
		return or < utf8.RuneSelf
	}
	var or uint64
	for i := 0; i < n-8; i += 8 {
		or |= word64(s, i)
	}
	or |= word64(s, n-8)
	return or&0x8080808080808080 == 0
}

// word64 is the eight bytes of s at i, little endian: the compiler makes
// it one load.
func word64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
