/* Goroutine-local storage: the trace context of each goroutine, keyed by
 * (tgid, goid). Owned by propagation/; every probe includes this header and
 * the agent shares one instance of each map between all objects.
 *
 * Stale rule: a context whose span has ended never parents anything new.
 * span_ended() records the ended span with the context it was started under;
 * current_context() follows those records to the nearest live ancestor (or
 * none) and rewrites the goroutine's slot, so a pooled worker that inherited
 * request A's span does not put later work under A. */
#pragma once
#include "common.h"

#define GLS_MAX_GOROUTINES 65536
#define GLS_MAX_ENDED 65536
/* How many ended spans current_context() walks past to a live ancestor. */
#define GLS_MAX_ENDED_WALK 8

struct span_context {
	__u8 trace_id[16];
	__u8 span_id[8];
	__u8 flags;
	__u8 _pad[7];
};

struct gls_key {
	__u32 tgid;
	__u32 _pad;
	__u64 goid;
};

struct gls_entry {
	struct span_context sc;
	/* The goroutine that stored this context (the owner; inheritors copy it). */
	__u64 origin_goid;
};

struct ended_key {
	__u32 tgid;
	__u32 _pad;
	__u8 span_id[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GLS_MAX_GOROUTINES);
	__type(key, struct gls_key);
	__type(value, struct gls_entry);
} gls_contexts SEC(".maps");

/* Ended span -> the context it was started under (zero: none). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GLS_MAX_ENDED);
	__type(key, struct ended_key);
	__type(value, struct gls_entry);
} gls_ended SEC(".maps");

/* Injected from offsets/: never hard-coded (goid moves between releases). */
volatile const __u64 off_runtime_g_goid;
volatile const __u64 off_runtime_g_parentGoid;

static __always_inline __u32 current_tgid(void)
{
	return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline __u64 g_goid(__u64 g)
{
	__u64 goid = 0;
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + off_runtime_g_goid));
	return goid;
}

static __always_inline __u64 g_parent_goid(__u64 g)
{
	__u64 goid = 0;
	bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + off_runtime_g_parentGoid));
	return goid;
}

/* g_goids reads a g's goid and parentGoid with one read (they are about
 * 128 bytes apart), into block slot 0. Returns 0 when g cannot be read. */
static __always_inline int g_goids(__u64 g, __u64 *goid, __u64 *parent)
{
	__u64 lo = off_runtime_g_goid < off_runtime_g_parentGoid ? off_runtime_g_goid : off_runtime_g_parentGoid;
	struct block *b = read_block(0, g + lo, MAX2(off_runtime_g_goid, off_runtime_g_parentGoid) - lo + 8);
	if (!b)
		return 0;
	*goid = block_u64(b, off_runtime_g_goid - lo);
	*parent = block_u64(b, off_runtime_g_parentGoid - lo);
	return 1;
}

static __always_inline __u64 span_id_u64(const __u8 id[8])
{
	__u64 v;
	__builtin_memcpy(&v, id, 8);
	return v;
}

/* resolve_live follows ended spans to the nearest live context. Returns 1
 * with *out set when one exists, 0 otherwise. */
static __always_inline int resolve_live(__u32 tgid, const struct gls_entry *e, struct gls_entry *out)
{
	struct ended_key ek = { .tgid = tgid };
	*out = *e;
	/* GLS_MAX_ENDED_WALK ended spans followed, plus one liveness check. */
	for (int i = 0; i <= GLS_MAX_ENDED_WALK; i++) {
		if (span_id_u64(out->sc.span_id) == 0)
			return 0;
		__builtin_memcpy(ek.span_id, out->sc.span_id, 8);
		struct gls_entry *parent = bpf_map_lookup_elem(&gls_ended, &ek);
		if (!parent)
			return 1;
		*out = *parent;
	}
	return 0; /* deeper than we walk: treat as no context rather than guess */
}

/* lookup_context returns the live context of goroutine goid into *out. */
static __always_inline int lookup_context(__u32 tgid, __u64 goid, struct gls_entry *out)
{
	struct gls_key k = { .tgid = tgid, .goid = goid };
	struct gls_entry *e = bpf_map_lookup_elem(&gls_contexts, &k);
	if (!e)
		return 0;
	if (resolve_live(tgid, e, out)) {
		if (span_id_u64(out->sc.span_id) != span_id_u64(e->sc.span_id))
			bpf_map_update_elem(&gls_contexts, &k, out, BPF_ANY);
		return 1;
	}
	bpf_map_delete_elem(&gls_contexts, &k);
	return 0;
}

/* current_context: the live context of the goroutine running this probe.
 * g must be the current g (R14 in ordinary Go code). */
static __always_inline int current_context(__u64 g, struct gls_entry *out)
{
	return lookup_context(current_tgid(), g_goid(g), out);
}

/* set_context stores e as the context of goroutine goid (its own value
 * overrides what it inherited). */
static __always_inline void set_context(__u64 goid, const struct gls_entry *e)
{
	struct gls_key k = { .tgid = current_tgid(), .goid = goid };
	bpf_map_update_elem(&gls_contexts, &k, e, BPF_ANY);
}

/* clear_context forgets goroutine goid's context. */
static __always_inline void clear_context(__u64 goid)
{
	struct gls_key k = { .tgid = current_tgid(), .goid = goid };
	bpf_map_delete_elem(&gls_contexts, &k);
}

/* span_ended records that span_id ended; parent is the context it was
 * started under (NULL: none). Inheritors fall back to parent from now on. */
static __always_inline void span_ended(const __u8 span_id[8], const struct gls_entry *parent)
{
	struct ended_key ek = { .tgid = current_tgid() };
	struct gls_entry none = {};
	__builtin_memcpy(ek.span_id, span_id, 8);
	bpf_map_update_elem(&gls_ended, &ek, parent ? parent : &none, BPF_ANY);
}
