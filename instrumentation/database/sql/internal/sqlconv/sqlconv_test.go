package sqlconv

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseQueryMode(t *testing.T) {
	tests := []struct {
		in   string
		want QueryMode
	}{
		{"", QuerySanitized},
		{"sanitized", QuerySanitized},
		{"SANITIZED", QuerySanitized},
		{"  Sanitized\n", QuerySanitized},
		{"raw", QueryRaw},
		{"RAW", QueryRaw},
		{" raw ", QueryRaw},
		{"off", QueryOff},
		{"Off", QueryOff},
		{"\toff", QueryOff},
		{"   ", QuerySanitized},
	}
	for _, tt := range tests {
		got, err := ParseQueryMode(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseQueryMode(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
		// String gives back a value ParseQueryMode reads as the same mode.
		if again, err := ParseQueryMode(got.String()); err != nil || again != got {
			t.Errorf("ParseQueryMode(%q.String() = %q) = %v, %v", tt.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{"on", "true", "1", "sanitised", "raw,off", "r aw", "\x00", "\xff"} {
		got, err := ParseQueryMode(bad)
		if err == nil {
			t.Errorf("ParseQueryMode(%q) = %v, nil; want an error", bad, got)
			continue
		}
		// The message names the variable, the value (quoted, as it may
		// hold anything) and what is accepted.
		msg := err.Error()
		for _, want := range []string{"GLSOTEL_DB_QUERY_TEXT", fmt.Sprintf("%q", bad), "sanitized", "raw", "off"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ParseQueryMode(%q) error %q does not mention %s", bad, msg, want)
			}
		}
	}
}

func TestQueryModeString(t *testing.T) {
	for m, want := range map[QueryMode]string{
		QuerySanitized: "sanitized", QueryRaw: "raw", QueryOff: "off", QueryMode(7): "QueryMode(7)",
	} {
		if got := m.String(); got != want {
			t.Errorf("QueryMode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
	var zero QueryMode
	if zero != QuerySanitized {
		t.Errorf("zero QueryMode = %v, want QuerySanitized", zero)
	}
}

func TestSpanName(t *testing.T) {
	tests := []struct {
		op, coll, system, want string
	}{
		{"SELECT", "users", "postgresql", "SELECT users"},
		{"INSERT", "public.orders", "mysql", "INSERT public.orders"},
		{"SELECT", "", "postgresql", "SELECT"},
		{"COMMIT", "", "", "COMMIT"},
		{"", "", "postgresql", "postgresql"},
		{"", "users", "sqlite", "sqlite"},
		{"", "", "other_sql", "other_sql"},
		{"", "", "", "DB"},
		{"", "users", "", "DB"},
	}
	for _, tt := range tests {
		if got := SpanName(tt.op, tt.coll, tt.system); got != tt.want {
			t.Errorf("SpanName(%q, %q, %q) = %q, want %q", tt.op, tt.coll, tt.system, got, tt.want)
		}
	}
}
