//go:build ignore

// github.com/gin-gonic/gin: the full path of the route gin matched, for
// the request's server span (route.h). One hit per request.
#include "glsotel/route.h"

// func (n *node) getValue(path string, params *Params, skippedNodes *[]skippedNode, unescape bool) (value nodeValue), at each RET.
//
// nodeValue{handlers HandlersChain, params *Params, tsr bool, fullPath
// string} comes back in registers: handlers RAX/RBX/RCX, params RDI, tsr
// RSI, fullPath R8/R9 (the same layout from gin v1.7 to v1.12). No
// handlers: no route (gin answers 404 or redirects).
SEC("uprobe/github_com_gin_gonic_gin_node_getValue_ret")
int uprobe_gin_node_getValue_ret(struct pt_regs *ctx)
{
	__u64 handlers = GO_REG(ctx, ax), ptr = GO_REG(ctx, r8), len = GO_REG(ctx, r9), g = GO_G(ctx);
	if (!handlers)
		return 0;
	struct server_route *rt = current_route(g);
	if (rt)
		route_put(rt, ROUTE_SOURCE_GIN, ptr, len);
	return 0;
}
