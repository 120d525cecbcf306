/* Shared definitions for every glsotel BPF object: types, registers of the
 * Go register ABI (amd64), the event ring buffer. No vmlinux.h: uprobes
 * only need the UAPI pt_regs layout, which is stable. */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* x86-64 struct pt_regs as the kernel lays it out for BPF programs. */
struct pt_regs {
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
	__u64 orig_ax, ip, cs, flags, sp, ss;
};

/* Read one register into a local. The empty asm keeps clang 14 from folding
 * several ctx loads into one modified ctx pointer, which the verifier
 * rejects ("dereference of modified ctx ptr"). */
#define GO_REG(ctx, r) ({ __u64 __v = (ctx)->r; asm volatile("" : "+r"(__v)); __v; })

/* Go internal ABI (amd64): integer arguments and results in this order. */
#define GO_ARG1(ctx) GO_REG(ctx, ax)
#define GO_ARG2(ctx) GO_REG(ctx, bx)
#define GO_ARG3(ctx) GO_REG(ctx, cx)
#define GO_ARG4(ctx) GO_REG(ctx, di)
#define GO_ARG5(ctx) GO_REG(ctx, si)
#define GO_RET1(ctx) GO_REG(ctx, ax)
/* The current g in ordinary Go code. Not on the system stack (g0 there). */
#define GO_G(ctx) GO_REG(ctx, r14)

char __license[] SEC("license") = "Dual MIT/GPL";

/* The kind that opens every event on the ring buffer; user space
 * dispatches on it. */
enum event_kind {
	EVENT_KIND_GLS_OBSERVE = 1,
	EVENT_KIND_GLS_SET = 2,
	EVENT_KIND_HTTP_SERVER = 3,
	EVENT_KIND_HTTP_CLIENT = 4,
	EVENT_KIND_DB_CLIENT = 5,
	EVENT_KIND_MAX,
};

/* One ring buffer for every probe, shared through map replacement. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Events lost because the ring buffer was full (the agent fell behind),
 * per kind. Per-CPU: counting never contends. User space sums and
 * reports them (probe.Session.Drops). Shared like events. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENT_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} event_drops SEC(".maps");

static __always_inline void count_drop(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&event_drops, &kind);
	if (n)
		*n += 1;
}

/* Events are handed over without waking the reader: a wakeup costs the
 * traced thread about as much as a uprobe hit. The reader polls the ring
 * every few milliseconds instead (probe.Session.Run), and is woken only
 * when this much is waiting. */
#define EVENTS_WAKEUP_BYTES (256 << 10)

static __always_inline __u64 events_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > EVENTS_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP
										     : BPF_RB_NO_WAKEUP;
}

/* Go strings copied into events: len bytes of s are valid (truncated to the
 * array). Sizes are powers of two. */
#define GO_STR_TYPE(n) struct go_str##n { __u32 len; __u8 s[n]; }
GO_STR_TYPE(16);
GO_STR_TYPE(64);
GO_STR_TYPE(128);
GO_STR_TYPE(256);

/* read_go_str copies the Go string whose header (ptr, len) is at addr into
 * dst (cap bytes) and returns the bytes copied. */
static __always_inline __u32 read_go_str_into(__u8 *dst, __u32 cap, __u64 addr)
{
	struct { __u64 ptr, len; } h = {};
	if (!addr || bpf_probe_read_user(&h, sizeof(h), (void *)addr) || !h.ptr)
		return 0;
	__u64 n = h.len;
	if (n > cap)
		n = cap;
	if (n == 0 || bpf_probe_read_user(dst, n, (void *)h.ptr))
		return 0;
	return n;
}
#define read_go_str(dst, addr) ((dst)->len = read_go_str_into((dst)->s, sizeof((dst)->s), (addr)))

/* read_ptr reads a pointer-sized word of user memory (0 on failure). */
static __always_inline __u64 read_ptr(__u64 addr)
{
	__u64 v = 0;
	if (addr)
		bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}
