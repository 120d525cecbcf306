package offsets

// HeaderMapLayout is how the Go runtime lays out a map[string][]string (an
// http.Header), for probes that scan one in place. Measured from DWARF of
// go1.21 to go1.26, with and without GOEXPERIMENT=noswissmap
// (docs/notes/http-server-headers.md); TestHeaderMapLayout checks it
// against the DWARF of the toolchains the tests build with.
type HeaderMapLayout struct {
	Swiss bool

	// Swiss tables (internal/runtime/maps): Map.used, Map.dirPtr,
	// Map.dirLen; table.groups (groupsReference: data, then lengthMask);
	// a group is one uint64 of control bytes, then 8 slots {key, elem}.
	MapUsed, MapDirPtr, MapDirLen             uint64
	TableGroups, GroupsLengthMask             uint64
	GroupSize, GroupSlots, SlotSize, SlotElem uint64

	// Classic hmap: count, flags, B, buckets, oldbuckets; a bucket is
	// tophash[8], keys[8], values[8], overflow pointer.
	HmapCount, HmapFlags, HmapB, HmapBuckets, HmapOldBuckets uint64
	BucketSize, BucketKeys, BucketValues, BucketOverflow     uint64
	KeySize, ElemSize                                        uint64 // string, []string
	// MinTopHash: a bucket slot is live when its tophash is at least this
	// (below: empty or evacuated). SameSizeGrow is the hmap flag telling
	// how many old buckets a growing map has.
	MinTopHash, SameSizeGrow uint64
}

// Sizes of the Go types a header map holds (amd64).
const (
	goStringSize = 16 // ptr, len
	goSliceSize  = 24 // ptr, len, cap
	ptrSize      = 8
	mapSlots     = 8 // slots per group / bucket
)

// HeaderMap returns the layout of map[string][]string in this binary.
func (b *Binary) HeaderMap() HeaderMapLayout {
	slot := uint64(goStringSize + goSliceSize)
	return HeaderMapLayout{
		Swiss:   b.SwissMaps,
		MapUsed: 0, MapDirPtr: 16, MapDirLen: 24,
		TableGroups: 16, GroupsLengthMask: 8,
		GroupSize: 8 + mapSlots*slot, GroupSlots: 8, SlotSize: slot, SlotElem: goStringSize,

		HmapCount: 0, HmapFlags: 8, HmapB: 9, HmapBuckets: 16, HmapOldBuckets: 24,
		BucketSize:     mapSlots + mapSlots*(goStringSize+goSliceSize) + ptrSize,
		BucketKeys:     mapSlots,
		BucketValues:   mapSlots + mapSlots*goStringSize,
		BucketOverflow: mapSlots + mapSlots*(goStringSize+goSliceSize),
		KeySize:        goStringSize, ElemSize: goSliceSize,
		MinTopHash: 5, SameSizeGrow: 8,
	}
}
