//go:build ignore

// Test harness for gls.h: runs its helpers under BPF_PROG_TEST_RUN so their
// logic is tested in the kernel's verifier and runtime, without uprobes.
#include "glsotel/traceparent.h"

struct lookup_result {
	__u32 found;
	__u32 _pad;
	struct gls_entry entry;
};

struct lookup_result result;

// lookup_context(tgid = args[0], goid = args[1]) into result.
SEC("raw_tp")
int gls_lookup(__u64 *args)
{
	__u32 tgid = args[0];
	__u64 goid = args[1];
	__builtin_memset(&result, 0, sizeof(result));
	result.found = lookup_context(tgid, goid, &result.entry);
	return 0;
}

struct parse_result {
	__u32 ok;
	__u32 _pad;
	struct span_context sc;
};

__u8 tp_input[64];
__u32 tp_input_len;
struct parse_result tp_result;

// parse_traceparent(tp_input[0..tp_input_len)) into tp_result.
SEC("raw_tp")
int traceparent_parse(void *ctx)
{
	__builtin_memset(&tp_result, 0, sizeof(tp_result));
	tp_result.ok = parse_traceparent(tp_input, tp_input_len, &tp_result.sc);
	return 0;
}

struct span_context fmt_sc;
__u32 fmt_tgid;
__u32 fmt_with_baggage;
struct inject_header fmt_result;

// format_trace_headers(fmt_sc, fmt_tgid, fmt_with_baggage) into fmt_result;
// the trace's tracestate/baggage come from the trace_headers map.
SEC("raw_tp")
int trace_headers_format(void *ctx)
{
	format_trace_headers(&fmt_result, &fmt_sc, fmt_tgid, fmt_with_baggage);
	return 0;
}
