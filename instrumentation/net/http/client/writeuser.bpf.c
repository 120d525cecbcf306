//go:build ignore

// The net/http client's write-user injector: writes the client span's
// traceparent line into the request's bufio.Writer with
// bpf_probe_write_user, right after the request line, Host and User-Agent
// (which Request.write puts there first). Only loads where the kernel is
// not locked down. One uprobe hit per request written over HTTP/1.x,
// HTTPS included (the bytes are plaintext at this point).
#include "glsotel/common.h"
#include "client.h"

volatile const __u64 off_net_http_transferWriter_Header;
volatile const __u64 off_bufio_Writer_buf;
volatile const __u64 off_bufio_Writer_n;

/* The buffer never holds more: a Writer this large is not net/http's. */
#define BUFIO_MAX (1 << 24)

// func (t *transferWriter) writeHeader(w io.Writer, trace *httptrace.ClientTrace) error
//
// RAX = t, RBX/RCX = w (itab, data: the connection's *bufio.Writer), RDI =
// trace. t.Header is the request's Header, so the line the client probe
// keyed by it is this request's, whichever goroutine writes it.
SEC("uprobe/net_http_transferWriter_writeHeader")
int uprobe_net_http_transferWriter_writeHeader(struct pt_regs *ctx)
{
	__u64 t = GO_ARG1(ctx), bw = GO_ARG3(ctx);
	struct header_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .header = read_ptr(t + off_net_http_transferWriter_Header) };
	if (!k.header || !bw)
		return 0;
	struct inject_header *line = bpf_map_lookup_elem(&client_inject_headers, &k);
	if (!line)
		return 0;
	struct { __u64 ptr, len, cap; } buf = {};
	__u64 n = read_ptr(bw + off_bufio_Writer_n);
	__u64 len = line->len;
	/* Only into room the buffer has: never past its end. */
	if (bpf_probe_read_user(&buf, sizeof(buf), (void *)(bw + off_bufio_Writer_buf)) || !buf.ptr ||
	    buf.len > buf.cap || buf.cap > BUFIO_MAX || n > buf.len)
		goto out;
	if (buf.len - n < len) {
		count(COUNTER_INJECT_NO_ROOM);
		goto out;
	}
	/* The verifier needs 1 <= len <= INJECT_MAX on the register passed,
	 * and 6.1's learns no lower bound from len != 0: bound len - 1 and
	 * add the 1 back behind a barrier clang cannot see through. */
	__u64 m = len - 1; /* len 0 wraps and fails */
	if (m >= INJECT_MAX)
		goto out;
	asm volatile("" : "+r"(m));
	len = m + 1;
	if (bpf_probe_write_user((void *)(buf.ptr + n), line->s, len) == 0) {
		n += len;
		bpf_probe_write_user((void *)(bw + off_bufio_Writer_n), &n, sizeof(n));
	}
out:
	/* The line stays until the client span ends (its return deletes it):
	 * a request the transport retries on a new connection is written
	 * again, and carries it again. */
	return 0;
}
