// Package spantest helps converter tests compare span attributes.
package spantest

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// Attrs is an attribute set keyed by name; int values stand for int64.
type Attrs map[string]any

// Map turns attributes into key → value, failing on duplicate keys.
func Map(t testing.TB, kvs []attribute.KeyValue) Attrs {
	t.Helper()
	m := make(Attrs, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[string(kv.Key)]; dup {
			t.Errorf("duplicate attribute %s", kv.Key)
		}
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// Check reports every missing, unexpected, duplicate or different attribute.
func Check(t testing.TB, kvs []attribute.KeyValue, want Attrs) {
	t.Helper()
	got := Map(t, kvs)
	for _, k := range slices.Sorted(maps.Keys(want)) {
		w := want[k]
		if i, ok := w.(int); ok {
			w = int64(i)
		}
		if g, ok := got[k]; !ok {
			t.Errorf("attribute %s missing, want %#v", k, w)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("attribute %s = %#v, want %#v", k, g, w)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected attribute %s = %#v", k, got[k])
		}
	}
}

// With copies a and applies over; a nil value removes the key.
func (a Attrs) With(over Attrs) Attrs {
	m := maps.Clone(a)
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}
