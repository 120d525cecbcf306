//go:build ignore

// net/http client: one CLIENT span per request, at Transport.roundTrip.
// Two uprobe hits per request: its entry and its return.
//
// Parent: the live span that owns the request's context (or its nearest
// owned ancestor), else the goroutine's GLS context, else a new trace.
#include "glsotel/span.h"
#include "glsotel/context.h"

volatile const __u64 off_net_http_Request_Method;
volatile const __u64 off_net_http_Request_URL;
volatile const __u64 off_net_http_Request_ctx;
volatile const __u64 off_net_http_Response_StatusCode;
volatile const __u64 off_net_url_URL_Scheme;
volatile const __u64 off_net_url_URL_Host;
volatile const __u64 off_net_url_URL_Path;
volatile const __u64 off_net_url_URL_RawQuery;

/* What the entry probe keeps until the return. */
struct client_request {
	struct span_base span;
	__u64 req;
};

struct client_event {
	enum event_kind kind;
	__u32 _pad;
	struct client_request r;
	__u64 status;    /* 0: no response */
	__u64 err_itab;  /* the returned error's itab (0: no error) */
	struct go_str16 method;
	struct go_str16 scheme;
	struct go_str128 host;
	struct go_str128 path;
	struct go_str128 query;
};
const struct client_event *unused_client_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a handler that panics never returns: its record ages out */
	__uint(max_entries, GLS_MAX_GOROUTINES);
	__type(key, struct gls_key);
	__type(value, struct client_request);
} client_requests SEC(".maps");

/* client_parent picks the parent by the rule in the README: request
 * context owner, then GLS, then none. */
static __always_inline int client_parent(__u64 g, __u64 req, struct gls_entry *out)
{
	__u64 ctx = read_ptr(req + off_net_http_Request_ctx + off_runtime_iface_data);
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
	if (!req)
		return 0;
	struct client_request r = { .req = req, .span.goid = g_goid(g) };
	struct gls_entry parent;
	if (client_parent(g, req, &parent))
		start_span(&r.span, &parent.sc, 0);
	else
		start_span(&r.span, NULL, 0);
	/* Hook for injection (next step): the outgoing traceparent is r.span.sc. */
	struct gls_key k = { .tgid = current_tgid(), .goid = r.span.goid };
	bpf_map_update_elem(&client_requests, &k, &r, BPF_ANY);
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
			if (resp && !err_itab)
				e->status = read_ptr(resp + off_net_http_Response_StatusCode);
			__u64 req = r->req;
			read_go_str(&e->method, req + off_net_http_Request_Method);
			e->scheme.len = e->host.len = e->path.len = e->query.len = 0;
			__u64 url = read_ptr(req + off_net_http_Request_URL);
			if (url) {
				read_go_str(&e->scheme, url + off_net_url_URL_Scheme);
				read_go_str(&e->host, url + off_net_url_URL_Host);
				read_go_str(&e->path, url + off_net_url_URL_Path);
				read_go_str(&e->query, url + off_net_url_URL_RawQuery);
			}
			bpf_ringbuf_submit(e, 0);
		}
	}
	bpf_map_delete_elem(&client_requests, &k);
	return 0;
}
