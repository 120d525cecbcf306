//go:build ignore

// GLS markers: empty //go:noinline functions in a program (the demo, the
// GLS tests) that let the agent store, end and observe goroutine-local
// values without writing into the program.
#include "glsotel/gls.h"

struct marker_event {
	enum event_kind kind;
	__u32 _pad;
	__u64 goid;
	__u64 parent_goid;
	__u64 value;       /* the value set, or seen (0: none) */
	__u64 origin_goid; /* who stored the value seen */
	__u64 expect;      /* what the program expects to see */
};
/* Keeps the types in BTF for bpf2go -type. */
const struct marker_event *unused_marker_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));

static __always_inline void marker_value(__u64 v, struct gls_entry *e)
{
	__builtin_memset(e, 0, sizeof(*e));
	__builtin_memcpy(e->sc.span_id, &v, 8);
	__builtin_memcpy(&e->sc.trace_id[8], &v, 8);
	e->sc.flags = 1;
}

static __always_inline __u64 marker_of(const struct gls_entry *e)
{
	__u64 v;
	__builtin_memcpy(&v, e->sc.span_id, 8);
	return v;
}

static __always_inline void emit(__u32 kind, __u64 g, __u64 goid, __u64 value, __u64 origin, __u64 expect)
{
	struct marker_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(kind);
		return;
	}
	ev->kind = kind;
	ev->_pad = 0;
	ev->goid = goid;
	ev->parent_goid = g_parent_goid(g);
	ev->value = value;
	ev->origin_goid = origin;
	ev->expect = expect;
	bpf_ringbuf_submit(ev, events_flags());
}

// func glsSet(v uint64)
SEC("uprobe/main_glsSet")
int uprobe_main_glsSet(struct pt_regs *ctx)
{
	__u64 v = GO_ARG1(ctx);
	__u64 g = GO_G(ctx);
	__u64 goid = g_goid(g);
	struct gls_entry e;
	marker_value(v, &e);
	e.origin_goid = goid;
	set_context(goid, &e);
	emit(EVENT_KIND_GLS_SET, g, goid, v, goid, v);
	return 0;
}

// func glsEnd(v uint64, parent uint64)
//
// Ends marker span v, started under marker parent (0: none).
SEC("uprobe/main_glsEnd")
int uprobe_main_glsEnd(struct pt_regs *ctx)
{
	__u64 v = GO_ARG1(ctx);
	__u64 parent = GO_ARG2(ctx);
	__u64 g = GO_G(ctx);
	__u64 goid = g_goid(g);
	struct gls_entry e, p;
	marker_value(v, &e);
	if (!parent) {
		span_ended(e.sc.span_id, 0);
		clear_context(goid);
		return 0;
	}
	marker_value(parent, &p);
	p.origin_goid = goid;
	span_ended(e.sc.span_id, &p);
	set_context(goid, &p);
	return 0;
}

// func glsObserve(expect uint64)
SEC("uprobe/main_glsObserve")
int uprobe_main_glsObserve(struct pt_regs *ctx)
{
	__u64 expect = GO_ARG1(ctx);
	__u64 g = GO_G(ctx);
	__u64 goid = g_goid(g);
	struct gls_entry e;
	if (lookup_context(current_tgid(), goid, &e))
		emit(EVENT_KIND_GLS_OBSERVE, g, goid, marker_of(&e), e.origin_goid, expect);
	else
		emit(EVENT_KIND_GLS_OBSERVE, g, goid, 0, 0, expect);
	return 0;
}
