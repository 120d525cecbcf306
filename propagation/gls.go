// Package propagation owns trace-context propagation: goroutine-local
// storage (GLS) in BPF, the goroutine-creation probe that fills it, and the
// C header (bpf/include/glsotel/gls.h) every probe includes for
// current_context(), set_context() and span_ended().
package propagation

import (
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/offsets"
)

// Fields are the runtime offsets gls.h reads; every probe that includes
// gls.h declares them.
var Fields = []offsets.Field{"runtime.g.goid", "runtime.g.parentGoid"}

// SharedMaps are the GLS maps: one instance serves every loaded object.
var SharedMaps = []string{"gls_contexts", "gls_ended", "ctx_owners", "trace_headers"}

// GoroutineProbe copies a goroutine's context into each goroutine it
// creates: one uprobe on the RETs of runtime.newproc1, one hit per `go`
// statement. Without it there is no GLS, so it is essential.
func GoroutineProbe() *probe.Probe {
	return &probe.Probe{
		Name:    "runtime/goroutines",
		Spec:    loadGls,
		Hooks:   []probe.Hook{{Symbol: "runtime.newproc1", Return: "uprobe_runtime_newproc1_ret"}},
		Fields:  Fields,
		Failure: probe.FailError,
	}
}

// ContextFields are the offsets bpf/include/glsotel/context.h reads to walk a
// context.Context's parent chain; every probe that includes it declares them.
var ContextFields = []offsets.Field{"context.cancelCtx.Context", "runtime.iface.tab", "runtime.iface.data"}
