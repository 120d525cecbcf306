//go:build ignore

// net/http server: one SERVER span per request, started in the handler
// goroutine's GLS slot. Two uprobe hits per request: the entry and the
// return of serverHandler.ServeHTTP.
#include "glsotel/span.h"
#include "glsotel/context.h"
#include "glsotel/traceparent.h"
#include "glsotel/http_header.h"
#include "glsotel/route.h"

volatile const __u64 off_net_http_Request_Method;
volatile const __u64 off_net_http_Request_URL;
volatile const __u64 off_net_http_Request_Proto;
volatile const __u64 off_net_http_Request_Header;
volatile const __u64 off_net_http_Request_Host;
volatile const __u64 off_net_http_Request_RemoteAddr;
volatile const __u64 off_net_http_Request_TLS;
volatile const __u64 off_net_http_Request_ctx;
volatile const __u64 off_net_url_URL_Path;
volatile const __u64 off_net_url_URL_RawQuery;
volatile const __u64 off_net_http_response_req;
volatile const __u64 off_net_http_response_status;
volatile const __u64 off_runtime_g__panic;
volatile const __u64 off_runtime_g_stack;
volatile const __u64 off_runtime_stack_hi;
volatile const __u64 off_runtime__panic_arg;
volatile const __u64 off_runtime__panic_sp;
volatile const __u64 off_runtime_eface__type;
/* recovery(gp) finds the panic it recovers at gp._panic (Go 1.22 on; 1.21
 * unlinks it first). */
volatile const __u8 panic_at_recovery;

struct server_event {
	enum event_kind kind;
	__u32 _pad;
	struct server_request r;
	__u64 status; /* 0: unknown (HTTP/2, hijacked), or nothing written before a panic */
	__u64 panic_type; /* the panic value's type descriptor, when panicked */
	__u8 tls;
	__u8 panicked; /* the handler panicked and net/http recovered */
	__u8 _pad2[6];
	struct go_str16 method;
	struct go_str16 proto;
	struct go_str128 path;
	struct go_str128 query;
	struct go_str128 host;
	struct go_str64 remote_addr;
	struct server_route route; /* route.n == 0: no router told */
};
const struct server_event *unused_server_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));

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
	return MAX2(n, MAX2(off_net_http_Request_URL, off_net_http_Request_TLS) + 8);
}

// func (sh serverHandler) ServeHTTP(rw ResponseWriter, req *Request)
//
// RAX = sh.srv, RBX/RCX = rw (itab, data), RDI = req.
SEC("uprobe/net_http_serverHandler_ServeHTTP")
int uprobe_net_http_serverHandler_ServeHTTP(struct pt_regs *ctx)
{
	__u64 resp = GO_ARG3(ctx), req = GO_ARG4(ctx), g = GO_G(ctx), sp = GO_REG(ctx, sp);
	__u32 zero = 0;
	struct server_request *r = bpf_map_lookup_elem(&server_scratch, &zero);
	if (!r || !req)
		return 0;
	r->headers.found = 0;
	r->headers.traceparent.len = r->headers.w3c.tracestate.len = r->headers.w3c.baggage.len = 0;
	r->headers.user_agent.len = 0;
	r->req = req;
	r->resp = resp;
	r->routed = 0;
	/* Header and ctx with one read. */
	struct block *rb = read_block(0, req, MAX2(off_net_http_Request_Header, off_net_http_Request_ctx + off_runtime_iface_data) + 8);
	if (!rb)
		return 0;
	r->ctx = block_u64(rb, off_net_http_Request_ctx + off_runtime_iface_data);
	__u64 header = block_u64(rb, off_net_http_Request_Header);
	r->span.goid = g_goid(g);
	__u64 hi = 0;
	bpf_probe_read_user(&hi, sizeof(hi), (void *)(g + off_runtime_g_stack + off_runtime_stack_hi));
	r->depth = hi > sp ? hi - sp : 0; /* 0: no recovery ends it */

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

/* end_request ends r's span (goroutine k), reports it and forgets it. */
static __always_inline void end_request(struct server_request *r, struct gls_key *k, __u64 panic_type, __u8 panicked)
{
	__u64 end = bpf_ktime_get_ns();

	/* The span has ended: nothing new may start under it, on this
	 * goroutine, on those it started, or through its request context. */
	span_ended(r->span.sc.span_id, NULL);
	clear_context(k->goid);
	ctx_disown(r->ctx);

	if (span_sampled(&r->span)) {
		struct server_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			/* Every field is set below; string bytes past len are not read. */
			e->kind = EVENT_KIND_HTTP_SERVER;
			e->_pad = 0;
			e->status = 0;
			e->panic_type = panic_type;
			e->panicked = panicked;
			e->path.len = e->query.len = 0;
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
			}
			/* HTTP/1: rw is the *response serving req. Anything else
			 * (HTTP/2's writer) has no status we know how to read. */
			struct block *wb = read_block(1, r->resp, MAX2(off_net_http_response_req, off_net_http_response_status) + 8);
			if (wb && block_u64(wb, off_net_http_response_req) == req) {
				e->status = block_u64(wb, off_net_http_response_status);
				if (e->status == 0 && !panicked)
					e->status = 200; /* nothing written: finishRequest sends 200 */
			}
			e->route.n = 0;
			if (r->routed) {
				struct server_route *rt = bpf_map_lookup_elem(&server_routes, k);
				if (rt && span_id_u64(rt->span_id) == span_id_u64(r->span.sc.span_id))
					e->route = *rt;
				else
					count(COUNTER_ROUTE_LOST);
			}
			bpf_ringbuf_submit(e, events_flags());
		} else {
			count_drop(EVENT_KIND_HTTP_SERVER);
		}
	}
	if (r->routed)
		bpf_map_delete_elem(&server_routes, k);
	bpf_map_delete_elem(&server_requests, k);
}

// func (sh serverHandler) ServeHTTP(rw ResponseWriter, req *Request), at each RET.
SEC("uprobe/net_http_serverHandler_ServeHTTP_ret")
int uprobe_net_http_serverHandler_ServeHTTP_ret(struct pt_regs *ctx)
{
	__u64 g = GO_G(ctx);
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(g) };
	struct server_request *r = bpf_map_lookup_elem(&server_requests, &k);
	if (r)
		end_request(r, &k, 0, 0);
	return 0;
}

// func recovery(gp *g)
//
// A panic in gp is being recovered; runs on the system stack (R14 = g0),
// RAX = gp. A handler that panics never returns from ServeHTTP: when the
// recovering frame is above ServeHTTP's (net/http's own recover, in
// conn.serve or the HTTP/2 handler goroutine), the request ended here. A
// recover below it (middleware) lets the handler go on: nothing is done.
// One hit per recovered panic, none per request.
SEC("uprobe/runtime_recovery")
int uprobe_runtime_recovery(struct pt_regs *ctx)
{
	__u64 gp = GO_ARG1(ctx);
	if (!panic_at_recovery || !gp)
		return 0;
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(gp) };
	struct server_request *r = bpf_map_lookup_elem(&server_requests, &k);
	if (!r)
		return 0;
	__u64 p = 0, sp = 0, hi = 0, type = 0;
	if (bpf_probe_read_user(&p, sizeof(p), (void *)(gp + off_runtime_g__panic)) || !p ||
	    bpf_probe_read_user(&sp, sizeof(sp), (void *)(p + off_runtime__panic_sp)) ||
	    bpf_probe_read_user(&hi, sizeof(hi), (void *)(gp + off_runtime_g_stack + off_runtime_stack_hi)))
		return 0;
	if (hi < sp || hi - sp >= r->depth)
		return 0;
	bpf_probe_read_user(&type, sizeof(type), (void *)(p + off_runtime__panic_arg + off_runtime_eface__type));
	end_request(r, &k, type, 1);
	return 0;
}

// func (mux *ServeMux) findHandler(r *Request) (h Handler, patStr string, _ *pattern, matches []string), at each RET.
//
// RCX/RDI = patStr, RSI = the pattern (nil: not found, or a redirect).
// Each mux a request passes through adds its pattern: an outer mux's
// subtree mounts the next one, the innermost chose the handler. One hit
// per mux (Go >= 1.22; 1.21's mux has no patterns).
SEC("uprobe/net_http_ServeMux_findHandler_ret")
int uprobe_net_http_ServeMux_findHandler_ret(struct pt_regs *ctx)
{
	__u64 ptr = GO_REG(ctx, cx), len = GO_REG(ctx, di), pat = GO_REG(ctx, si), g = GO_G(ctx);
	struct server_route *rt = current_route(g);
	if (!rt)
		return 0;
	if (!pat)
		len = 0;
	route_put(rt, ROUTE_SOURCE_SERVEMUX, ptr, len);
	return 0;
}
