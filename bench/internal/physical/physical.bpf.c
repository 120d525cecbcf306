//go:build ignore

// Programs that measure the floor an eBPF Go agent cannot go below: an
// empty uprobe program (the cost of the hit itself) and ring buffer submits
// run through BPF_PROG_TEST_RUN (the cost of emitting one event).
#include "glsotel/common.h"

// Uprobe hits seen by uprobe_count; only read to check that the probe is on
// the right function of the right process before timing the empty program.
__u64 hits;

// Reserves that found the ring full. Incremented only on failure, so the
// measured path carries no counter; the caller sizes batches to keep it 0.
__u64 failed_reserves;

// Submits that found the ring empty, the reader having read everything:
// with flags 0 these wake it (bpf_ringbuf_commit wakes when the consumer
// position is the record's; the rare reader that catches up between reserve
// and commit is missed). Without it a wakeup figure cannot be read: a
// reader that keeps up is woken on every submit, one that lags on none.
// Only the measuring thread runs these programs: a plain increment does.
__u64 empty_at_reserve;

// A small event, the size of a typical span record's fixed part.
struct record {
	__u8 data[64];
};

SEC("uprobe")
int uprobe_empty(struct pt_regs *ctx)
{
	return 0;
}

SEC("uprobe")
int uprobe_count(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

// Socket filters, not raw_tp: BPF_PROG_TEST_RUN rejects a repeat count for
// raw_tp (and tracing) programs, while skb programs loop in the kernel and
// report the time per run. Ring buffer helpers are in every program type's
// base set, so the submit path is the same one a uprobe takes.
SEC("socket")
int test_run_empty(void *ctx)
{
	return 0;
}

static __always_inline int submit(__u64 flags)
{
	// Two loads of positions the reserve reads anyway: the same small cost
	// in both modes.
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) == 0)
		empty_at_reserve++;
	struct record *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&failed_reserves, 1);
		return 0;
	}
	// Write the whole record, as a real probe fills its event.
	__builtin_memset(r, 0, sizeof(*r));
	bpf_ringbuf_submit(r, flags);
	return 0;
}

// Flags 0: the kernel wakes the reader when this record is the first one it
// has not consumed (the ring was drained), through irq_work.
SEC("socket")
int submit_wakeup(void *ctx)
{
	return submit(0);
}

SEC("socket")
int submit_no_wakeup(void *ctx)
{
	return submit(BPF_RB_NO_WAKEUP);
}
