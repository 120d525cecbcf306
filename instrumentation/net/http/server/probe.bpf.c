//go:build ignore

// net/http server: one SERVER span per request, started in the handler
// goroutine's GLS slot. Two uprobe hits per request: the entry and the
// return of serverHandler.ServeHTTP.
#include "glsotel/span.h"
#include "glsotel/context.h"
#include "glsotel/traceparent.h"
#include "glsotel/http_header.h"

volatile const __u64 off_net_http_Request_Method;
volatile const __u64 off_net_http_Request_URL;
volatile const __u64 off_net_http_Request_Proto;
volatile const __u64 off_net_http_Request_Header;
volatile const __u64 off_net_http_Request_Host;
volatile const __u64 off_net_http_Request_RemoteAddr;
volatile const __u64 off_net_http_Request_TLS;
volatile const __u64 off_net_http_Request_ctx;
volatile const __u64 off_net_http_Request_pat; /* 0: Go < 1.22, no patterns */
volatile const __u64 off_net_http_pattern_str;
volatile const __u64 off_net_url_URL_Path;
volatile const __u64 off_net_url_URL_RawQuery;
volatile const __u64 off_net_http_response_req;
volatile const __u64 off_net_http_response_status;

/* What the entry probe keeps until the return. */
struct server_request {
	struct span_base span;
	__u64 req, resp, ctx;
	struct header_values headers;
};

struct server_event {
	enum event_kind kind;
	__u32 _pad;
	struct server_request r;
	__u64 status; /* 0: unknown (HTTP/2, hijacked) */
	__u8 tls;
	__u8 _pad2[7];
	struct go_str16 method;
	struct go_str16 proto;
	struct go_str128 path;
	struct go_str128 query;
	struct go_str128 host;
	struct go_str64 remote_addr;
	struct go_str128 route;
};
const struct server_event *unused_server_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a handler that panics never returns: its record ages out */
	__uint(max_entries, GLS_MAX_GOROUTINES);
	__type(key, struct gls_key);
	__type(value, struct server_request);
} server_requests SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct server_request);
} server_scratch SEC(".maps");

/* The bytes of an http.Request the return reads: up to its last field used. */
static __always_inline __u64 request_block_len(void)
{
	__u64 n = MAX2(off_net_http_Request_Method, off_net_http_Request_Proto);
	n = MAX2(n, MAX2(off_net_http_Request_Host, off_net_http_Request_RemoteAddr)) + 16;
	n = MAX2(n, MAX2(off_net_http_Request_URL, off_net_http_Request_TLS) + 8);
	return MAX2(n, off_net_http_Request_pat + 8);
}

// func (sh serverHandler) ServeHTTP(rw ResponseWriter, req *Request)
//
// RAX = sh.srv, RBX/RCX = rw (itab, data), RDI = req.
SEC("uprobe/net_http_serverHandler_ServeHTTP")
int uprobe_net_http_serverHandler_ServeHTTP(struct pt_regs *ctx)
{
	__u64 resp = GO_ARG3(ctx), req = GO_ARG4(ctx), g = GO_G(ctx);
	__u32 zero = 0;
	struct server_request *r = bpf_map_lookup_elem(&server_scratch, &zero);
	if (!r || !req)
		return 0;
	r->headers.found = 0;
	r->headers.traceparent.len = r->headers.w3c.tracestate.len = r->headers.w3c.baggage.len = 0;
	r->headers.user_agent.len = 0;
	r->req = req;
	r->resp = resp;
	/* Header and ctx with one read. */
	struct block *rb = read_block(0, req, MAX2(off_net_http_Request_Header, off_net_http_Request_ctx + off_runtime_iface_data) + 8);
	if (!rb)
		return 0;
	r->ctx = block_u64(rb, off_net_http_Request_ctx + off_runtime_iface_data);
	__u64 header = block_u64(rb, off_net_http_Request_Header);
	r->span.goid = g_goid(g);

	__u32 want = HEADER_USER_AGENT;
	if (!tracecontext_off)
		want |= HEADER_TRACEPARENT | HEADER_TRACESTATE;
	if (!baggage_off)
		want |= HEADER_BAGGAGE;
	scan_headers(header, want, &r->headers);
	struct span_context remote = {};
	__u32 n = r->headers.traceparent.len;
	if ((r->headers.found & HEADER_TRACEPARENT) && n <= sizeof(r->headers.traceparent.s) &&
	    parse_traceparent(r->headers.traceparent.s, n, &remote)) {
		start_span(&r->span, &remote, 1);
	} else {
		/* A request without a valid traceparent starts a new trace. */
		r->headers.w3c.tracestate.len = 0;
		start_span(&r->span, NULL, 0);
	}
	/* Kept for the requests this one makes (format_trace_headers). */
	if (r->headers.w3c.tracestate.len || r->headers.w3c.baggage.len) {
		struct trace_headers_key tk = { .tgid = current_tgid() };
		__builtin_memcpy(tk.trace_id, r->span.sc.trace_id, 16);
		bpf_map_update_elem(&trace_headers, &tk, &r->headers.w3c, BPF_ANY);
	}

	struct gls_entry e = { .sc = r->span.sc, .origin_goid = r->span.goid };
	set_context(r->span.goid, &e);
	ctx_own(r->ctx, &e);
	struct gls_key k = { .tgid = current_tgid(), .goid = r->span.goid };
	bpf_map_update_elem(&server_requests, &k, r, BPF_ANY);
	return 0;
}

// func (sh serverHandler) ServeHTTP(rw ResponseWriter, req *Request), at each RET.
SEC("uprobe/net_http_serverHandler_ServeHTTP_ret")
int uprobe_net_http_serverHandler_ServeHTTP_ret(struct pt_regs *ctx)
{
	__u64 g = GO_G(ctx);
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(g) };
	struct server_request *r = bpf_map_lookup_elem(&server_requests, &k);
	if (!r)
		return 0;
	__u64 end = bpf_ktime_get_ns();

	/* The span has ended: nothing new may start under it, on this
	 * goroutine, on those it started, or through its request context. */
	span_ended(r->span.sc.span_id, NULL);
	clear_context(k.goid);
	ctx_disown(r->ctx);

	if (span_sampled(&r->span)) {
		struct server_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			/* Every field is set below; string bytes past len are not read. */
			e->kind = EVENT_KIND_HTTP_SERVER;
			e->_pad = 0;
			e->status = 0;
			e->path.len = e->query.len = e->route.len = 0;
			e->r = *r;
			e->r.span.end_ns = end;
			e->method.len = e->proto.len = e->host.len = e->remote_addr.len = 0;
			e->tls = 0;
			__u64 req = r->req;
			/* The request's fields with one read, its URL's with another. */
			struct block *rb = read_block(0, req, request_block_len());
			if (rb) {
				block_go_str(&e->method, rb, off_net_http_Request_Method);
				block_go_str(&e->proto, rb, off_net_http_Request_Proto);
				block_go_str(&e->host, rb, off_net_http_Request_Host);
				block_go_str(&e->remote_addr, rb, off_net_http_Request_RemoteAddr);
				e->tls = block_u64(rb, off_net_http_Request_TLS) != 0;
				struct block *ub = read_block(1, block_u64(rb, off_net_http_Request_URL),
							      MAX2(off_net_url_URL_Path, off_net_url_URL_RawQuery) + 16);
				if (ub) {
					block_go_str(&e->path, ub, off_net_url_URL_Path);
					block_go_str(&e->query, ub, off_net_url_URL_RawQuery);
				}
				if (off_net_http_Request_pat) {
					__u64 pat = block_u64(rb, off_net_http_Request_pat);
					if (pat)
						read_go_str(&e->route, pat + off_net_http_pattern_str);
				}
			}
			/* HTTP/1: rw is the *response serving req. Anything else
			 * (HTTP/2's writer) has no status we know how to read. */
			struct block *wb = read_block(1, r->resp, MAX2(off_net_http_response_req, off_net_http_response_status) + 8);
			if (wb && block_u64(wb, off_net_http_response_req) == req) {
				e->status = block_u64(wb, off_net_http_response_status);
				if (e->status == 0)
					e->status = 200; /* nothing written: finishRequest sends 200 */
			}
			bpf_ringbuf_submit(e, events_flags());
		} else {
			count_drop(EVENT_KIND_HTTP_SERVER);
		}
	}
	bpf_map_delete_elem(&server_requests, &k);
	return 0;
}
