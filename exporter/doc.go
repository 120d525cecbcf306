// Package exporter turns finished spans into OTLP through the OpenTelemetry
// Go SDK, configured by the standard OTEL_* variables (ConfigFromEnv). It
// never sees BPF types.
package exporter
