//go:build ignore

// Test harness for gls.h: runs its helpers under BPF_PROG_TEST_RUN so their
// logic is tested in the kernel's verifier and runtime, without uprobes.
#include "glsotel/gls.h"

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
