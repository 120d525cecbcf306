//go:build ignore

// github.com/go-chi/chi/v5: the route pattern chi matched, for the
// request's server span (route.h). One hit per chi router a request
// passes (and per call the program makes itself).
#include "glsotel/route.h"

// func (x *Context) RoutePattern() string, at each RET.
//
// RAX/RBX = the pattern, mounts composed (chi's routeHTTP calls it once it
// found the handler, from v5.3.0). A later call replaces an earlier one:
// the innermost router's comes last.
SEC("uprobe/github_com_go_chi_chi_v5_Context_RoutePattern_ret")
int uprobe_chi_Context_RoutePattern_ret(struct pt_regs *ctx)
{
	__u64 ptr = GO_REG(ctx, ax), len = GO_REG(ctx, bx), g = GO_G(ctx);
	struct server_route *rt = current_route(g);
	if (rt)
		route_put(rt, ROUTE_SOURCE_CHI, ptr, len);
	return 0;
}
