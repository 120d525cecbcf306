//go:build ignore

// The goroutine-creation probe: a new goroutine inherits its creator's
// context. One uprobe hit per `go` statement.
#include "glsotel/gls.h"

// func newproc1(fn *funcval, callergp *g, callerpc uintptr, parked bool, waitreason waitReason) *g
//
// At RET, RAX is the new g, not yet runnable, its goid and parentGoid set.
// newproc1 runs on the system stack (R14 is g0), so the parent is taken from
// newg.parentGoid, never from R14.
SEC("uprobe/runtime_newproc1_ret")
int uprobe_runtime_newproc1_ret(struct pt_regs *ctx)
{
	__u64 newg = GO_RET1(ctx);
	if (!newg)
		return 0;
	__u32 tgid = current_tgid();
	__u64 goid, parent;
	struct gls_entry inherited;
	if (!g_goids(newg, &goid, &parent) || !lookup_context(tgid, parent, &inherited))
		return 0;
	struct gls_key child = { .tgid = tgid, .goid = goid };
	bpf_map_update_elem(&gls_contexts, &child, &inherited, BPF_ANY);
	return 0;
}
