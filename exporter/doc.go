// Package exporter turns finished spans into OTLP through the OpenTelemetry
// Go SDK. It never sees BPF types. (Spans arrive with the net/http probes.)
package exporter
