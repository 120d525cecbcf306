package offsets

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a Go release, e.g. go1.23.12.
type Version struct{ Major, Minor, Patch int }

// ParseVersion accepts "go1.23.12", "go1.24", "go1.25rc1" and suffixes such
// as " X:nocoverageredesign" or "-bigcorp".
func ParseVersion(s string) (Version, error) {
	orig := s
	s, ok := strings.CutPrefix(s, "go")
	if !ok {
		return Version{}, fmt.Errorf("unrecognised Go version %q", orig)
	}
	if i := strings.IndexAny(s, " -+"); i >= 0 {
		s = s[:i]
	}
	var v Version
	parts := strings.SplitN(s, ".", 3)
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		// "25rc1" / "26beta2": a pre-release of the minor, patch 0.
		if j := strings.IndexAny(p, "rb"); j > 0 && i > 0 {
			p = p[:j]
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("unrecognised Go version %q", orig)
		}
		*nums[i] = n
	}
	if len(parts) < 2 {
		return Version{}, fmt.Errorf("unrecognised Go version %q", orig)
	}
	return v, nil
}

func (v Version) String() string {
	return fmt.Sprintf("go%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// MinorString is the release family, e.g. "go1.23".
func (v Version) MinorString() string { return fmt.Sprintf("go%d.%d", v.Major, v.Minor) }

// Less orders versions.
func (v Version) Less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// MinGo is the oldest Go release glsotel supports: runtime.g.parentGoid,
// which goroutine inheritance reads, appeared in Go 1.21.
var MinGo = Version{1, 21, 0}
