package exporter

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/glsotel/glsotel/internal/otlptest"
)

// A field's length takes more or fewer bytes than openField reserved: the
// content moves, and the field still decodes.
func TestCloseField(t *testing.T) {
	for _, room := range []int{1, 2, 3} {
		for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152} {
			b, at := openField([]byte("prefix"), 9, room)
			content := strings.Repeat("x", n-min(n, 1)) + "y"[:min(n, 1)]
			b = closeField(append(b, content...), at, room)
			num, typ, tn := protowire.ConsumeTag(b[len("prefix"):])
			v, vn := protowire.ConsumeBytes(b[len("prefix")+tn:])
			if num != 9 || typ != protowire.BytesType || vn < 0 || string(v) != content || len("prefix")+tn+vn != len(b) {
				t.Errorf("room %d, %d bytes: decoded field %d type %d, %d bytes (%d), total %d", room, n, num, typ, len(v), vn, len(b))
			}
		}
	}
}

// randomSpan is a span of random shape and content, drawn from what the
// probes and the SDK's span can hold, with strings across the lengths
// where a length prefix takes one more byte.
func randomSpan(r *rand.Rand, i int) Span {
	lengths := []int{0, 1, 5, 60, 126, 127, 128, 300, 16370, 16384, 20000}
	str := func() string {
		n := lengths[r.IntN(len(lengths))]
		if r.IntN(3) > 0 {
			n = min(n, 40)
		}
		return strings.Repeat(string(rune('a'+r.IntN(26))), n) + []string{"", "é", "日本"}[r.IntN(3)]
	}
	ints := func() []int64 {
		out := make([]int64, r.IntN(4))
		for i := range out {
			out[i] = r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2))
		}
		return out
	}
	var attrs []attribute.KeyValue
	for range r.IntN(14) {
		k := str()
		switch r.IntN(9) {
		case 0:
			attrs = append(attrs, attribute.Bool(k, r.IntN(2) == 1))
		case 1:
			attrs = append(attrs, attribute.Int64(k, r.Int64()>>r.IntN(64)*int64(1-2*r.IntN(2))))
		case 2:
			attrs = append(attrs, attribute.Float64(k, r.NormFloat64()))
		case 3:
			attrs = append(attrs, attribute.BoolSlice(k, []bool{true, false}[:r.IntN(3)]))
		case 4:
			attrs = append(attrs, attribute.Int64Slice(k, ints()))
		case 5:
			attrs = append(attrs, attribute.Float64Slice(k, []float64{0, -1.5, math.Inf(1)}[:r.IntN(4)]))
		case 6:
			attrs = append(attrs, attribute.StringSlice(k, []string{str(), str()}[:r.IntN(3)]))
		case 7:
			attrs = append(attrs, attribute.KeyValue{Key: attribute.Key(k)}) // INVALID
		default:
			attrs = append(attrs, attribute.String(k, str()))
		}
	}
	start := t0.Add(time.Duration(r.Int64N(int64(time.Hour))))
	s := Span{
		Name: str(), Kind: trace.SpanKind(r.IntN(7)), TraceID: trace.TraceID{byte(i), byte(i >> 8), 1}, SpanID: trace.SpanID{byte(i), 2},
		Sampled: true, Start: start, End: start.Add(time.Duration(r.IntN(1e9))), Attributes: attrs,
		Status: codes.Code(r.IntN(3)), StatusMsg: str(),
	}
	if r.IntN(4) > 0 {
		s.Parent, s.RemoteParent = trace.SpanID{byte(i), 3}, r.IntN(2) == 1
	}
	if r.IntN(4) == 0 {
		s.TraceState = "k=" + strings.Repeat("v", r.IntN(200)) + ",other=x"
	}
	if r.IntN(10) == 0 {
		s.Start, s.End = time.Time{}, time.Unix(0, 0) // zero times are left out
	}
	return s
}

// Random spans reach a collector as the SDK's own exporter sends them.
func TestEncodeRandomMatchesSDK(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	res := newResource(Config{ServiceName: "users"}, target)
	for range 300 {
		batch := make([]Span, 1+r.IntN(20))
		for i := range batch {
			batch[i] = randomSpan(r, i)
		}
		checkMatchesSDK(t, batch, res)
	}
}

// Invalid UTF-8 (a request path "/%ff" decodes to a lone 0xff byte) is
// replaced, not a reason to lose the batch, over both protocols.
func TestInvalidUTF8(t *testing.T) {
	grpcRecv := otlptest.Start(t)
	httpRecv := &otlptest.Receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			t.Errorf("bad request: %v", err)
		}
		httpRecv.Export(r.Context(), req)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		protocol string
		recv     *otlptest.Receiver
		endpoint string
	}{{"grpc", grpcRecv, grpcRecv.Endpoint}, {"http/protobuf", httpRecv, srv.URL}} {
		t.Run(tc.protocol, func(t *testing.T) {
			e, err := New(context.Background(), config(t, map[string]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL": tc.protocol, "OTEL_EXPORTER_OTLP_ENDPOINT": tc.endpoint,
			}), target, nil)
			if err != nil {
				t.Fatal(err)
			}
			good := benchSpan(1)
			bad := benchSpan(2)
			bad.Name = "GET /\xff"
			bad.Attributes = []attribute.KeyValue{attribute.String("url.path", "/\xff"), attribute.String("\xfe", "k"),
				attribute.StringSlice("s", []string{"\xfd"})}
			bad.Status, bad.StatusMsg = 2, "\xfc"
			bad.Kind = trace.SpanKindServer
			e.Export(good)
			e.Export(bad)
			if err := e.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := tc.recv.Spans()
			if len(spans) != 2 {
				t.Fatalf("got %d spans, want 2", len(spans))
			}
			for _, s := range spans {
				if s.Name == "GET /\uFFFD" {
					if s.Attrs["url.path"] != "/\uFFFD" || s.Attrs["\uFFFD"] != "k" {
						t.Errorf("attributes %v", s.Attrs)
					}
					return
				}
			}
			t.Errorf("no span named %q in %v", "GET /\uFFFD", spans)
		})
	}
}

// asciiOnly agrees with a byte-by-byte check at every length (both of its
// paths) and every position of a high byte.
func TestASCIIOnly(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for pos := -1; pos < n; pos++ {
			for _, c := range []byte{0x7f, 0x80, 0xc3, 0xff} {
				b := []byte(strings.Repeat("a", n))
				if pos >= 0 {
					b[pos] = c
				}
				want := pos < 0 || c < 0x80
				if got := asciiOnly(string(b)); got != want {
					t.Fatalf("asciiOnly(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
