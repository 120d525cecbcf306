// Package probe declares instrumentation probes and is the one place that
// loads, attaches and reads them. A probe is data: the symbols it hooks, its
// entry and return programs, the struct offsets it needs, the Go releases it
// supports and what to do when a target lacks it. Adding a library means
// declaring one more Probe; nothing here changes.
package probe

import (
	"fmt"
	"io"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/glsotel/glsotel/offsets"
)

// FailureMode says what happens when a probe cannot be used on a target
// (a symbol is missing or the Go release is outside its range).
type FailureMode int

const (
	// FailError refuses the target: the probe is essential.
	FailError FailureMode = iota
	// FailWarn logs one line and carries on without the probe.
	FailWarn
	// FailSkip carries on silently: the probe is optional by nature.
	FailSkip
)

// Hook is one hooked function.
type Hook struct {
	// Symbol is the Go symbol, e.g. "net/http.serverHandler.ServeHTTP".
	Symbol string
	// Entry names the program attached just past the stack-check prologue
	// ("" for none).
	Entry string
	// Return names the program attached at every RET instruction ("" for
	// none). Never a uretprobe: those crash Go programs whose stack moves.
	Return string
	// Optional hooks may be missing from a target (the linker drops
	// methods a program never calls); the others must be there.
	Optional bool
}

// Probe is the declaration of one instrumentation probe.
type Probe struct {
	// Name identifies the probe in logs and errors (usually the import path
	// of the instrumented library).
	Name string
	// Spec returns the compiled BPF collection (bpf2go's loadXxx).
	Spec func() (*ebpf.CollectionSpec, error)
	// Hooks are the functions the probe attaches to.
	Hooks []Hook
	// Fields are the struct offsets the programs need. Each arrives as the
	// volatile const named by ConstName(field).
	Fields []offsets.Field
	// Optional fields exist only in some releases; a missing one arrives
	// as 0, which the program must check.
	Optional []offsets.Field
	// ReadFields are offsets Handle reads from the target's memory itself
	// (Target.Mem, through Target.Bin.Fields); like Fields, they are in
	// the offsets table for stripped binaries.
	ReadFields []offsets.Field
	// Consts returns further volatile consts that depend on the binary
	// (e.g. a map layout), by name. May be nil.
	Consts func(*offsets.Binary) map[string]any
	// Shared names maps this probe shares with other probes of its session
	// (one instance, made by the first object that has it), beside the
	// session-wide Options.SharedMaps.
	Shared []string
	// MinGo is the oldest Go release the probe supports (zero: offsets.MinGo).
	MinGo offsets.Version
	// Failure says what to do when the probe cannot be used on a target.
	Failure FailureMode
	// Kinds lists the event kinds this probe puts on the ring buffer, and
	// Handle receives each such event with the target it came from. Handle
	// runs on the agent's single reader goroutine; raw is only valid during
	// the call.
	Kinds  []uint32
	Handle func(t *Target, raw []byte)
}

// Target is what converters may need to know of the instrumented process.
type Target struct {
	Bin   *offsets.Binary
	Clock Clock
	// Mem reads the process's memory (/proc/PID/mem); nil when it could
	// not be opened. Reads may fail at any time: the process is live.
	Mem io.ReaderAt
	// Bias is what the process adds to Bin's addresses (0 unless Bin is
	// PIE). Events carry the process's addresses: name them with ItabType
	// and TypeName, not Bin's.
	Bias uint64
}

// ItabType is Bin.ItabType of an itab at a run-time address.
func (t *Target) ItabType(addr uint64) (string, bool) { return t.Bin.ItabType(addr - t.Bias) }

// TypeName is Bin.TypeName of a type descriptor at a run-time address.
func (t *Target) TypeName(addr uint64) (string, error) { return t.Bin.TypeName(addr - t.Bias) }

// ConstName is the volatile const that carries a field's offset into C:
// "runtime.g.goid" -> "off_runtime_g_goid", "net/http.Request.Method" ->
// "off_net_http_Request_Method".
func ConstName(f offsets.Field) string {
	b := []byte("off_" + string(f))
	for i := 4; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Check validates a declaration against its BPF object: every program it
// names exists, every off_* const is declared in Fields and every counter
// of its enum probe_counter has CounterHelp. Tests run it
// over the whole registry.
func Check(p *Probe) error {
	spec, err := p.Spec()
	if err != nil {
		return fmt.Errorf("probe %s: load spec: %w", p.Name, err)
	}
	for _, h := range p.Hooks {
		for _, prog := range []string{h.Entry, h.Return} {
			if _, ok := spec.Programs[prog]; prog != "" && !ok {
				return fmt.Errorf("probe %s: program %s (hook %s) not in BPF object", p.Name, prog, h.Symbol)
			}
		}
	}
	offs := map[offsets.Field]uint64{}
	for _, f := range append(p.Fields, p.Optional...) {
		offs[f] = 0
	}
	if err := injectOffsets(spec, p, offs); err != nil {
		return fmt.Errorf("probe %s: %w", p.Name, err)
	}
	if len(p.Kinds) > 0 && p.Handle == nil {
		return fmt.Errorf("probe %s: emits events but has no Handle", p.Name)
	}
	names, err := CounterNames(spec)
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.Name, err)
	}
	for _, n := range names {
		if CounterHelp[n] == "" {
			return fmt.Errorf("probe %s: counter %s has no CounterHelp", p.Name, n)
		}
	}
	return nil
}

// View returns the event in raw as a *T without copying or decoding, or
// nil when raw is too short. T must be the bpf2go type (-type) generated
// from the C struct the program submits: same layout (structs.HostLayout),
// host byte order, no Go pointers. Ring buffer samples are 8-byte aligned.
// The result aliases raw: it is valid while raw is (in Handle, during the
// call).
func View[T any](raw []byte) *T {
	var zero T
	if len(raw) < int(unsafe.Sizeof(zero)) {
		return nil
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(raw)))
}
