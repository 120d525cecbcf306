//go:build ignore

// github.com/gorilla/mux: the path template of the route that matched,
// for the request's server span (route.h). One hit per request.
#include "glsotel/route.h"

/* route.regexp.path.template: a subrouter's routes carry their whole
 * template (prefixes included). */
volatile const __u64 off_github_com_gorilla_mux_Route_routeConf;
volatile const __u64 off_github_com_gorilla_mux_routeConf_regexp;
volatile const __u64 off_github_com_gorilla_mux_routeRegexpGroup_path;
volatile const __u64 off_github_com_gorilla_mux_routeRegexp_template;

// func requestWithRoute(r *http.Request, route *Route) *http.Request
//
// RBX = the route Router.ServeHTTP matched, just before it calls the
// handler.
SEC("uprobe/github_com_gorilla_mux_requestWithRoute")
int uprobe_gorilla_mux_requestWithRoute(struct pt_regs *ctx)
{
	__u64 route = GO_ARG2(ctx), g = GO_G(ctx);
	if (!route)
		return 0;
	struct server_route *rt = current_route(g);
	if (!rt)
		return 0;
	__u64 path = read_ptr(route + off_github_com_gorilla_mux_Route_routeConf + off_github_com_gorilla_mux_routeConf_regexp +
			      off_github_com_gorilla_mux_routeRegexpGroup_path);
	struct go_hdr t = {};
	if (path)
		bpf_probe_read_user(&t, sizeof(t), (void *)(path + off_github_com_gorilla_mux_routeRegexp_template));
	route_put(rt, ROUTE_SOURCE_GORILLA, t.ptr, t.len); /* none: a route matched by method or host alone */
	return 0;
}
