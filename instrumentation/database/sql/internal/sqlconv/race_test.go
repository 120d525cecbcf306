//go:build race

package sqlconv

// raceEnabled: the race detector slows the timed tests several times.
const raceEnabled = true
