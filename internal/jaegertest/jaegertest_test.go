package jaegertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStart runs two Jaegers side by side, sends each a trace over
// OTLP/HTTP (JSON, no SDK) and reads it back through both APIs.
func TestStart(t *testing.T) {
	js := []*Jaeger{Start(t), Start(t)}
	if js[0].Query == js[1].Query || js[0].OTLPGRPC == js[1].OTLPGRPC || js[0].OTLPHTTP == js[1].OTLPHTTP {
		t.Fatalf("two Jaegers share ports: %+v %+v", js[0], js[1])
	}
	for i, j := range js {
		if !strings.HasPrefix(j.OTLPGRPC, "127.0.0.1:") || !strings.HasPrefix(j.OTLPHTTP, "http://127.0.0.1:") || !strings.HasPrefix(j.Query, "http://127.0.0.1:") {
			t.Errorf("endpoints %+v", j)
		}
		traceID := fmt.Sprintf("%032x", 0xabc0+i)
		now := time.Now()
		body := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc%d"}}]},
		"scopeSpans":[{"scope":{"name":"test"},"spans":[
		{"traceId":%q,"spanId":"0000000000000001","name":"root","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d",
		 "attributes":[{"key":"http.response.status_code","value":{"intValue":"500"}}],"status":{"code":2,"message":"boom"}},
		{"traceId":%q,"spanId":"0000000000000002","parentSpanId":"0000000000000001","flags":256,"name":"child","kind":3,
		 "startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`,
			i, traceID, now.UnixNano(), now.Add(time.Millisecond).UnixNano(), traceID, now.UnixNano()+1000, now.UnixNano()+2000)
		resp, err := http.Post(j.OTLPHTTP+"/v1/traces", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("OTLP/HTTP export: %s", resp.Status)
		}
		c := j.Client()
		traces := WaitTraces(t, c, fmt.Sprintf("svc%d", i), 1, 10*time.Second)
		if len(traces) != 1 || traces[0].ID != traceID || len(traces[0].Spans) != 2 {
			t.Fatalf("jaeger %d: traces %+v", i, traces)
		}
		tr, err := c.Trace(context.Background(), traceID)
		if err != nil {
			t.Fatal(err)
		}
		root, kids := Roots(tr.Spans), Children(tr.Spans, "0000000000000001")
		if len(root) != 1 || root[0].Kind != "SERVER" || root[0].StatusCode != "ERROR" || root[0].StatusMessage != "boom" ||
			root[0].Attrs["http.response.status_code"] != int64(500) || root[0].Service != fmt.Sprintf("svc%d", i) {
			t.Errorf("jaeger %d: roots %+v", i, root)
		}
		if len(kids) != 1 || kids[0].Kind != "CLIENT" || kids[0].Name != "child" || kids[0].RemoteParent {
			t.Errorf("jaeger %d: children %+v", i, kids)
		}
		// The other Jaeger has not seen it.
		if other, err := js[1-i].Client().Traces(context.Background(), fmt.Sprintf("svc%d", i)); err != nil || len(other) != 0 {
			t.Errorf("jaeger %d: the other Jaeger has %d traces (%v)", i, len(other), err)
		}
	}
	if log := js[0].Log(); !strings.Contains(log, "Everything is ready") {
		t.Errorf("log:\n%s", log)
	}
}
