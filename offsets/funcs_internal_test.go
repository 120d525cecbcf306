package offsets

import (
	"errors"
	"slices"
	"testing"
)

func TestAfterPrologue(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want uint64
	}{
		{"small frame: CMP SP,16(R14); JBE; PUSH BP",
			[]byte{0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0xa0, 0x04, 0x00, 0x00, 0x55, 0x48, 0x89, 0xe5, 0xc3}, 10},
		{"bigger frame: LEA R12,-0x80(SP); CMP R12,16(R14); JBE rel8; PUSH BP",
			[]byte{0x4c, 0x8d, 0x64, 0x24, 0x80, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x40, 0x55, 0xc3}, 11},
		{"no stack check: RET", []byte{0xc3}, 0},
		{"no stack check: PUSH BP first", []byte{0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3}, 0},
		{"backward jump is a loop, not a stack check", []byte{0x90, 0x76, 0xfd, 0xc3}, 0},
	} {
		if got := afterPrologue(tc.code); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestReturns(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want []uint64
		err  bool
	}{
		{"PUSH BP; RET; INT3 padding; RET", []byte{0x55, 0xc3, 0xcc, 0xcc, 0xc3}, []uint64{1, 4}, false},
		// MOV EAX, 0xc3c3c3c3: C3 bytes inside an instruction are no RET.
		{"C3 inside an immediate", []byte{0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3}, []uint64{5}, false},
		// 0x06 (PUSH ES) is invalid in 64-bit mode; the C3 after it
		// might be a RET or the middle of something: no guess.
		{"undecodable byte before a C3", []byte{0x55, 0x06, 0xc3}, nil, true},
		{"truncated last instruction", []byte{0xc3, 0xb8, 0xc3}, nil, true},
	} {
		got, err := returns(tc.code)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("%s: returns = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrUndecodable) {
			t.Errorf("%s: %v does not wrap ErrUndecodable", tc.name, err)
		}
	}
}
