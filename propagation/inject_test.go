package propagation

import (
	"testing"
)

func TestSockMsgInjectorLoads(t *testing.T) {
	in, err := StartSockMsgInjector()
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	mode, err := Lockdown()
	t.Logf("lockdown %q %v; write_user: %v", mode, err, WriteUserAllowed())
}
