package propagation_test

import (
	"errors"
	"testing"

	"github.com/glsotel/glsotel/internal/testbuild"
	"github.com/glsotel/glsotel/offsets"
	"github.com/glsotel/glsotel/propagation"
)

// context.h walks a context's parents reading one offset (cancelCtx's
// parent Context). Every standard context type a program links must keep
// its parent at that same offset, on every release we test.
func TestContextParentsFirst(t *testing.T) {
	parents := []offsets.Field{
		"context.valueCtx.Context", "context.timerCtx.cancelCtx", "context.withoutCancelCtx.c",
		"context.afterFuncCtx.cancelCtx", "context.stopCtx.Context",
	}
	for _, tc := range testbuild.Toolchains {
		t.Run(tc.Name, func(t *testing.T) {
			b, err := offsets.Open(testbuild.Build(t, "../e2e/apps/httpsvc", tc, false))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			want, err := b.Fields(propagation.ContextFields[:1])
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, f := range parents {
				got, err := b.Fields([]offsets.Field{f})
				if errors.Is(err, offsets.ErrNoField) {
					continue // not linked into this program
				}
				if err != nil {
					t.Fatal(err)
				}
				found++
				if got[f] != want[propagation.ContextFields[0]] {
					t.Errorf("%s at %d, cancelCtx.Context at %d: the walk would misread it", f, got[f], want[propagation.ContextFields[0]])
				}
			}
			if found < 2 {
				t.Errorf("only %d context types in DWARF", found)
			}
		})
	}
}
