package jaegertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Client reads traces from a Jaeger query API (v1 JSON /api/traces and
// v3 OTLP JSON /api/v3/traces), any Jaeger's: Start's or a container's.
type Client struct {
	Base  string // e.g. "http://127.0.0.1:16686"
	Limit int    // traces per Traces call; 0 means 1000
}

// Trace is one trace: its spans as Jaeger returned them.
type Trace struct {
	ID    string // 32 lowercase hex digits
	Spans []Span
}

// Span is a span read back from Jaeger. Ids are lowercase hex (trace ids
// 32 digits, span ids 16), "" for no parent.
type Span struct {
	TraceID, SpanID, ParentSpanID string
	// RemoteParent: the parent is in another process (OTLP span flags;
	// only Trace, through the v3 API, can tell; false from Traces).
	RemoteParent  bool
	Name          string
	Kind          string // SERVER, CLIENT, INTERNAL, PRODUCER, CONSUMER, UNSPECIFIED
	Service       string // the resource's service.name
	Scope         string // instrumentation scope name
	Attrs         map[string]any
	Resource      map[string]any
	StatusCode    string // UNSET, OK, ERROR
	StatusMessage string
	Start, End    time.Time
	Warnings      []string // Jaeger's own (e.g. a parent it cannot find)
}

// Attribute values: string, bool, int64, float64, []byte, []any, and
// map[string]any (an OTLP kvlist).

// Children returns the spans whose parent is id, by start time.
func Children(spans []Span, id string) []Span {
	var out []Span
	for _, s := range spans {
		if s.ParentSpanID == id {
			out = append(out, s)
		}
	}
	sortSpans(out)
	return out
}

// Roots returns the spans whose parent is not among spans: no parent, or
// a parent Jaeger has not got (an incoming traceparent's), by start time.
func Roots(spans []Span) []Span {
	ids := map[string]bool{}
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	var out []Span
	for _, s := range spans {
		if s.ParentSpanID == "" || !ids[s.ParentSpanID] {
			out = append(out, s)
		}
	}
	sortSpans(out)
	return out
}

func sortSpans(s []Span) {
	sort.SliceStable(s, func(i, j int) bool {
		if !s[i].Start.Equal(s[j].Start) {
			return s[i].Start.Before(s[j].Start)
		}
		return s[i].SpanID < s[j].SpanID
	})
}

// Traces returns the traces holding spans of service (GET
// /api/traces?service=S&limit=N, the v1 JSON API; the last 2 days by
// Jaeger's default lookback), each with all its spans.
func (c *Client) Traces(ctx context.Context, service string) ([]Trace, error) {
	limit := c.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := url.Values{"service": {service}, "limit": {strconv.Itoa(limit)}}
	body, err := c.get(ctx, "/api/traces?"+q.Encode())
	if err != nil {
		return nil, err
	}
	return DecodeV1(body)
}

// Trace returns one trace by id (GET /api/v3/traces/ID, OTLP JSON: kinds,
// status, resources and remote-parent flags as exported).
func (c *Client) Trace(ctx context.Context, traceID string) (Trace, error) {
	body, err := c.get(ctx, "/api/v3/traces/"+url.PathEscape(traceID))
	if err != nil {
		return Trace{}, err
	}
	traces, err := DecodeV3(body)
	if err != nil {
		return Trace{}, err
	}
	if len(traces) != 1 {
		return Trace{}, fmt.Errorf("jaeger: %d traces for id %s", len(traces), traceID)
	}
	return traces[0], nil
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(c.Base, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jaeger: GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// v1 JSON (cmd/query/app/internal/uimodel).
type v1Response struct {
	Data   []v1Trace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type v1Trace struct {
	TraceID   string               `json:"traceID"`
	Spans     []v1Span             `json:"spans"`
	Processes map[string]v1Process `json:"processes"`
}

type v1Span struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64      `json:"startTime"` // µs
	Duration  int64      `json:"duration"`  // µs
	Tags      []v1KeyVal `json:"tags"`
	ProcessID string     `json:"processID"`
	Warnings  []string   `json:"warnings"`
}

type v1Process struct {
	ServiceName string     `json:"serviceName"`
	Tags        []v1KeyVal `json:"tags"`
}

type v1KeyVal struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// DecodeV1 decodes a /api/traces or /api/traces/ID answer. The tags Jaeger
// derives from OTLP fields (span.kind, otel.status_code,
// otel.status_description, error, otel.scope.name, otel.scope.version)
// become Kind, StatusCode, StatusMessage and Scope, not attributes.
func DecodeV1(body []byte) ([]Trace, error) {
	var r v1Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("jaeger v1 JSON: %w", err)
	}
	if len(r.Errors) > 0 {
		return nil, fmt.Errorf("jaeger: %d: %s", r.Errors[0].Code, r.Errors[0].Msg)
	}
	out := make([]Trace, 0, len(r.Data))
	for _, t := range r.Data {
		procs := map[string]map[string]any{}
		for id, p := range t.Processes {
			res, err := v1Attrs(p.Tags)
			if err != nil {
				return nil, err
			}
			res["service.name"] = p.ServiceName
			procs[id] = res
		}
		tr := Trace{ID: traceID(t.TraceID)}
		for _, s := range t.Spans {
			attrs, err := v1Attrs(s.Tags)
			if err != nil {
				return nil, err
			}
			sp := Span{
				TraceID: traceID(s.TraceID), SpanID: s.SpanID, Name: s.OperationName,
				Kind: "UNSPECIFIED", StatusCode: "UNSET",
				Attrs: attrs, Resource: procs[s.ProcessID], Warnings: s.Warnings,
				Start: time.UnixMicro(s.StartTime).UTC(), End: time.UnixMicro(s.StartTime + s.Duration).UTC(),
			}
			sp.Service, _ = sp.Resource["service.name"].(string)
			for _, ref := range s.References {
				if ref.RefType == "CHILD_OF" && traceID(ref.TraceID) == sp.TraceID {
					sp.ParentSpanID = ref.SpanID
					break
				}
			}
			if k, ok := attrs["span.kind"].(string); ok {
				sp.Kind = strings.ToUpper(k)
				delete(attrs, "span.kind")
			}
			if c, ok := attrs["otel.status_code"].(string); ok {
				sp.StatusCode = strings.ToUpper(c)
				delete(attrs, "otel.status_code")
			}
			if m, ok := attrs["otel.status_description"].(string); ok {
				sp.StatusMessage = m
				delete(attrs, "otel.status_description")
			}
			if e, ok := attrs["error"].(bool); ok && e && sp.StatusCode == "ERROR" {
				delete(attrs, "error")
			}
			if n, ok := attrs["otel.scope.name"].(string); ok {
				sp.Scope = n
				delete(attrs, "otel.scope.name")
				delete(attrs, "otel.scope.version")
			}
			tr.Spans = append(tr.Spans, sp)
		}
		sortSpans(tr.Spans)
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func v1Attrs(tags []v1KeyVal) (map[string]any, error) {
	m := make(map[string]any, len(tags))
	for _, kv := range tags {
		var err error
		switch kv.Type {
		case "string", "":
			var s string
			err = json.Unmarshal(kv.Value, &s)
			m[kv.Key] = s
		case "bool":
			var b bool
			err = json.Unmarshal(kv.Value, &b)
			m[kv.Key] = b
		case "int64":
			var i int64
			err = json.Unmarshal(kv.Value, &i)
			m[kv.Key] = i
		case "float64":
			var f float64
			err = json.Unmarshal(kv.Value, &f)
			m[kv.Key] = f
		case "binary":
			var s string
			if err = json.Unmarshal(kv.Value, &s); err == nil {
				m[kv.Key], err = base64.StdEncoding.DecodeString(s)
			}
		default:
			err = fmt.Errorf("unknown type %q", kv.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("jaeger v1 JSON: tag %q: %w", kv.Key, err)
		}
	}
	return m, nil
}

// traceID left-pads v1's trace ids (which drop leading zeros) to 32 digits.
func traceID(s string) string {
	s = strings.ToLower(s)
	if len(s) < 32 {
		s = strings.Repeat("0", 32-len(s)) + s
	}
	return s
}

// v3: {"result": OTLP TracesData JSON} (the OTLP/JSON encoding: ids in
// hex, 64-bit integers as strings, enums as numbers).
type v3Response struct {
	Result struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []otlpKeyValue `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Scope struct {
					Name string `json:"name"`
				} `json:"scope"`
				Spans []struct {
					TraceID           string         `json:"traceId"`
					SpanID            string         `json:"spanId"`
					ParentSpanID      string         `json:"parentSpanId"`
					Flags             uint32         `json:"flags"`
					Name              string         `json:"name"`
					Kind              int            `json:"kind"`
					StartTimeUnixNano flexInt        `json:"startTimeUnixNano"`
					EndTimeUnixNano   flexInt        `json:"endTimeUnixNano"`
					Attributes        []otlpKeyValue `json:"attributes"`
					Status            struct {
						Message string `json:"message"`
						Code    int    `json:"code"`
					} `json:"status"`
				} `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	} `json:"result"`
	Error *struct {
		HTTPCode int    `json:"httpCode"`
		Message  string `json:"message"`
	} `json:"error"`
}

type otlpKeyValue struct {
	Key   string       `json:"key"`
	Value otlpAnyValue `json:"value"`
}

type otlpAnyValue struct {
	StringValue *string  `json:"stringValue"`
	BoolValue   *bool    `json:"boolValue"`
	IntValue    *flexInt `json:"intValue"`
	DoubleValue *float64 `json:"doubleValue"`
	BytesValue  *string  `json:"bytesValue"`
	ArrayValue  *struct {
		Values []otlpAnyValue `json:"values"`
	} `json:"arrayValue"`
	KvlistValue *struct {
		Values []otlpKeyValue `json:"values"`
	} `json:"kvlistValue"`
}

var (
	kinds    = []string{"UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"}
	statuses = []string{"UNSET", "OK", "ERROR"}
)

const (
	flagHasIsRemote = 0x100 // SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
	flagIsRemote    = 0x200 // SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
	warningsAttr    = "@jaeger@warnings"
)

// DecodeV3 decodes a /api/v3/traces/ID (or /api/v3/traces search) answer,
// grouping its spans by trace id.
func DecodeV3(body []byte) ([]Trace, error) {
	var r v3Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("jaeger v3 JSON: %w", err)
	}
	if r.Error != nil {
		return nil, fmt.Errorf("jaeger: %d: %s", r.Error.HTTPCode, r.Error.Message)
	}
	byID := map[string]*Trace{}
	for _, rs := range r.Result.ResourceSpans {
		res, err := otlpAttrs(rs.Resource.Attributes)
		if err != nil {
			return nil, err
		}
		service, _ := res["service.name"].(string)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				attrs, err := otlpAttrs(s.Attributes)
				if err != nil {
					return nil, err
				}
				sp := Span{
					TraceID: strings.ToLower(s.TraceID), SpanID: strings.ToLower(s.SpanID),
					ParentSpanID: strings.ToLower(s.ParentSpanID),
					RemoteParent: s.Flags&flagHasIsRemote != 0 && s.Flags&flagIsRemote != 0,
					Name:         s.Name, Kind: enum(kinds, s.Kind), Service: service, Scope: ss.Scope.Name,
					Attrs: attrs, Resource: res,
					StatusCode: enum(statuses, s.Status.Code), StatusMessage: s.Status.Message,
				}
				sp.Start = time.Unix(0, int64(s.StartTimeUnixNano)).UTC()
				sp.End = time.Unix(0, int64(s.EndTimeUnixNano)).UTC()
				if w, ok := attrs[warningsAttr]; ok {
					delete(attrs, warningsAttr)
					if ws, ok := w.([]any); ok {
						for _, x := range ws {
							sp.Warnings = append(sp.Warnings, fmt.Sprint(x))
						}
					} else {
						sp.Warnings = []string{fmt.Sprint(w)}
					}
				}
				t := byID[sp.TraceID]
				if t == nil {
					t = &Trace{ID: sp.TraceID}
					byID[sp.TraceID] = t
				}
				t.Spans = append(t.Spans, sp)
			}
		}
	}
	out := make([]Trace, 0, len(byID))
	for _, t := range byID {
		sortSpans(t.Spans)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func enum(names []string, v int) string {
	if v >= 0 && v < len(names) {
		return names[v]
	}
	return strconv.Itoa(v)
}

// flexInt is a 64-bit integer OTLP/JSON writes as a string (or a number).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		u, uerr := strconv.ParseUint(s, 10, 64) // fixed64 times past 2262
		if uerr != nil {
			return fmt.Errorf("integer %s: %w", b, err)
		}
		n = int64(u)
	}
	*f = flexInt(n)
	return nil
}

func otlpAttrs(kvs []otlpKeyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := otlpValue(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("jaeger v3 JSON: attribute %q: %w", kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func otlpValue(v otlpAnyValue) (any, error) {
	switch {
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case v.IntValue != nil:
		return int64(*v.IntValue), nil
	case v.DoubleValue != nil:
		return *v.DoubleValue, nil
	case v.BytesValue != nil:
		return base64.StdEncoding.DecodeString(*v.BytesValue)
	case v.ArrayValue != nil:
		out := make([]any, 0, len(v.ArrayValue.Values))
		for _, x := range v.ArrayValue.Values {
			y, err := otlpValue(x)
			if err != nil {
				return nil, err
			}
			out = append(out, y)
		}
		return out, nil
	case v.KvlistValue != nil:
		return otlpAttrs(v.KvlistValue.Values)
	}
	return nil, nil // an empty value
}
