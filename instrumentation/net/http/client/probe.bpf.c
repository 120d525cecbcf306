//go:build ignore

// net/http client: one CLIENT span per request, at Transport.roundTrip.
// Two uprobe hits per request: its entry and its return; with injection a
// third, where the request meets its connection: persistConn.roundTrip
// here (sk_msg), transferWriter.writeHeader in writeuser.bpf.c.
//
// Parent: a valid traceparent the application put on the request itself
// (unless it is the one the trace came in with, forwarded by a proxy),
// else the live span that owns the request's context (or its nearest owned
// ancestor), else the goroutine's GLS context, else a new trace.
//
// Injection: a request without a traceparent of its own gets the client
// span's, either through the socket layer (the connection is armed here,
// propagation/inject.bpf.c inserts the line) or written into net/http's
// buffer (writeuser.bpf.c, which this probe hands the line to).
#include "glsotel/span.h"
#include "glsotel/context.h"
#include "glsotel/traceparent.h"
#include "glsotel/http_header.h"
#include "glsotel/route.h"
#include "client.h"

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1

volatile const __u32 inject_mode; /* enum inject_mode */

volatile const __u64 off_net_http_Request_Method;
volatile const __u64 off_net_http_Request_URL;
volatile const __u64 off_net_http_Request_Header;
volatile const __u64 off_net_http_Request_ctx;
volatile const __u64 off_net_http_Response_StatusCode;
volatile const __u64 off_net_http_Response_ProtoMajor;
volatile const __u64 off_net_http_Response_ProtoMinor;
volatile const __u64 off_net_url_URL_Scheme;
volatile const __u64 off_net_url_URL_Host;
volatile const __u64 off_net_url_URL_Path;
volatile const __u64 off_net_url_URL_RawQuery;
volatile const __u64 off_net_url_URL_User;
volatile const __u64 off_net_url_URL_Fragment;
/* sk_msg injection only (0 otherwise). */
volatile const __u64 off_net_http_persistConn_conn;
volatile const __u64 off_net_http_persistConn_tlsState;
volatile const __u64 off_net_TCPConn_conn;
volatile const __u64 off_net_conn_fd;
volatile const __u64 off_net_netFD_family;
volatile const __u64 off_net_netFD_sotype;
volatile const __u64 off_net_netFD_laddr;
volatile const __u64 off_net_netFD_raddr;
volatile const __u64 off_net_TCPAddr_IP;
volatile const __u64 off_net_TCPAddr_Port;

/* What the entry probe keeps until the return. */
struct client_request {
	struct span_base span;
	__u64 req;
	__u64 header;            /* req.Header */
	struct inject_key armed; /* the connection armed for sk_msg (tgid 0: none) */
	__u8 inject;             /* the request gets the client span's traceparent */
	__u8 app_baggage;        /* the application set a baggage header itself */
	__u8 forwarded;          /* its traceparent is the one its trace came in with: replaced */
	__u8 _pad[5];
};

struct client_event {
	enum event_kind kind;
	__u32 _pad;
	struct client_request r;
	__u64 status;    /* 0: no response */
	__u64 err_itab;  /* the returned error's itab (0: no error) */
	__u8 proto_major, proto_minor; /* the response's (0: no response) */
	__u8 user;                     /* the URL has user info (url.full redacts it) */
	__u8 _pad2[5];
	struct go_str16 method;
	struct go_str16 scheme;
	struct go_str128 host;
	struct go_str128 path;
	struct go_str128 query;
	struct go_str128 fragment;
};
const struct client_event *unused_client_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a handler that panics never returns: its record ages out */
	__uint(max_entries, GLS_MAX_GOROUTINES);
	__type(key, struct gls_key);
	__type(value, struct client_request);
} client_requests SEC(".maps");

/* The entry's working space (too big for the BPF stack). */
struct client_scratch {
	struct client_request r;
	struct header_values headers;
	struct inject_header line;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct client_scratch);
} client_scratch SEC(".maps");

/* forwarded_traceparent: tp, set on an outgoing request, is the
 * traceparent the request's trace came into this process with (a proxy
 * copies the incoming headers): parent's span is a server span whose
 * remote parent tp names. */
static __always_inline int forwarded_traceparent(const struct span_context *tp, const struct gls_entry *parent)
{
	struct gls_key k = { .tgid = current_tgid(), .goid = parent->origin_goid };
	struct server_request *r = bpf_map_lookup_elem(&server_requests, &k);
	if (!r || !r->span.parent_remote || span_id_u64(r->span.sc.span_id) != span_id_u64(parent->sc.span_id))
		return 0;
	__u64 a[2], b[2];
	__builtin_memcpy(a, r->span.sc.trace_id, 16);
	__builtin_memcpy(b, tp->trace_id, 16);
	return span_id_u64(r->span.parent_span_id) == span_id_u64(tp->span_id) && a[0] == b[0] && a[1] == b[1];
}

/* client_parent picks the parent by the rule in the README: request
 * context owner, then GLS, then none. */
static __always_inline int client_parent(__u64 g, __u64 ctx, struct gls_entry *out)
{
	if (ctx_context(ctx, out))
		return 1;
	return current_context(g, out);
}

// func (t *Transport) roundTrip(req *Request) (*Response, error)
//
// RAX = t, RBX = req.
SEC("uprobe/net_http_Transport_roundTrip")
int uprobe_net_http_Transport_roundTrip(struct pt_regs *ctx)
{
	__u64 req = GO_ARG2(ctx), g = GO_G(ctx);
	__u32 zero = 0;
	struct client_scratch *s = bpf_map_lookup_elem(&client_scratch, &zero);
	if (!req || !s)
		return 0;
	struct client_request *r = &s->r;
	__builtin_memset(r, 0, sizeof(*r));
	r->req = req;
	r->span.goid = g_goid(g);
	/* Header and ctx with one read. */
	struct block *rb = read_block(0, req, MAX2(off_net_http_Request_Header, off_net_http_Request_ctx + off_runtime_iface_data) + 8);
	if (!rb)
		return 0;
	r->header = block_u64(rb, off_net_http_Request_Header);
	__u64 reqctx = block_u64(rb, off_net_http_Request_ctx + off_runtime_iface_data);

	/* A traceparent the application set wins: it is sent unchanged and
	 * the client span joins its trace, under the span it names. */
	int app_set = 0, adopted = 0;
	struct span_context app = {};
	if (!tracecontext_off) {
		s->headers.found = 0;
		s->headers.traceparent.len = s->headers.w3c.baggage.len = 0;
		scan_headers(r->header, HEADER_TRACEPARENT | (baggage_off ? 0 : HEADER_BAGGAGE), &s->headers);
		app_set = s->headers.found & HEADER_TRACEPARENT;
		r->app_baggage = (s->headers.found & HEADER_BAGGAGE) != 0;
		__u32 n = s->headers.traceparent.len;
		adopted = app_set && n <= sizeof(s->headers.traceparent.s) &&
			  parse_traceparent(s->headers.traceparent.s, n, &app);
	}
	struct gls_entry parent;
	int has_parent = client_parent(g, reqctx, &parent);
	if (adopted && has_parent && forwarded_traceparent(&app, &parent))
		app_set = adopted = 0, r->forwarded = 1;
	if (adopted)
		start_span(&r->span, &app, 0);
	else if (has_parent)
		start_span(&r->span, &parent.sc, 0);
	else
		start_span(&r->span, NULL, 0);

	r->inject = inject_mode != INJECT_MODE_OFF && !tracecontext_off && !app_set;
	__u32 tgid = current_tgid();
	if (r->inject && inject_mode == INJECT_MODE_WRITE_USER && r->header) {
		struct header_key hk = { .tgid = tgid, .header = r->header };
		format_trace_headers(&s->line, &r->span.sc, tgid, !r->app_baggage);
		/* write_user writes before net/http writes the headers: a
		 * forwarded traceparent cannot be replaced, ours goes first
		 * (receivers take the first value), its tracestate stays. */
		if (r->forwarded)
			s->line.len = TRACEPARENT_HEADER_LEN;
		bpf_map_update_elem(&client_inject_headers, &hk, &s->line, BPF_ANY);
	}
	struct gls_key k = { .tgid = tgid, .goid = r->span.goid };
	bpf_map_update_elem(&client_requests, &k, r, BPF_ANY);
	return 0;
}

/* conn_key reads the connection a persistConn writes to as sk_msg will see
 * it. 0 when it is not a TCP connection over IPv4/IPv6, or over TLS (it is
 * encrypted below us: nothing to insert into). Fields of one struct come
 * with one read (read_block). */
static __always_inline int conn_key(__u64 pc, struct inject_key *key)
{
	struct block *b = read_block(0, pc, MAX2(off_net_http_persistConn_tlsState,
						 off_net_http_persistConn_conn + off_runtime_iface_data) + 8);
	if (!b || block_u64(b, off_net_http_persistConn_tlsState))
		return 0;
	__u64 conn = block_u64(b, off_net_http_persistConn_conn + off_runtime_iface_data);
	__u64 fd = read_ptr(conn + off_net_TCPConn_conn + off_net_conn_fd);
	__u64 n = MAX2(MAX2(off_net_netFD_sotype, off_net_netFD_family),
		       MAX2(off_net_netFD_laddr, off_net_netFD_raddr) + off_runtime_iface_data) + 8;
	if (!conn || !(b = read_block(0, fd, n)) || block_u64(b, off_net_netFD_sotype) != SOCK_STREAM)
		return 0;
	__u64 family = block_u64(b, off_net_netFD_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u64 laddr = block_u64(b, off_net_netFD_laddr + off_runtime_iface_data);
	__u64 raddr = block_u64(b, off_net_netFD_raddr + off_runtime_iface_data);
	if (!laddr)
		return 0;
	key->lport = read_ptr(laddr + off_net_TCPAddr_Port);
	/* raddr's IP (a slice: ptr, len) and Port. */
	if (!(b = read_block(0, raddr, MAX2(off_net_TCPAddr_IP + 16, off_net_TCPAddr_Port + 8))))
		return 0;
	key->rport = block_u64(b, off_net_TCPAddr_Port);
	__u64 ip = block_u64(b, off_net_TCPAddr_IP), iplen = block_u64(b, off_net_TCPAddr_IP + 8);
	if (!ip)
		return 0;
	if (iplen == 4) {
		key->raddr[10] = key->raddr[11] = 0xff;
		return bpf_probe_read_user(&key->raddr[12], 4, (void *)ip) == 0;
	}
	if (iplen == 16)
		return bpf_probe_read_user(key->raddr, 16, (void *)ip) == 0;
	return 0;
}

// func (pc *persistConn) roundTrip(req *transportRequest) (resp *Response, err error)
//
// RAX = pc, RBX = req. Called by Transport.roundTrip on the same goroutine
// once the connection is chosen (again on a retry), before the connection's
// writeLoop writes the request: the place to arm it for sk_msg.
SEC("uprobe/net_http_persistConn_roundTrip")
int uprobe_net_http_persistConn_roundTrip(struct pt_regs *ctx)
{
	__u64 pc = GO_ARG1(ctx), g = GO_G(ctx);
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(g) };
	struct client_request *r = bpf_map_lookup_elem(&client_requests, &k);
	if (!r || !r->inject || !pc)
		return 0;
	struct inject_key key = { .tgid = k.tgid };
	if (!conn_key(pc, &key))
		return 0;
	__u32 zero = 0;
	struct client_scratch *s = bpf_map_lookup_elem(&client_scratch, &zero);
	if (!s)
		return 0;
	format_trace_headers(&s->line, &r->span.sc, k.tgid, !r->app_baggage);
	s->line.replace = r->forwarded;
	bpf_map_update_elem(&inject_armed, &key, &s->line, BPF_ANY);
	r->armed = key;
	return 0;
}

// func (t *Transport) roundTrip(req *Request) (*Response, error), at each RET.
//
// RAX = *Response, RBX/RCX = error (itab, data).
SEC("uprobe/net_http_Transport_roundTrip_ret")
int uprobe_net_http_Transport_roundTrip_ret(struct pt_regs *ctx)
{
	__u64 resp = GO_RET1(ctx), err_itab = GO_ARG2(ctx), g = GO_G(ctx);
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(g) };
	struct client_request *r = bpf_map_lookup_elem(&client_requests, &k);
	if (!r)
		return 0;
	if (span_sampled(&r->span)) {
		struct client_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->kind = EVENT_KIND_HTTP_CLIENT;
			e->_pad = 0;
			e->r = *r;
			e->r.span.end_ns = bpf_ktime_get_ns();
			e->err_itab = err_itab;
			e->status = 0;
			e->proto_major = e->proto_minor = e->user = 0;
			__builtin_memset(e->_pad2, 0, sizeof(e->_pad2));
			if (resp && !err_itab) {
				/* Status and protocol with one read. */
				struct block *pb = read_block(2, resp, MAX2(off_net_http_Response_StatusCode,
									   MAX2(off_net_http_Response_ProtoMajor, off_net_http_Response_ProtoMinor)) + 8);
				if (pb) {
					e->status = block_u64(pb, off_net_http_Response_StatusCode);
					e->proto_major = block_u64(pb, off_net_http_Response_ProtoMajor);
					e->proto_minor = block_u64(pb, off_net_http_Response_ProtoMinor);
				}
			}
			e->method.len = e->scheme.len = e->host.len = e->path.len = e->query.len = e->fragment.len = 0;
			/* Method and URL with one read, the URL's fields with another. */
			struct block *rb = read_block(0, r->req, MAX2(off_net_http_Request_Method + 16, off_net_http_Request_URL + 8));
			if (rb) {
				block_go_str(&e->method, rb, off_net_http_Request_Method);
				__u64 n = MAX2(MAX2(MAX2(off_net_url_URL_Scheme, off_net_url_URL_Host),
						    MAX2(off_net_url_URL_Path, off_net_url_URL_RawQuery)),
					       MAX2(off_net_url_URL_Fragment, off_net_url_URL_User)) + 16;
				struct block *ub = read_block(1, block_u64(rb, off_net_http_Request_URL), n);
				if (ub) {
					block_go_str(&e->scheme, ub, off_net_url_URL_Scheme);
					block_go_str(&e->host, ub, off_net_url_URL_Host);
					block_go_str(&e->path, ub, off_net_url_URL_Path);
					block_go_str(&e->query, ub, off_net_url_URL_RawQuery);
					block_go_str(&e->fragment, ub, off_net_url_URL_Fragment);
					e->user = block_u64(ub, off_net_url_URL_User) != 0;
				}
			}
			bpf_ringbuf_submit(e, events_flags());
		} else {
			count_drop(EVENT_KIND_HTTP_CLIENT);
		}
	}
	/* Arms the request did not use (it failed before it was written, or
	 * went out over HTTP/2) must not reach a later request. */
	if (r->armed.tgid)
		bpf_map_delete_elem(&inject_armed, &r->armed);
	if (r->inject && inject_mode == INJECT_MODE_WRITE_USER) {
		struct header_key hk = { .tgid = k.tgid, .header = r->header };
		bpf_map_delete_elem(&client_inject_headers, &hk);
	}
	bpf_map_delete_elem(&client_requests, &k);
	return 0;
}
