package jaegertest

import "testing"

// FreePorts returns n distinct loopback ports that were free a moment ago,
// for services a test starts on the host's network (containers too).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	p, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
