/* Handing an outgoing request's trace headers to the socket-layer injector
 * (propagation/inject.bpf.c), which works under kernel lockdown. A probe
 * arms the connection a request is about to be written on; the injector's
 * sk_msg program consumes the entry on that connection's next message.
 * Self-contained (no common.h): the injector object has no uprobes and no
 * ring buffer. */
#pragma once

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The header lines one request gets: "Traceparent: 00-<32>-<16>-<2>\r\n"
 * (70 bytes), then "Tracestate: ...\r\n" and "Baggage: ...\r\n" with up
 * to 256 bytes of value each. */
#define INJECT_MAX 640

/* A TCP connection as both sides see it: the uprobe reads it from the
 * Go net.Conn, sk_msg from the socket. */
struct inject_key {
	__u32 tgid;
	__u16 lport, rport; /* host byte order */
	__u8 raddr[16];     /* IPv6, or IPv4-mapped ::ffff:a.b.c.d */
};

struct inject_header {
	__u32 len;
	/* The request carries the traceparent its trace came in with (a
	 * proxy forwarding the headers it got): its value is overwritten
	 * with s's, nothing is inserted. */
	__u8 replace;
	__u8 _pad[3];
	__u8 s[INJECT_MAX];
};

/* Armed connections: use-once, LRU so an entry whose message never comes
 * (the connection broke first) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct inject_key);
	__type(value, struct inject_header);
} inject_armed SEC(".maps");
