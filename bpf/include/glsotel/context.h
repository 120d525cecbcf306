/* Which span a context.Context belongs to. A server span records its
 * request's context as the owner of the span; a call that carries a context
 * walks that context's parent chain to the nearest owner. Owned by
 * propagation/ (its map is shared by every object, like the GLS maps). */
#pragma once
#include "gls.h"

#define CTX_MAX_OWNERS 16384
/* How many contexts a call walks up its context's parent chain. */
#define CTX_MAX_WALK 16

struct ctx_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ctx; /* data word of the context.Context interface */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CTX_MAX_OWNERS);
	__type(key, struct ctx_key);
	__type(value, struct gls_entry);
} ctx_owners SEC(".maps");

/* The standard context types keep their parent Context first; the
 * interface's data word is runtime.iface.data. */
volatile const __u64 off_context_cancelCtx_Context;
volatile const __u64 off_runtime_iface_tab;
volatile const __u64 off_runtime_iface_data;

/* read_iface reads the interface value (tab, data) at addr with one read.
 * Returns 0 when it cannot be read. */
static __always_inline int read_iface(__u64 addr, __u64 *tab, __u64 *data)
{
	__u64 w[2] = {};
	if (!addr || bpf_probe_read_user(w, sizeof(w), (void *)addr))
		return 0;
	*tab = w[off_runtime_iface_tab / 8 & 1];
	*data = w[off_runtime_iface_data / 8 & 1];
	return 1;
}

static __always_inline void ctx_own(__u64 ctx, const struct gls_entry *e)
{
	struct ctx_key k = { .tgid = current_tgid(), .ctx = ctx };
	if (ctx)
		bpf_map_update_elem(&ctx_owners, &k, e, BPF_ANY);
}

static __always_inline void ctx_disown(__u64 ctx)
{
	struct ctx_key k = { .tgid = current_tgid(), .ctx = ctx };
	if (ctx)
		bpf_map_delete_elem(&ctx_owners, &k);
}

/* ctx_context finds the live span that owns ctx or its nearest owned
 * ancestor. Returns 1 with *out set, 0 when no context on the chain owns a
 * live span. An ended owner resolves like GLS: to its live ancestor. */
static __always_inline int ctx_context(__u64 ctx, struct gls_entry *out)
{
	struct ctx_key k = { .tgid = current_tgid() };
	for (int i = 0; i < CTX_MAX_WALK; i++) {
		if (!ctx)
			return 0;
		k.ctx = ctx;
		struct gls_entry *e = bpf_map_lookup_elem(&ctx_owners, &k);
		if (e)
			return resolve_live(k.tgid, e, out);
		__u64 tab;
		if (!read_iface(ctx + off_context_cancelCtx_Context, &tab, &ctx) || !tab)
			return 0; /* nil parent: the chain ends (or not a standard context) */
	}
	return 0;
}
