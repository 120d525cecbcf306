// Package exporter turns finished spans into OTLP, batched and encoded
// here and sent by the OpenTelemetry Go SDK's OTLP clients, configured by
// the standard OTEL_* variables (ConfigFromEnv). It never sees BPF types.
package exporter
