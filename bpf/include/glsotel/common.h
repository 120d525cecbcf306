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

/* What the programs count beside the events they send: each a loss or a
 * bound met that the agent reports (--stats "counter NAME N", self-metric
 * glsotel_NAME_total). User space names them from this enum's BTF: a new
 * counter is one line here and its help text (probe.CounterHelp). */
enum probe_counter {
	/* A header map larger than the scan's bound, not all of whose wanted
	 * headers were found in the part scanned. */
	COUNTER_HEADERS_TRUNCATED = 0,
	/* A live header map slot that could not be read. */
	COUNTER_HEADERS_UNREADABLE = 1,
	/* write_user: the request's bufio buffer had no room left for the
	 * trace header lines (a request line and headers ending within that
	 * many bytes of its size): the request went out without them. */
	COUNTER_INJECT_NO_ROOM = 2,
	/* A request whose router told its route, but whose route record was
	 * evicted before it ended (more requests in flight than
	 * server_routes holds): its span went without http.route. */
	COUNTER_ROUTE_LOST = 3,
	COUNTER_MAX,
};

/* Per-CPU: counting never contends. Shared like events. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} probe_counters SEC(".maps");
const enum probe_counter *unused_probe_counter __attribute__((unused));

static __always_inline void count(__u32 c)
{
	__u64 *n = bpf_map_lookup_elem(&probe_counters, &c);
	if (n)
		*n += 1;
}

/* Events are handed over without waking the reader: a wakeup costs the
 * traced thread about as much as a uprobe hit. While events flow, the
 * reader polls the ring (probe.Session.Run) and is woken only when this
 * much is waiting. Each wakeup also costs the one-CPU agent a round of
 * thread hand-offs (futex, epoll, sysmon): 1 MiB rather than 256 KiB took
 * a third of its system calls under load away, and leaves 3 MiB of the
 * ring for it to catch up. */
#define EVENTS_WAKEUP_BYTES (1 << 20)

/* Set (non-zero) by the reader when a poll found nothing and it sleeps
 * without polling: the next event wakes it and clears this, so an idle
 * agent makes no wakeups and the first event after a pause is not left
 * waiting. Shared like events. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} events_reader_idle SEC(".maps");

static __always_inline __u64 events_flags(void)
{
	__u32 zero = 0;
	__u32 *idle = bpf_map_lookup_elem(&events_reader_idle, &zero);
	if (idle && *idle) {
		*idle = 0;
		return BPF_RB_FORCE_WAKEUP;
	}
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

/* A Go string or slice header's first two words: ptr, len. */
struct go_hdr {
	__u64 ptr, len;
};

/* go_str_bytes copies the first cap bytes of the Go string (ptr, len) into
 * dst and returns the bytes copied. */
static __always_inline __u32 go_str_bytes(__u8 *dst, __u32 cap, __u64 ptr, __u64 len)
{
	__u64 n = len;
	if (n > cap)
		n = cap;
	if (!ptr || n == 0 || bpf_probe_read_user(dst, n, (void *)ptr))
		return 0;
	return n;
}

/* read_go_str_into copies the Go string whose header (ptr, len) is at addr
 * into dst (cap bytes) and returns the bytes copied. */
static __always_inline __u32 read_go_str_into(__u8 *dst, __u32 cap, __u64 addr)
{
	struct go_hdr h = {};
	if (!addr || bpf_probe_read_user(&h, sizeof(h), (void *)addr))
		return 0;
	return go_str_bytes(dst, cap, h.ptr, h.len);
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

/* Blocks: the fields a program needs from one Go struct, copied with one
 * probe read. A probe read costs about 80 ns on our VMs, whatever its size
 * up to a few hundred bytes, so reading a struct's used span once beats
 * reading its fields one by one. Per-CPU scratch: a program holds at most
 * BLOCK_SLOTS blocks at once. */
#define BLOCK_MAX 512
#define BLOCK_SLOTS 3

struct block {
	__u8 b[BLOCK_MAX + 8]; /* + 8: a word read at any masked offset fits */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BLOCK_SLOTS);
	__type(key, __u32);
	__type(value, struct block);
} blocks SEC(".maps");

/* read_block copies the len bytes at addr (a struct's first len bytes: len
 * must not run past the struct) into block slot and returns it, or NULL. */
static __always_inline struct block *read_block(__u32 slot, __u64 addr, __u64 len)
{
	struct block *b = bpf_map_lookup_elem(&blocks, &slot);
	if (!b || !addr || len == 0 || len > BLOCK_MAX)
		return 0;
	if (bpf_probe_read_user(b->b, len, (void *)addr))
		return 0;
	return b;
}

/* block_u64 is the word at off in a block. The offset is masked, not
 * checked: a branch here would split the verifier's states at every field
 * (the header scan's loop then exceeds its budget). Offsets past what was
 * read give stale bytes, never an out-of-bounds read. */
static __always_inline __u64 block_u64(const struct block *b, __u64 off)
{
	__u64 v;
	__builtin_memcpy(&v, b->b + (off & (BLOCK_MAX - 1)), sizeof(v));
	return v;
}

/* block_go_str copies the Go string whose header is at off in a block. */
#define block_go_str(dst, blk, off) \
	((dst)->len = go_str_bytes((dst)->s, sizeof((dst)->s), block_u64(blk, off), block_u64(blk, (off) + 8)))

#define MAX2(a, b) ((a) > (b) ? (a) : (b))
