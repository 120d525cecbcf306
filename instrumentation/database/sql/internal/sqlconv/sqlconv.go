// Package sqlconv holds the OpenTelemetry database semantic conventions
// the database/sql probe needs: the query text as it may be exported
// (sanitized, raw or off), the operation and collection a simple
// statement names, the span name, db.system.name from a driver's Go type,
// and db.namespace / server.address / server.port from a data source name.
//
// Everything here works on text read from another process's memory, so
// every function accepts any bytes (invalid UTF-8, NUL bytes, truncated
// statements) without panicking, and in time linear in the input.
package sqlconv

import (
	"fmt"
	"strings"
)

// QueryMode says what becomes of the query text (db.query.text).
type QueryMode int

const (
	// QuerySanitized exports the text with every literal replaced by "?"
	// and comments removed, as semantic conventions recommend: literals
	// and comments may hold personal data or secrets.
	QuerySanitized QueryMode = iota
	// QueryRaw exports the text as the program sent it.
	QueryRaw
	// QueryOff exports no query text at all.
	QueryOff
)

// QueryModeEnv is the environment variable ParseQueryMode reads.
const QueryModeEnv = "GLSOTEL_DB_QUERY_TEXT"

// ParseQueryMode parses the value of GLSOTEL_DB_QUERY_TEXT: "" or
// "sanitized", "raw", "off", in any case and with surrounding blanks.
func ParseQueryMode(s string) (QueryMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "sanitized":
		return QuerySanitized, nil
	case "raw":
		return QueryRaw, nil
	case "off":
		return QueryOff, nil
	}
	return QuerySanitized, fmt.Errorf("%s: unknown value %q (want sanitized, raw or off)", QueryModeEnv, s)
}

// String returns the value ParseQueryMode takes for m.
func (m QueryMode) String() string {
	switch m {
	case QuerySanitized:
		return "sanitized"
	case QueryRaw:
		return "raw"
	case QueryOff:
		return "off"
	}
	return fmt.Sprintf("QueryMode(%d)", int(m))
}
