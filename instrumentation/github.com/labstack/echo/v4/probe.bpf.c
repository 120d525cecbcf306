//go:build ignore

// github.com/labstack/echo/v4: the path of the route echo's router
// matched, for the request's server span (route.h). Two hits per request:
// Router.Find's entry (the context it fills) and its return (the path it
// set there).
#include "glsotel/route.h"

volatile const __u64 off_github_com_labstack_echo_v4_context_path;

// func (r *Router) Find(method, path string, c Context)
//
// RAX = r, RBX/RCX = method, RDI/RSI = path, R8/R9 = c (itab, data).
SEC("uprobe/github_com_labstack_echo_v4_Router_Find")
int uprobe_echo_Router_Find(struct pt_regs *ctx)
{
	__u64 c = GO_REG(ctx, r9), g = GO_G(ctx);
	struct server_route *rt = current_route(g);
	if (rt)
		rt->pending = c;
	return 0;
}

// func (r *Router) Find(method, path string, c Context), at each RET.
SEC("uprobe/github_com_labstack_echo_v4_Router_Find_ret")
int uprobe_echo_Router_Find_ret(struct pt_regs *ctx)
{
	__u64 g = GO_G(ctx);
	struct server_route *rt = current_route(g);
	if (!rt || !rt->pending)
		return 0;
	struct go_hdr p = {};
	bpf_probe_read_user(&p, sizeof(p), (void *)(rt->pending + off_github_com_labstack_echo_v4_context_path));
	rt->pending = 0;
	route_put(rt, ROUTE_SOURCE_ECHO, p.ptr, p.len);
	return 0;
}
