package propagation

import (
	"fmt"
	"slices"
	"strings"
)

// Sampler is the sampling decision bpf/include/glsotel/span.h makes when a
// span starts, so children inherit it through GLS and user space only
// drops unsampled spans: OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
type Sampler struct {
	// Base decides for spans without a parent: always_on, always_off or
	// traceidratio.
	Base string
	// ParentBased: a span with a parent (local or remote) follows the
	// parent's sampled flag.
	ParentBased bool
	// Ratio is traceidratio's fraction, in [0, 1].
	Ratio float64
}

// ParseSampler reads an OTEL_TRACES_SAMPLER value (its argument already
// parsed).
func ParseSampler(name string, ratio float64) (Sampler, error) {
	base, pb := strings.CutPrefix(name, "parentbased_")
	switch base {
	case "always_on", "always_off", "traceidratio":
		return Sampler{Base: base, ParentBased: pb, Ratio: ratio}, nil
	}
	return Sampler{}, fmt.Errorf("unknown sampler %q", name)
}

// Sampler kinds as span.h numbers them.
const (
	samplerAlwaysOn     = 0
	samplerAlwaysOff    = 1
	samplerTraceIDRatio = 2
)

// Consts are the sampler_* consts of span.h.
func (s Sampler) Consts() map[string]any {
	kind := uint32(samplerAlwaysOn)
	switch s.Base {
	case "always_off":
		kind = samplerAlwaysOff
	case "traceidratio":
		kind = samplerTraceIDRatio
	}
	pb := uint32(0)
	if s.ParentBased {
		pb = 1
	}
	return map[string]any{"sampler_kind": kind, "sampler_parentbased": pb, "sampler_ratio_bound": RatioBound(s.Ratio)}
}

// RatioBound is the bound the OpenTelemetry Go SDK's TraceIDRatioBased
// compares (trace id bytes 8..16, big endian, >> 1) against.
func RatioBound(fraction float64) uint64 {
	switch {
	case fraction >= 1:
		return 1 << 63
	case fraction <= 0:
		return 0
	}
	return uint64(fraction * (1 << 63))
}

// PropagatorConsts are the consts traceparent.h reads for OTEL_PROPAGATORS:
// without tracecontext, incoming traceparent and tracestate are ignored and
// none is injected; without baggage, baggage is not passed on.
func PropagatorConsts(propagators []string) map[string]any {
	off := func(name string) uint32 {
		if slices.Contains(propagators, name) {
			return 0
		}
		return 1
	}
	return map[string]any{"tracecontext_off": off("tracecontext"), "baggage_off": off("baggage")}
}
