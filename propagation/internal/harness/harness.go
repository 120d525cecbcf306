// Package harness loads a BPF object that exposes gls.h's helpers to
// BPF_PROG_TEST_RUN, for tests only.
package harness

import "github.com/cilium/ebpf"

//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types -type gls_entry -type gls_key -type ended_key -type lookup_result -type parse_result -type span_context -type w3c_headers -type trace_headers_key -type inject_header harness harness.bpf.c -- -I../../../bpf/include -I/usr/include/x86_64-linux-gnu

// Spec returns the harness collection.
func Spec() (*ebpf.CollectionSpec, error) { return loadHarness() }

// Exported aliases of the generated types, so tests fill maps with the C layout.
type (
	Entry     = harnessGlsEntry
	Key       = harnessGlsKey
	EndedKey  = harnessEndedKey
	LookupRes = harnessLookupResult
	ParseRes  = harnessParseResult
	// SpanContext, W3CHeaders, TraceHeadersKey and InjectHeader are
	// traceparent.h's and inject.h's.
	SpanContext     = harnessSpanContext
	W3CHeaders      = harnessW3cHeaders
	TraceHeadersKey = harnessTraceHeadersKey
	InjectHeader    = harnessInjectHeader
)
