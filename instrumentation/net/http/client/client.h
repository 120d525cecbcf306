/* What the client span probe (probe.bpf.c) shares with its write-user
 * injector (writeuser.bpf.c), which is a separate object because it only
 * loads where the kernel allows bpf_probe_write_user. */
#pragma once
#include "glsotel/inject.h"

/* A request's Header map, which the goroutine that writes the request
 * (the connection's writeLoop, not the caller's) can see. */
struct header_key {
	__u32 tgid;
	__u32 _pad;
	__u64 header;
};

/* Header lines to write into a request, by its Header map; set at
 * Transport.roundTrip, taken when the request is written, dropped at
 * roundTrip's return (an HTTP/2 request is never written here). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct header_key);
	__type(value, struct inject_header);
} client_inject_headers SEC(".maps");

/* Which injection the agent chose (propagation.Injection). */
enum inject_mode {
	INJECT_MODE_OFF = 0,
	INJECT_MODE_SK_MSG = 1,
	INJECT_MODE_WRITE_USER = 2,
};
