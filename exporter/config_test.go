package exporter

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Exporter: "otlp", Protocol: "http/protobuf", Endpoint: "http://localhost:4318/v1/traces", Insecure: true,
		Compression: "none", Timeout: 10 * time.Second, Sampler: "parentbased_always_on", SamplerArg: 1,
		Propagators:        []string{"tracecontext", "baggage"},
		BatchScheduleDelay: 5 * time.Second, BatchExportTimeout: 30 * time.Second,
		BatchMaxQueueSize: 2048, BatchMaxExportSize: 512,
		ResourceAttributes: map[string]string{}, Headers: map[string]string{},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(Config) bool
	}{
		{"grpc default endpoint", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			func(c Config) bool { return c.Protocol == "grpc" && c.Endpoint == "http://localhost:4317" }},
		{"generic endpoint gets /v1/traces for http", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318/base/"},
			func(c Config) bool { return c.Endpoint == "https://collector:4318/base/v1/traces" && !c.Insecure }},
		{"traces endpoint is used as is", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:1234/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:1"},
			func(c Config) bool { return c.Endpoint == "https://c:1234/custom" }},
		{"grpc endpoint has no path added", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"},
			func(c Config) bool { return c.Endpoint == "https://c:4317" }},
		{"insecure flag", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317", "OTEL_EXPORTER_OTLP_INSECURE": "true"},
			func(c Config) bool { return c.Insecure }},
		{"traces-specific wins", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "100", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "250"},
			func(c Config) bool { return c.Timeout == 250*time.Millisecond }},
		{"headers, percent-decoded", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "api-key=a%20b, x=1"},
			func(c Config) bool { return c.Headers["api-key"] == "a b" && c.Headers["x"] == "1" }},
		{"resource attributes", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=core", "OTEL_SERVICE_NAME": "svc"},
			func(c Config) bool { return c.ResourceAttributes["team"] == "core" && c.ServiceName == "svc" }},
		{"ratio sampler", map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"},
			func(c Config) bool { return c.Sampler == "parentbased_traceidratio" && c.SamplerArg == 0.25 }},
		{"sampler arg ignored for always_on", map[string]string{"OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "junk"},
			func(c Config) bool { return c.Sampler == "always_on" }},
		{"propagators none", map[string]string{"OTEL_PROPAGATORS": "none"},
			func(c Config) bool { return len(c.Propagators) == 0 }},
		{"disabled, case-insensitive", map[string]string{"OTEL_SDK_DISABLED": "TRUE"},
			func(c Config) bool { return c.Disabled }},
		{"console exporter", map[string]string{"OTEL_TRACES_EXPORTER": "console"},
			func(c Config) bool { return c.Exporter == "console" }},
	} {
		c, err := ConfigFromEnv(env(tc.env))
		if err != nil || !tc.check(c) {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
	}
}

// Every invalid value names its variable.
func TestConfigErrors(t *testing.T) {
	for name, v := range map[string]string{
		"OTEL_SDK_DISABLED":                 "yes",
		"OTEL_TRACES_EXPORTER":              "zipkin",
		"OTEL_EXPORTER_OTLP_PROTOCOL":       "http/json",
		"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-5",
		"OTEL_EXPORTER_OTLP_COMPRESSION":    "brotli",
		"OTEL_EXPORTER_OTLP_ENDPOINT":       "collector:4317",
		"OTEL_EXPORTER_OTLP_HEADERS":        "novalue",
		"OTEL_EXPORTER_OTLP_INSECURE":       "maybe",
		"OTEL_RESOURCE_ATTRIBUTES":          "a=%zz",
		"OTEL_TRACES_SAMPLER":               "sometimes",
		"OTEL_PROPAGATORS":                  "tracecontext,b3",
		"OTEL_BSP_SCHEDULE_DELAY":           "soon",
		"OTEL_BSP_MAX_QUEUE_SIZE":           "0",
		"OTEL_BSP_MAX_EXPORT_BATCH_SIZE":    "4096",
	} {
		_, err := ConfigFromEnv(env(map[string]string{name: v}))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Var != name {
			t.Errorf("%s=%s: %v", name, v, err)
		}
	}
	_, err := ConfigFromEnv(env(map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Var != "OTEL_TRACES_SAMPLER_ARG" {
		t.Errorf("sampler arg 1.5: %v", err)
	}
}
