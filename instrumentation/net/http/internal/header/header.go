// Package header supplies bpf/include/glsotel/http_header.h with the map
// layout of http.Header in a target binary.
package header

import "github.com/glsotel/glsotel/offsets"

// Consts are the map_* consts of http_header.h for bin.
func Consts(bin *offsets.Binary) map[string]any {
	l := bin.HeaderMap()
	swiss := uint32(0)
	if l.Swiss {
		swiss = 1
	}
	return map[string]any{
		"map_swiss": swiss,
		"map_used":  l.MapUsed, "map_dir_ptr": l.MapDirPtr, "map_dir_len": l.MapDirLen,
		"map_table_groups": l.TableGroups, "map_groups_length_mask": l.GroupsLengthMask,
		"map_group_size": l.GroupSize, "map_group_slots": l.GroupSlots,
		"map_slot_size": l.SlotSize, "map_slot_elem": l.SlotElem,
		"map_hmap_count": l.HmapCount, "map_hmap_flags": l.HmapFlags, "map_hmap_b": l.HmapB,
		"map_hmap_buckets": l.HmapBuckets, "map_hmap_oldbuckets": l.HmapOldBuckets,
		"map_bucket_size": l.BucketSize, "map_bucket_keys": l.BucketKeys,
		"map_bucket_values": l.BucketValues, "map_bucket_overflow": l.BucketOverflow,
		"map_key_size": l.KeySize, "map_elem_size": l.ElemSize,
		"map_min_tophash": uint32(l.MinTopHash), "map_same_size_grow": uint32(l.SameSizeGrow),
	}
}
