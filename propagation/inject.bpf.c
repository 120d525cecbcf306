//go:build ignore

// Cross-process propagation without bpf_probe_write_user (kernel lockdown):
// trace headers are inserted into plaintext HTTP/1.x requests at the socket
// layer. A sockops program puts the targets' outgoing TCP connections in a
// sockhash; an sk_msg program on that sockhash inserts the armed header
// lines (inject.h) right after the request line. No uprobe fires here.
#include "glsotel/inject.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

/* Only the fields we read; their offsets are relocated against the
 * running kernel's BTF (CO-RE). */
struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct pid_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));
struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));
struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));
struct task_struct {
	__s32 tgid;
	struct task_struct *group_leader;
	struct pid *thread_pid;
} __attribute__((preserve_access_index));

/* The inode of the pid namespace the agent sees pids in, when it is not
 * the initial one (a sidecar sharing its app's namespace: the app is pid
 * 1 there); 0 in the initial namespace. */
volatile const __u32 agent_pidns;

/* Nesting deeper than this is not looked through. */
#define PIDNS_LEVELS 8

char __license[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10

/* A request line longer than this is passed through untouched. */
#define LINE_MAX 2048
/* A forwarded Traceparent line is looked for in this much of the message. */
#define REPLACE_SCAN 4096
/* "Traceparent: " and the value after it. */
#define TP_NAME 13
#define TP_VALUE 55
/* After inserting, this much of the message is pulled back into one piece:
 * left in three scatter-gather pieces, a request leaves as three TCP
 * segments. */
#define RELINEARIZE_MAX 16384

/* Processes whose connections are tracked (pid as the agent sees it ->
 * 1), kept by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} inject_targets SEC(".maps");

/* Connections a target started, by socket cookie, until established. The
 * connect callback runs in the connecting thread (so the tgid is right);
 * the established one may run anywhere (softirq). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} inject_connecting SEC(".maps");

/* The targets' established outgoing connections; closed sockets leave by
 * themselves. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} inject_sockets SEC(".maps");

/* What became of armed messages (user space reads and logs them). */
enum inject_outcome {
	INJECT_DONE = 0,        /* header lines inserted */
	INJECT_NOT_REQUEST = 1, /* the message did not start with an HTTP/1.x request line */
	INJECT_FAILED = 2,      /* the kernel refused to grow the message */
	INJECT_REPLACED = 3,    /* a forwarded traceparent's value overwritten */
	INJECT_OUTCOMES = 4,
};
const enum inject_outcome *unused_inject_outcome __attribute__((unused));
const struct inject_header *unused_inject_header __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, INJECT_OUTCOMES);
	__type(key, __u32);
	__type(value, __u64);
} inject_stats SEC(".maps");

/* inject_addr fills the remote address of k from a socket's family and
 * addresses (network order), as the probe keys it: IPv6, or IPv4-mapped.
 * Returns 0 for other families. */
static __always_inline int inject_addr(struct inject_key *k, __u32 family, __u32 ip4, const __u32 ip6[4])
{
	if (family == AF_INET) {
		k->raddr[10] = k->raddr[11] = 0xff;
		__builtin_memcpy(&k->raddr[12], &ip4, 4);
		return 1;
	}
	if (family == AF_INET6) {
		__builtin_memcpy(&k->raddr[0], &ip6[0], 4);
		__builtin_memcpy(&k->raddr[4], &ip6[1], 4);
		__builtin_memcpy(&k->raddr[8], &ip6[2], 4);
		__builtin_memcpy(&k->raddr[12], &ip6[3], 4);
		return 1;
	}
	return 0;
}

/* The remote port as both contexts give it (network order; some kernels
 * shift it into the upper half), in host order. */
static __always_inline __u16 inject_port(__u32 rport)
{
	return (rport >> 16) ? bpf_ntohl(rport) : bpf_ntohs(rport);
}

/* sockops_key fills k (but its tgid) for the socket of skops. */
static __always_inline void sockops_key(struct bpf_sock_ops *skops, struct inject_key *k)
{
	/* Context fields into locals first (clang 14 and the verifier). */
	__u32 family = skops->family, lport = skops->local_port, rport = skops->remote_port, ip4 = skops->remote_ip4;
	__u32 ip6[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2], skops->remote_ip6[3] };
	k->lport = lport;
	k->rport = inject_port(rport);
	inject_addr(k, family, ip4, ip6);
}

/* agent_tgid is task's process id as the agent sees it (inject_targets'
 * keys), or 0 when the task is not in the agent's pid namespace. */
static __always_inline __u32 agent_tgid(struct task_struct *task)
{
	if (!agent_pidns)
		return task->tgid;
	struct pid *p = BPF_CORE_READ(task, group_leader, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	for (int i = 0; i < PIDNS_LEVELS; i++) {
		if (i > level)
			break;
		struct upid u;
		if (bpf_core_read(&u, sizeof(u), &p->numbers[i]))
			break;
		if (BPF_CORE_READ(u.ns, ns.inum) == agent_pidns)
			return u.nr;
	}
	return 0;
}

SEC("sockops")
int sockops_track_target_connections(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	__u64 cookie;
	if (op == BPF_SOCK_OPS_TCP_CONNECT_CB) {
		/* Not bpf_get_current_pid_tgid: sockops lack it before 6.10. */
		struct task_struct *task = bpf_get_current_task_btf();
		__u32 ours = agent_tgid(task), tgid = task->tgid;
		if (!ours || !bpf_map_lookup_elem(&inject_targets, &ours))
			return 1;
		cookie = bpf_get_socket_cookie(skops);
		bpf_map_update_elem(&inject_connecting, &cookie, &tgid, BPF_ANY);
	} else if (op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB) {
		cookie = bpf_get_socket_cookie(skops);
		__u32 *tgid = bpf_map_lookup_elem(&inject_connecting, &cookie);
		if (!tgid)
			return 1;
		/* An arm left by an earlier connection of this 4-tuple (its
		 * message never came: it broke first) is stale: the new one is
		 * armed only once established. */
		struct inject_key k = { .tgid = *tgid };
		sockops_key(skops, &k);
		bpf_map_delete_elem(&inject_armed, &k);
		bpf_map_delete_elem(&inject_connecting, &cookie);
		bpf_sock_hash_update(skops, &inject_sockets, &cookie, BPF_NOEXIST);
	}
	return 1;
}

/* method_len returns the length of the method (1..16 uppercase letters,
 * then a space) at the start of the pulled data, or 0. A global function
 * too: its result reaches request_line_end as one unknown value, not one
 * verifier path per length. */
__noinline int method_len(struct sk_msg_md *msg)
{
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	for (int i = 0; i < 17; i++) {
		if (data + i + 1 > end)
			return 0;
		__u8 c = data[i];
		if (c == ' ')
			return i;
		if (c < 'A' || c > 'Z')
			return 0;
	}
	return 0;
}

/* request_line_end returns the offset just past the "\r\n" that ends an
 * HTTP/1.x request line at the start of the pulled data, or 0 when the data
 * does not start with one. A global function: verified once, not per
 * caller path (a byte loop inlined into the caller explodes the verifier's
 * state count with clang 14). */
__noinline int request_line_end(struct sk_msg_md *msg)
{
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	__u64 method_end = (__u32)method_len(msg);
	/* One register checked and used (clang would check a copy). */
	asm volatile("" : "+r"(method_end));
	if (method_end == 0 || method_end > 16)
		return 0;
	/* From 0, not from method_end (which holds no '\n' anyway): a loop
	 * counter with a constant start is one known value per iteration; one
	 * starting as a range makes 6.1's verifier walk past the loop's end
	 * (it misses that the exit test is then always true: EFAULT, "8193
	 * jumps is too complex"). */
	__u64 i = 0;
	for (; i < LINE_MAX; i++) {
		if (data + i + 1 > end)
			return 0;
		if (data[i] == '\n')
			break;
	}
	/* At least one byte of target between the spaces: "GET / HTTP/1.1"
	 * ends its line at method_end + 12. */
	if (i < method_end + 12 || i < 12 || i >= LINE_MAX)
		return 0; /* i < 12 again: the verifier keeps no relation between the two */
	/* ... " HTTP/1.x\r\n": i is at the '\n'. The start as its own
	 * register, checked against the end: a pointer with a negative
	 * constant offset is refused even when the variable part covers it. */
	__u64 off = i - 10;
	asm volatile("" : "+r"(off));
	if (off > LINE_MAX)
		return 0;
	__u8 *p = data + off;
	if ((void *)(p + 11) > (void *)end)
		return 0;
	if (p[0] != ' ' || p[1] != 'H' || p[2] != 'T' || p[3] != 'T' || p[4] != 'P' || p[5] != '/' ||
	    p[6] != '1' || p[7] != '.' || p[8] < '0' || p[8] > '9' || p[9] != '\r')
		return 0;
	return i + 1;
}

/* write_header copies h into the pulled data (which starts where the
 * pushed bytes are). */
__noinline int write_header(struct sk_msg_md *msg, const struct inject_header *h)
{
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	if (!h)
		return 0;
	__u32 n = h->len;
	for (__u32 i = 0; i < INJECT_MAX; i++) {
		if (i >= n)
			break;
		if (data + i + 1 > end)
			return 0;
		data[i] = h->s[i];
	}
	return 1;
}

/* What traceparent_line looks at, and finds. */
struct tp_scan {
	struct sk_msg_md *msg;
	__u32 found; /* the value's offset, 0: none */
};

/* traceparent_line checks the line that starts after byte i (bpf_loop
 * callback: one verification for every i, no per-iteration states). Stops
 * at the message's or the header block's end ("\r\n\r\n"). */
static long traceparent_line(__u64 i, void *arg)
{
	struct tp_scan *st = arg;
	__u8 *data = (__u8 *)(long)st->msg->data;
	__u8 *end = (__u8 *)(long)st->msg->data_end;
	if (i >= REPLACE_SCAN)
		return 1;
	__u8 *q = data + i;
	if ((void *)(q + 1 + TP_NAME + TP_VALUE + 1) > (void *)end)
		return 1;
	if (q[0] != '\n')
		return 0;
	if (q[1] == '\r')
		return 1;
	if ((q[1] | 0x20) == 't' && (q[2] | 0x20) == 'r' && (q[3] | 0x20) == 'a' && (q[4] | 0x20) == 'c' &&
	    (q[5] | 0x20) == 'e' && (q[6] | 0x20) == 'p' && (q[7] | 0x20) == 'a' && (q[8] | 0x20) == 'r' &&
	    (q[9] | 0x20) == 'e' && (q[10] | 0x20) == 'n' && (q[11] | 0x20) == 't' && q[12] == ':' && q[13] == ' ' &&
	    q[1 + TP_NAME + TP_VALUE] == '\r') {
		st->found = i + 1 + TP_NAME;
		return 1;
	}
	return 0;
}

/* traceparent_value returns the offset of the value of the first
 * "Traceparent: " line (any case, a 55-byte value, then "\r\n") in the
 * header block at the start of the pulled data, or 0. */
static __always_inline int traceparent_value(struct sk_msg_md *msg)
{
	struct tp_scan st = { .msg = msg };
	bpf_loop(REPLACE_SCAN, traceparent_line, &st, 0);
	return st.found;
}

/* replace_value overwrites the 55 bytes at off in the pulled data with
 * the traceparent value of h's first line. */
__noinline int replace_value(struct sk_msg_md *msg, __u32 off, const struct inject_header *h)
{
	__u8 *data = (__u8 *)(long)msg->data;
	__u8 *end = (__u8 *)(long)msg->data_end;
	/* One register checked and used (clang would check a copy). */
	__u64 o = off;
	asm volatile("" : "+r"(o));
	if (!h || o > REPLACE_SCAN + TP_NAME)
		return 0;
	__u8 *p = data + o;
	for (int i = 0; i < TP_VALUE; i++) {
		if ((void *)(p + i + 1) > (void *)end)
			return 0;
		p[i] = h->s[TP_NAME + i];
	}
	return 1;
}

static __always_inline enum inject_outcome inject(struct sk_msg_md *msg, const struct inject_header *h)
{
	__u32 size = msg->size, len = h->len;
	if (len == 0 || len > INJECT_MAX)
		return INJECT_NOT_REQUEST;
	if (h->replace) {
		if (bpf_msg_pull_data(msg, 0, size < REPLACE_SCAN ? size : REPLACE_SCAN, 0))
			return INJECT_FAILED;
		if (request_line_end(msg) <= 0)
			return INJECT_NOT_REQUEST;
		int at = traceparent_value(msg);
		if (at > 0 && replace_value(msg, at, h))
			return INJECT_REPLACED;
		/* Not within the scan: inserted as usual, before it (receivers
		 * take the first value). */
	}
	if (bpf_msg_pull_data(msg, 0, size < LINE_MAX ? size : LINE_MAX, 0))
		return INJECT_FAILED;
	int at = request_line_end(msg);
	if (at <= 0)
		return INJECT_NOT_REQUEST;
	if (bpf_msg_push_data(msg, at, len, 0))
		return INJECT_FAILED;
	/* The pushed bytes are uninitialised: take them out again if they
	 * cannot be written. */
	if (bpf_msg_pull_data(msg, at, at + len, 0) || !write_header(msg, h)) {
		bpf_msg_pop_data(msg, at, len, 0);
		return INJECT_FAILED;
	}
	size += len;
	bpf_msg_pull_data(msg, 0, size < RELINEARIZE_MAX ? size : RELINEARIZE_MAX, 0);
	return INJECT_DONE;
}

SEC("sk_msg")
int sk_msg_inject_headers(struct sk_msg_md *msg)
{
	/* Copy context fields into locals first (clang 14 and the verifier). */
	__u32 family = msg->family, lport = msg->local_port, rport = msg->remote_port, ip4 = msg->remote_ip4;
	__u32 ip6[4] = { msg->remote_ip6[0], msg->remote_ip6[1], msg->remote_ip6[2], msg->remote_ip6[3] };
	struct inject_key k = {};
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.lport = lport;
	k.rport = inject_port(rport);
	if (!inject_addr(&k, family, ip4, ip6))
		return SK_PASS;
	struct inject_header *armed = bpf_map_lookup_elem(&inject_armed, &k);
	if (!armed)
		return SK_PASS;
	/* Read in place, not through a per-CPU copy: sk_msg runs with
	 * migration disabled, not preemption, so another sender on this CPU
	 * could overwrite a copy mid-way. The entry stays put meanwhile: its
	 * connection is armed again only after this request's answer. */
	__u32 outcome = inject(msg, armed);
	/* Use once: only the message right after arming starts the request. */
	bpf_map_delete_elem(&inject_armed, &k);
	__u64 *n = bpf_map_lookup_elem(&inject_stats, &outcome);
	if (n)
		*n += 1;
	return SK_PASS;
}
