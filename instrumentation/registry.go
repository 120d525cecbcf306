// Package instrumentation holds the explicit list of probes the agent loads.
// Each instrumented library lives in its own folder below this one.
package instrumentation

import (
	"github.com/glsotel/glsotel/exporter"
	dbsql "github.com/glsotel/glsotel/instrumentation/database/sql"
	gin "github.com/glsotel/glsotel/instrumentation/github.com/gin-gonic/gin"
	chi "github.com/glsotel/glsotel/instrumentation/github.com/go-chi/chi/v5"
	gorilla "github.com/glsotel/glsotel/instrumentation/github.com/gorilla/mux"
	echo "github.com/glsotel/glsotel/instrumentation/github.com/labstack/echo/v4"
	"github.com/glsotel/glsotel/instrumentation/glsmarker"
	"github.com/glsotel/glsotel/instrumentation/net/http/client"
	"github.com/glsotel/glsotel/instrumentation/net/http/server"
	"github.com/glsotel/glsotel/instrumentation/probe"
	"github.com/glsotel/glsotel/propagation"
)

// Outputs receive what the probes produce. Each function is called on the
// agent's single event goroutine and must not block for long.
type Outputs struct {
	// Markers receives GLS marker observations (nil: markers not hooked).
	Markers func(glsmarker.Observation)
	// Spans receives finished spans (nil: no span probes). A span's
	// Attributes are reused for the probe's next span once Spans returns:
	// copy what is kept (exporter.Export does).
	Spans func(exporter.Span)
}

// Settings tune what the probes record.
type Settings struct {
	// DBQueryText says how database spans record db.query.text
	// (GLSOTEL_DB_QUERY_TEXT; the zero value is sanitized).
	DBQueryText dbsql.QueryText
	// Inject is how outgoing HTTP requests get the client span's
	// traceparent (the zero value: not at all).
	Inject propagation.Injection
}

// Probes returns every probe, in load order: GLS first, since every other
// probe reads the context it keeps.
func Probes(out Outputs, set Settings) []*probe.Probe {
	ps := []*probe.Probe{propagation.GoroutineProbe()}
	if out.Spans != nil {
		// The routers' probes tell the server probe the route they matched.
		ps = append(ps, server.New(out.Spans), chi.New(), gorilla.New(), gin.New(), echo.New(), client.New(out.Spans, set.Inject))
		if set.Inject == propagation.InjectWriteUser {
			ps = append(ps, client.WriteUser())
		}
		ps = append(ps, dbsql.New(out.Spans, set.DBQueryText))
	}
	if out.Markers != nil {
		ps = append(ps, glsmarker.New(out.Markers))
	}
	return ps
}
