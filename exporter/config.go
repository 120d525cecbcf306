package exporter

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the exporter's configuration, from the OpenTelemetry SDK
// environment variables (defaults as the specification gives them).
type Config struct {
	Disabled bool // OTEL_SDK_DISABLED

	ServiceName        string            // OTEL_SERVICE_NAME ("" = target executable's name)
	ResourceAttributes map[string]string // OTEL_RESOURCE_ATTRIBUTES

	Exporter    string            // OTEL_TRACES_EXPORTER: otlp, console, none
	Protocol    string            // OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: grpc, http/protobuf
	Endpoint    string            // full URL; for http/protobuf it includes /v1/traces
	Headers     map[string]string // OTEL_EXPORTER_OTLP_[TRACES_]HEADERS
	Timeout     time.Duration     // OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT (ms)
	Insecure    bool              // OTEL_EXPORTER_OTLP_[TRACES_]INSECURE, or an http:// endpoint
	Compression string            // OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION: gzip, none

	Sampler    string  // OTEL_TRACES_SAMPLER
	SamplerArg float64 // OTEL_TRACES_SAMPLER_ARG (ratio for *traceidratio)

	Propagators []string // OTEL_PROPAGATORS: tracecontext, baggage, none

	BatchScheduleDelay time.Duration // OTEL_BSP_SCHEDULE_DELAY (ms)
	BatchExportTimeout time.Duration // OTEL_BSP_EXPORT_TIMEOUT (ms)
	BatchMaxQueueSize  int           // OTEL_BSP_MAX_QUEUE_SIZE
	BatchMaxExportSize int           // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
}

// ConfigError is an invalid environment variable.
type ConfigError struct {
	Var, Value, Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s=%q: %s", e.Var, e.Value, e.Reason)
}

// samplers are the OTEL_TRACES_SAMPLER values glsotel implements.
var samplers = []string{
	"always_off", "always_on", "parentbased_always_off", "parentbased_always_on",
	"parentbased_traceidratio", "traceidratio",
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in the
// agent). The first invalid variable is returned as a *ConfigError.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	e := envReader{getenv: getenv}
	c := Config{
		Disabled:    e.bool("OTEL_SDK_DISABLED", false),
		ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME")),
		Exporter:    e.oneOf("OTEL_TRACES_EXPORTER", "otlp", "otlp", "console", "none"),
		Protocol:    e.oneOf2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "grpc", "http/protobuf"),
		Compression: e.oneOf2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", "none", "gzip", "none"),
		Timeout:     e.millis2("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", 10*time.Second),
		Sampler:     e.oneOf("OTEL_TRACES_SAMPLER", "parentbased_always_on", samplers...),

		BatchScheduleDelay: e.millis("OTEL_BSP_SCHEDULE_DELAY", 5*time.Second),
		BatchExportTimeout: e.millis("OTEL_BSP_EXPORT_TIMEOUT", 30*time.Second),
		BatchMaxQueueSize:  e.positive("OTEL_BSP_MAX_QUEUE_SIZE", 2048),
		BatchMaxExportSize: e.positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
	}
	c.ResourceAttributes = e.keyValues("OTEL_RESOURCE_ATTRIBUTES")
	c.Headers = e.keyValues2("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
	c.SamplerArg = 1
	if strings.HasSuffix(c.Sampler, "traceidratio") {
		c.SamplerArg = e.ratio("OTEL_TRACES_SAMPLER_ARG", 1)
	}
	c.Propagators = e.list("OTEL_PROPAGATORS", []string{"tracecontext", "baggage"}, "tracecontext", "baggage", "none")
	c.Endpoint, c.Insecure = e.endpoint(c.Protocol)
	if e.err == nil && c.BatchMaxExportSize > c.BatchMaxQueueSize {
		e.fail("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", getenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
			fmt.Sprintf("must not exceed OTEL_BSP_MAX_QUEUE_SIZE (%d)", c.BatchMaxQueueSize))
	}
	if e.err != nil {
		return Config{}, e.err
	}
	return c, nil
}

// envReader reads variables, keeping the first error.
type envReader struct {
	getenv func(string) string
	err    error
}

func (e *envReader) fail(name, v, reason string) {
	if e.err == nil {
		e.err = &ConfigError{Var: name, Value: v, Reason: reason}
	}
}

// get returns the first of names that is set, and its name.
func (e *envReader) get(names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(e.getenv(n)); v != "" {
			return n, v
		}
	}
	return "", ""
}

func (e *envReader) bool(name string, def bool) bool {
	_, v := e.get(name)
	switch strings.ToLower(v) {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	}
	e.fail(name, v, "want true or false")
	return def
}

func (e *envReader) oneOf(name, def string, allowed ...string) string {
	return e.oneOf2(name, "", def, allowed...)
}

func (e *envReader) oneOf2(name, fallback, def string, allowed ...string) string {
	n, v := e.get(name, fallback)
	if v == "" {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail(n, v, "want one of "+strings.Join(allowed, ", "))
	return def
}

func (e *envReader) millis(name string, def time.Duration) time.Duration {
	return e.millis2(name, "", def)
}

func (e *envReader) millis2(name, fallback string, def time.Duration) time.Duration {
	n, v := e.get(name, fallback)
	if v == "" {
		return def
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms < 0 {
		e.fail(n, v, "want a non-negative number of milliseconds")
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func (e *envReader) positive(name string, def int) int {
	_, v := e.get(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil || i <= 0 {
		e.fail(name, v, "want a positive integer")
		return def
	}
	return i
}

func (e *envReader) ratio(name string, def float64) float64 {
	_, v := e.get(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		e.fail(name, v, "want a ratio from 0 to 1")
		return def
	}
	return f
}

func (e *envReader) list(name string, def []string, allowed ...string) []string {
	_, v := e.get(name)
	if v == "" {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		ok := false
		for _, a := range allowed {
			ok = ok || item == a
		}
		if !ok {
			e.fail(name, v, fmt.Sprintf("unsupported %q; want a list of %s", item, strings.Join(allowed, ", ")))
			return def
		}
		if item != "none" {
			out = append(out, item)
		}
	}
	return out
}

func (e *envReader) keyValues(name string) map[string]string {
	return e.keyValues2(name, "")
}

// keyValues2 parses the W3C-baggage-like "k1=v1,k2=v2" form, values
// percent-decoded, as the specification asks.
func (e *envReader) keyValues2(name, fallback string) map[string]string {
	n, v := e.get(name, fallback)
	out := map[string]string{}
	if v == "" {
		return out
	}
	for _, pair := range strings.Split(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			e.fail(n, v, fmt.Sprintf("%q is not key=value", pair))
			return out
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			e.fail(n, v, fmt.Sprintf("bad percent-encoding in %q", pair))
			return out
		}
		out[k] = dec
	}
	return out
}

// endpoint applies the specification's rules: the signal-specific URL is
// used as is; the generic one gets /v1/traces appended for http/protobuf.
func (e *envReader) endpoint(protocol string) (string, bool) {
	n, v := e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	if v == "" {
		n = ""
		v = "http://localhost:4318"
		if protocol == "grpc" {
			v = "http://localhost:4317"
		}
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail(n, v, "want an http:// or https:// URL")
		return "", false
	}
	if protocol == "http/protobuf" && n != "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	insecure := u.Scheme == "http"
	if in := e.bool2("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"); in != nil {
		insecure = insecure || *in
	}
	return u.String(), insecure
}

func (e *envReader) bool2(name, fallback string) *bool {
	n, v := e.get(name, fallback)
	if v == "" {
		return nil
	}
	b := e.bool(n, false)
	return &b
}
