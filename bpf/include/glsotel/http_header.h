/* Reading an http.Header (map[string][]string) in place, for both runtime
 * map layouts: swiss tables (Go >= 1.24) and the classic hmap. One bounded
 * scan at the probe that already fires (no per-header hooks), filtered by
 * key length so only candidate keys are read. Layout numbers arrive as
 * consts from offsets.HeaderMapLayout; the study behind the bounds is
 * docs/notes/http-server-headers.md. */
#pragma once
#include "common.h"
#include "traceparent.h"

volatile const __u32 map_swiss;
volatile const __u64 map_used, map_dir_ptr, map_dir_len;
volatile const __u64 map_table_groups, map_groups_length_mask;
volatile const __u64 map_group_size, map_group_slots, map_slot_size, map_slot_elem;
volatile const __u64 map_hmap_count, map_hmap_flags, map_hmap_b, map_hmap_buckets, map_hmap_oldbuckets;
volatile const __u64 map_bucket_size, map_bucket_keys, map_bucket_values, map_bucket_overflow;
volatile const __u64 map_key_size, map_elem_size;
volatile const __u32 map_min_tophash;
volatile const __u32 map_same_size_grow;

#define MAP_SLOTS 8
/* Swiss: groups read (8 hold <= 55 server-parsed headers, 16 hold 111).
 * Hmap: bucket reads, overflow included (32 headers measured 9). */
#define HEADER_MAX_GROUPS 16
#define HEADER_MAX_SLOTS (HEADER_MAX_GROUPS * MAP_SLOTS)

enum header_found {
	HEADER_TRACEPARENT = 1,
	HEADER_TRACESTATE = 2,
	HEADER_USER_AGENT = 4,
	HEADER_BAGGAGE = 8,
};

/* What a scan finds (first value of each header). */
struct header_values {
	struct go_str64 traceparent;
	struct w3c_headers w3c; /* tracestate, baggage */
	struct go_str128 user_agent;
	__u32 found;     /* enum header_found bits */
	__u32 truncated; /* the map was larger than the scan's bound */
};

struct header_scan {
	struct header_values *out;
	__u32 want;
	/* swiss */
	__u64 groups, ngroups, ctrl;
	/* hmap */
	__u64 buckets, nbuckets, oldbuckets, noldbuckets, cur, next, idx, tophash;
	__u32 phase;
};

/* key_is compares a header name with a canonical one, ignoring ASCII case:
 * a client may set non-canonical keys (h["traceparent"] = ...), which Go
 * sends as they are. */
static __always_inline int key_is(const __u8 *k, const char *lit, int n)
{
	for (int i = 0; i < n; i++) {
		__u8 a = k[i], b = (__u8)lit[i];
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return 0;
	}
	return 1;
}

/* header_match returns which wanted header the key k names (0: none) and
 * marks it found. */
static __always_inline __u32 header_match(struct header_scan *st, const struct go_hdr *k)
{
	__u8 name[11] = {};
	__u32 bit = 0;
	if (k->len == 11 && (st->want & HEADER_TRACEPARENT)) {
		if (bpf_probe_read_user(name, 11, (void *)k->ptr) == 0 && key_is(name, "Traceparent", 11))
			bit = HEADER_TRACEPARENT;
	} else if (k->len == 10 && (st->want & (HEADER_TRACESTATE | HEADER_USER_AGENT))) {
		if (bpf_probe_read_user(name, 10, (void *)k->ptr) == 0) {
			if (key_is(name, "Tracestate", 10))
				bit = HEADER_TRACESTATE;
			else if (key_is(name, "User-Agent", 10))
				bit = HEADER_USER_AGENT;
		}
	} else if (k->len == 7 && (st->want & HEADER_BAGGAGE)) {
		if (bpf_probe_read_user(name, 7, (void *)k->ptr) == 0 && key_is(name, "Baggage", 7))
			bit = HEADER_BAGGAGE;
	}
	bit &= st->want;
	st->want &= ~bit;
	st->out->found |= bit;
	return bit;
}

/* header_store keeps the first value of header bit, whose values are the
 * []string vals. */
static __always_inline void header_store(struct header_scan *st, __u32 bit, const struct go_hdr *vals)
{
	if (!vals->ptr || vals->len == 0)
		return;
	if (bit == HEADER_TRACEPARENT)
		read_go_str(&st->out->traceparent, vals->ptr);
	else if (bit == HEADER_TRACESTATE)
		read_go_str(&st->out->w3c.tracestate, vals->ptr);
	else if (bit == HEADER_BAGGAGE)
		read_go_str(&st->out->w3c.baggage, vals->ptr);
	else
		read_go_str(&st->out->user_agent, vals->ptr);
}

/* slot_hdr copies the header at off in a group block. A helper, not a
 * load: off varies with the slot, which a map value access would make the
 * verifier track slot by slot. */
static __always_inline void slot_hdr(struct go_hdr *dst, const struct block *blk, __u64 off)
{
	if (bpf_probe_read_kernel(dst, sizeof(*dst), blk->b + (off & (BLOCK_MAX - 1))))
		dst->ptr = dst->len = 0;
}

static long header_swiss_step(__u64 i, void *data)
{
	struct header_scan *st = data;
	__u64 g = i / MAP_SLOTS, s = i % MAP_SLOTS;
	if (!st->want || g >= st->ngroups)
		return 1;
	/* The group, read whole when its first slot comes up: control word
	 * then slots. Block slot 2: the caller's own reads use 0 and 1. */
	__u32 bs = 2;
	struct block *blk = bpf_map_lookup_elem(&blocks, &bs);
	if (!blk)
		return 1;
	if (s == 0) {
		if (!read_block(bs, st->groups + g * map_group_size, map_group_size))
			return 1;
		st->ctrl = block_u64(blk, 0);
	}
	if ((st->ctrl >> (8 * s)) & 0x80)
		return 0; /* empty or deleted */
	__u64 slot = map_group_slots + s * map_slot_size;
	struct go_hdr h;
	slot_hdr(&h, blk, slot);
	__u32 bit = header_match(st, &h);
	if (bit) {
		slot_hdr(&h, blk, slot + map_slot_elem);
		header_store(st, bit, &h);
	}
	return 0;
}

static long header_hmap_step(__u64 i, void *data)
{
	struct header_scan *st = data;
	__u64 s = i % MAP_SLOTS;
	if (!st->want)
		return 1;
	if (s == 0) {
		st->cur = st->next;
		/* No overflow: the next primary bucket, then the old array. */
		for (int j = 0; j < 3 && !st->cur; j++) {
			__u64 n = st->phase ? st->noldbuckets : st->nbuckets;
			if (st->idx >= n) {
				if (st->phase || !st->noldbuckets)
					return 1;
				st->phase = 1;
				st->idx = 0;
				continue;
			}
			st->cur = (st->phase ? st->oldbuckets : st->buckets) + st->idx * map_bucket_size;
			st->idx++;
		}
		st->tophash = read_ptr(st->cur);
		st->next = read_ptr(st->cur + map_bucket_overflow);
	}
	if (((st->tophash >> (8 * s)) & 0xff) < map_min_tophash)
		return 0; /* empty or evacuated */
	/* Keys and values are read from the program, not from a bucket
	 * block: slot offsets into one make this loop too costly to verify. */
	struct go_hdr h = {};
	if (bpf_probe_read_user(&h, sizeof(h), (void *)(st->cur + map_bucket_keys + s * map_key_size)))
		return 0;
	__u32 bit = header_match(st, &h);
	if (bit && !bpf_probe_read_user(&h, sizeof(h), (void *)(st->cur + map_bucket_values + s * map_elem_size)))
		header_store(st, bit, &h);
	return 0;
}

/* scan_headers reads the wanted headers of the map at m into out. */
static __always_inline void scan_headers(__u64 m, __u32 want, struct header_values *out)
{
	struct header_scan st = { .out = out, .want = want };
	if (!m)
		return;
	if (map_swiss) {
		/* The Map's used, dirPtr and dirLen with one read. */
		struct block *mb = read_block(2, m, MAX2(map_used, MAX2(map_dir_ptr, map_dir_len)) + 8);
		if (!mb || !block_u64(mb, map_used))
			return;
		__u64 dir = block_u64(mb, map_dir_ptr);
		if (block_u64(mb, map_dir_len) == 0) {
			st.groups = dir; /* a small map: one group */
			st.ngroups = 1;
		} else {
			__u64 table = read_ptr(dir);
			struct block *tb = read_block(2, table, map_table_groups + map_groups_length_mask + 8);
			if (!tb)
				return;
			st.groups = block_u64(tb, map_table_groups);
			st.ngroups = block_u64(tb, map_table_groups + map_groups_length_mask) + 1;
		}
		out->truncated = st.ngroups > HEADER_MAX_GROUPS;
		bpf_loop(HEADER_MAX_SLOTS, header_swiss_step, &st, 0);
		return;
	}
	/* The hmap's count, flags, B and bucket pointers with one read. */
	__u64 hlen = MAX2(MAX2(map_hmap_count, map_hmap_buckets), map_hmap_oldbuckets) + 8;
	struct block *mb = read_block(2, m, MAX2(hlen, MAX2(map_hmap_flags, map_hmap_b) + 8));
	if (!mb || !block_u64(mb, map_hmap_count))
		return;
	__u8 flags = block_u64(mb, map_hmap_flags), b = block_u64(mb, map_hmap_b);
	st.buckets = block_u64(mb, map_hmap_buckets);
	st.nbuckets = 1ull << (b & 31);
	st.oldbuckets = block_u64(mb, map_hmap_oldbuckets);
	if (st.oldbuckets)
		st.noldbuckets = (flags & map_same_size_grow) ? st.nbuckets : st.nbuckets / 2;
	st.next = 0;
	out->truncated = st.nbuckets + st.noldbuckets > HEADER_MAX_GROUPS;
	bpf_loop(HEADER_MAX_SLOTS, header_hmap_step, &st, 0);
}
