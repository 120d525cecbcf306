/* W3C traceparent parsing in BPF. Same rules as propagation.ParseTraceparent
 * (Go); both are tested on one table of inputs. */
#pragma once
#include "gls.h"
#include "inject.h"

#define TRACEPARENT_LEN 55

/* Set when OTEL_PROPAGATORS leaves out tracecontext: incoming traceparent
 * and tracestate are then ignored and none is injected. */
volatile const __u32 tracecontext_off;
/* Set when OTEL_PROPAGATORS leaves out baggage: it is not passed on. */
volatile const __u32 baggage_off;

/* What a trace carries besides its ids, passed on unchanged: the incoming
 * request's tracestate and baggage (first value of each, up to 256 bytes). */
struct w3c_headers {
	struct go_str256 tracestate;
	struct go_str256 baggage;
};

struct trace_headers_key {
	__u32 tgid;
	__u8 trace_id[16];
};

/* By trace, set where a request enters a process, read where one leaves.
 * LRU: entries are not deleted, a trace that is done ages out; requests
 * of one trace entering concurrently share the latest values. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct trace_headers_key);
	__type(value, struct w3c_headers);
} trace_headers SEC(".maps");

static __always_inline int tp_hex(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* tp_decode decodes n bytes from 2n lowercase hex digits; 0 on bad input. */
static __always_inline int tp_decode(const __u8 *src, __u8 *dst, int n)
{
	for (int i = 0; i < n; i++) {
		int hi = tp_hex(src[2 * i]), lo = tp_hex(src[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		dst[i] = (hi << 4) | lo;
	}
	return 1;
}

/* parse_traceparent parses buf[0..len), already copied from user memory and
 * trimmed (buf holds at least TRACEPARENT_LEN + 1 bytes). Returns 1 and
 * fills *sc for a valid value, 0 otherwise. */
static __always_inline int parse_traceparent(const __u8 *buf, __u32 len, struct span_context *sc)
{
	__u8 ver, flags;
	if (len < TRACEPARENT_LEN || buf[2] != '-' || buf[35] != '-' || buf[52] != '-')
		return 0;
	if (!tp_decode(buf, &ver, 1) || ver == 0xff)
		return 0;
	if (len > TRACEPARENT_LEN && (ver == 0 || buf[TRACEPARENT_LEN] != '-'))
		return 0;
	if (!tp_decode(buf + 3, sc->trace_id, 16) || !tp_decode(buf + 36, sc->span_id, 8) ||
	    !tp_decode(buf + 53, &flags, 1))
		return 0;
	sc->flags = flags;
	__u64 t0, t1;
	__builtin_memcpy(&t0, sc->trace_id, 8);
	__builtin_memcpy(&t1, sc->trace_id + 8, 8);
	if ((t0 | t1) == 0 || span_id_u64(sc->span_id) == 0)
		return 0;
	return 1;
}

static __always_inline void tp_hex_encode(__u8 *dst, const __u8 *src, int n)
{
	for (int i = 0; i < n; i++) {
		__u8 hi = src[i] >> 4, lo = src[i] & 0xf;
		dst[2 * i] = hi < 10 ? '0' + hi : 'a' + hi - 10;
		dst[2 * i + 1] = lo < 10 ? '0' + lo : 'a' + lo - 10;
	}
}

#define TRACEPARENT_HEADER "Traceparent: 00-"
#define TRACEPARENT_HEADER_LEN (sizeof(TRACEPARENT_HEADER) - 1 + 32 + 1 + 16 + 1 + 2 + 2)

/* put_header appends "name" value "\r\n" at h->s[at] and returns the new
 * end (at, unchanged, when it does not fit). Copies are constant-size (the
 * verifier bounds them); lengths say what counts. */
static __always_inline __u64 put_header(struct inject_header *h, __u64 at, const char *name, __u64 name_len,
					 const struct go_str256 *v)
{
	__u64 n = v->len, pos = at;
	if (n == 0 || n > sizeof(v->s) || pos > INJECT_MAX - 16 - sizeof(v->s) - 2)
		return at;
	__builtin_memcpy(h->s + pos, name, 16); /* name_len of these count */
	pos += name_len;
	__builtin_memcpy(h->s + pos, v->s, sizeof(v->s));
	pos += n;
	/* Re-check after the arithmetic: clang may lose the bound on the way. */
	if (pos > INJECT_MAX - 2)
		return at;
	h->s[pos] = '\r';
	h->s[pos + 1] = '\n';
	return pos + 2;
}

/* format_trace_headers writes the header lines an outgoing request gets
 * for sc: "Traceparent: 00-<trace id>-<span id>-<flags>\r\n", then the
 * trace's tracestate and baggage, as they came in (with_baggage: the
 * application did not set its own). */
static __always_inline void format_trace_headers(struct inject_header *h, const struct span_context *sc, __u32 tgid,
						 int with_baggage)
{
	__u8 *p = h->s;
	h->replace = 0;
	__builtin_memcpy(p, TRACEPARENT_HEADER, sizeof(TRACEPARENT_HEADER) - 1);
	p += sizeof(TRACEPARENT_HEADER) - 1;
	tp_hex_encode(p, sc->trace_id, 16);
	p[32] = '-';
	tp_hex_encode(p + 33, sc->span_id, 8);
	p[49] = '-';
	tp_hex_encode(p + 50, &sc->flags, 1);
	p[52] = '\r';
	p[53] = '\n';
	__u64 at = TRACEPARENT_HEADER_LEN;
	struct trace_headers_key k = { .tgid = tgid };
	__builtin_memcpy(k.trace_id, sc->trace_id, 16);
	struct w3c_headers *t = bpf_map_lookup_elem(&trace_headers, &k);
	if (t) {
		at = put_header(h, at, "Tracestate: \0\0\0\0", 12, &t->tracestate);
		if (with_baggage && !baggage_off)
			at = put_header(h, at, "Baggage: \0\0\0\0\0\0\0", 9, &t->baggage);
	}
	h->len = at;
}
