/* Starting and ending spans in BPF: ids, the sampling decision and times
 * are made here, so children inherit them through GLS before user space
 * sees anything. */
#pragma once
#include "gls.h"

/* OTEL_TRACES_SAMPLER, injected by the agent (exporter.Config). */
enum sampler_kind {
	SAMPLER_ALWAYS_ON = 0,
	SAMPLER_ALWAYS_OFF = 1,
	SAMPLER_TRACEIDRATIO = 2,
};
volatile const __u32 sampler_kind;
/* parentbased_*: a span with a parent follows the parent's sampled flag. */
volatile const __u32 sampler_parentbased;
/* traceidratio: sampled when the trace id's low 8 bytes (big endian) >> 1
 * are below this bound, as the OpenTelemetry Go SDK decides. */
volatile const __u64 sampler_ratio_bound;

#define TRACE_FLAG_SAMPLED 0x01

/* What every span event carries. */
struct span_base {
	__u64 start_ns, end_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	struct span_context sc;
	__u8 parent_span_id[8]; /* zero: a root in this process */
	__u8 parent_remote;     /* the parent came from another process */
	__u8 _pad[7];
	__u64 goid;
};

static __always_inline void random_bytes(__u8 *dst, int n)
{
	for (int i = 0; i < n; i += 4) {
		__u32 r = bpf_get_prandom_u32();
		__builtin_memcpy(dst + i, &r, 4);
	}
}

static __always_inline int sample_root(const __u8 trace_id[16])
{
	switch (sampler_kind) {
	case SAMPLER_ALWAYS_OFF:
		return 0;
	case SAMPLER_TRACEIDRATIO: {
		__u64 lo;
		__builtin_memcpy(&lo, trace_id + 8, 8);
		return (__builtin_bswap64(lo) >> 1) < sampler_ratio_bound;
	}
	default:
		return 1;
	}
}

/* start_span fills s for a new span under parent (NULL: a new trace). */
static __always_inline void start_span(struct span_base *s, const struct span_context *parent, int remote)
{
	int sampled;
	if (parent) {
		__builtin_memcpy(s->sc.trace_id, parent->trace_id, 16);
		__builtin_memcpy(s->parent_span_id, parent->span_id, 8);
		s->parent_remote = remote;
		sampled = sampler_parentbased ? (parent->flags & TRACE_FLAG_SAMPLED) : sample_root(parent->trace_id);
	} else {
		random_bytes(s->sc.trace_id, 16);
		__builtin_memset(s->parent_span_id, 0, 8);
		s->parent_remote = 0;
		sampled = sample_root(s->sc.trace_id);
	}
	random_bytes(s->sc.span_id, 8);
	s->sc.flags = sampled ? TRACE_FLAG_SAMPLED : 0;
	__builtin_memset(s->sc._pad, 0, sizeof(s->sc._pad));
	__builtin_memset(s->_pad, 0, sizeof(s->_pad));
	s->start_ns = bpf_ktime_get_ns();
	s->end_ns = 0;
}

static __always_inline int span_sampled(const struct span_base *s)
{
	return s->sc.flags & TRACE_FLAG_SAMPLED;
}
