/* http.route: the route template that chose a request's handler, told by
 * the routers themselves (net/http.ServeMux, chi, gorilla/mux, gin, echo)
 * when they choose. The request an application's router sees is often a
 * copy (middleware's r.WithContext, http.StripPrefix, the routers' own
 * contexts), so the server probe cannot read the route off the request it
 * started with. Each router probe records its template for the live server
 * request of the goroutine it runs on (or of the one that started it); the
 * server probe reports the chain at the request's end. */
#pragma once
#include "span.h"
#include "http_header.h"

/* What the server probe's entry keeps until the request ends. Here, not in
 * the server probe, because the router probes look requests up too. */
struct server_request {
	struct span_base span;
	__u64 req, resp, ctx;
	__u64 depth; /* g.stack.hi - SP in ServeHTTP: unchanged when the stack moves */
	__u8 routed; /* a router recorded a route (server_routes) */
	__u8 _pad[7];
	struct header_values headers;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a handler that never returns: its record ages out */
	__uint(max_entries, GLS_MAX_GOROUTINES);
	__type(key, struct gls_key);
	__type(value, struct server_request);
} server_requests SEC(".maps");

/* Who recorded a route entry: its template syntax, and whether entries
 * compose (nested ServeMuxes each add one; a router's later call replaces
 * its own earlier one: chi composes its mounts itself). */
enum route_source {
	ROUTE_SOURCE_SERVEMUX = 1,
	ROUTE_SOURCE_CHI = 2,
	ROUTE_SOURCE_GORILLA = 3,
	ROUTE_SOURCE_GIN = 4,
	ROUTE_SOURCE_ECHO = 5,
};
const enum route_source *unused_route_source __attribute__((unused));

/* Routers nested on one request, outermost first (a ServeMux subtree
 * mounting another mux or a router). Deeper is reported as unknown. */
#define ROUTE_CHAIN 3

struct route_entry {
	__u8 source;    /* enum route_source */
	__u8 truncated; /* longer than pattern.s: not reported */
	__u8 _pad[2];
	struct go_str128 pattern; /* empty: this router found no route */
};

struct server_route {
	__u8 span_id[8]; /* the request these entries belong to */
	__u8 n;          /* entries used */
	__u8 overflow;   /* more than ROUTE_CHAIN routers: none reported */
	__u8 _pad[6];
	__u64 pending; /* echo: the context Router.Find fills, from its entry to its return */
	struct route_entry e[ROUTE_CHAIN];
};

/* Few requests are in flight at once, beside the goroutines GLS tracks. An
 * entry evicted before its request ends is counted (route_lost). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct gls_key);
	__type(value, struct server_route);
} server_routes SEC(".maps");

/* A zero server_route to insert from (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct server_route);
} server_route_zero SEC(".maps");

/* current_route returns the route record of the live server request that
 * the goroutine g is running (its own, or that of the goroutine whose
 * context it inherited), or NULL when there is none. */
static __always_inline struct server_route *current_route(__u64 g)
{
	struct gls_key k = { .tgid = current_tgid(), .goid = g_goid(g) };
	struct server_request *r = bpf_map_lookup_elem(&server_requests, &k);
	if (!r) {
		/* A goroutine the handler started (http.TimeoutHandler runs it
		 * on one): its context names the request's, still live. */
		struct gls_entry *e = bpf_map_lookup_elem(&gls_contexts, &k);
		if (!e)
			return NULL;
		k.goid = e->origin_goid;
		r = bpf_map_lookup_elem(&server_requests, &k);
		if (!r || span_id_u64(r->span.sc.span_id) != span_id_u64(e->sc.span_id))
			return NULL;
	}
	struct server_route *rt = bpf_map_lookup_elem(&server_routes, &k);
	if (!rt) {
		__u32 zero = 0;
		struct server_route *z = bpf_map_lookup_elem(&server_route_zero, &zero);
		if (!z)
			return NULL;
		bpf_map_update_elem(&server_routes, &k, z, BPF_ANY);
		rt = bpf_map_lookup_elem(&server_routes, &k);
		if (!rt)
			return NULL;
	}
	/* Left by an earlier request of this goroutine (one whose end was
	 * never seen): start over. */
	if (span_id_u64(rt->span_id) != span_id_u64(r->span.sc.span_id)) {
		__builtin_memcpy(rt->span_id, r->span.sc.span_id, 8);
		rt->n = rt->overflow = 0;
		rt->pending = 0;
	}
	r->routed = 1;
	return rt;
}

/* route_put records the Go string (ptr, len) as source's route. A router
 * that already holds the last entry replaces it; a ServeMux adds one. */
static __always_inline void route_put(struct server_route *rt, __u8 source, __u64 ptr, __u64 len)
{
	__u32 i = rt->n;
	if (i > 0 && source != ROUTE_SOURCE_SERVEMUX) {
		/* Checked as its own register: the verifier keeps no bound
		 * for i - 1 from one on i. */
		__u32 last = i - 1;
		asm volatile("" : "+r"(last));
		if (last < ROUTE_CHAIN && rt->e[last].source == source)
			i = last;
	}
	asm volatile("" : "+r"(i));
	if (i >= ROUTE_CHAIN) {
		rt->overflow = 1;
		return;
	}
	struct route_entry *e = &rt->e[i];
	e->source = source;
	e->truncated = len > sizeof(e->pattern.s);
	e->pattern.len = go_str_bytes(e->pattern.s, sizeof(e->pattern.s), ptr, len);
	rt->n = i + 1;
}
