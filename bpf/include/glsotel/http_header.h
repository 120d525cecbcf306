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
/* Swiss: groups read (8 hold <= 55 server-parsed headers, 64 hold 447).
 * Hmap: bucket reads, overflow included (32 headers measured 9). A scan
 * stops as soon as it has every wanted header, so the bound costs only
 * requests that carry that many headers; beyond it a scan that did not
 * find everything is counted (COUNTER_HEADERS_TRUNCATED). */
#define HEADER_MAX_GROUPS 64
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
	__u32 found; /* enum header_found bits */
	__u32 _pad;
};

struct header_scan {
	struct header_values *out;
	__u32 want;
	/* swiss */
	__u64 groups, ngroups, ctrl;
	/* every slot was seen (the scan did not stop at its bound) */
	__u32 complete;
	/* hmap */
	__u64 buckets, nbuckets, oldbuckets, noldbuckets, cur, next, idx, tophash;
	__u32 phase;
};

/* lit_word is bytes [off, off+8) of the lowercase name lit (n bytes, zero
 * past them) as a little-endian word; with case set, the word that has
 * 0x20 at each letter instead. Folded to constants: lit is a literal. */
static __always_inline __u64 lit_word(const char *lit, int n, int off, int mask)
{
	__u64 w = 0;
#pragma unroll
	for (int i = 0; i < 8; i++) {
		__u8 c = off + i < n ? (__u8)lit[off + i] : 0;
		if (mask)
			c = c >= 'a' && c <= 'z' ? 0x20 : 0;
		w |= (__u64)c << (8 * i);
	}
	return w;
}

/* key_is compares a header name (its bytes in k, zero past them) with a
 * lowercase one, ignoring ASCII case: a client may set non-canonical keys
 * (h["traceparent"] = ...), which Go sends as they are. Setting bit 0x20
 * at letter positions lowercases exactly the letters; branch-free, so the
 * verifier keeps one state per key compared. */
static __always_inline int key_is(const __u64 k[2], const char *lit, int n)
{
	return (((k[0] | lit_word(lit, n, 0, 1)) ^ lit_word(lit, n, 0, 0)) |
		((k[1] | lit_word(lit, n, 8, 1)) ^ lit_word(lit, n, 8, 0))) == 0;
}

/* header_match returns which wanted header the key k names (0: none) and
 * marks it found. */
static __always_inline __u32 header_match(struct header_scan *st, const struct go_hdr *k)
{
	__u64 name[2] = {};
	__u32 bit = 0;
	if (k->len == 11 && (st->want & HEADER_TRACEPARENT)) {
		if (bpf_probe_read_user(name, 11, (void *)k->ptr))
			goto unreadable;
		if (key_is(name, "traceparent", 11))
			bit = HEADER_TRACEPARENT;
	} else if (k->len == 10 && (st->want & (HEADER_TRACESTATE | HEADER_USER_AGENT))) {
		if (bpf_probe_read_user(name, 10, (void *)k->ptr))
			goto unreadable;
		if (key_is(name, "tracestate", 10))
			bit = HEADER_TRACESTATE;
		else if (key_is(name, "user-agent", 10))
			bit = HEADER_USER_AGENT;
	} else if (k->len == 7 && (st->want & HEADER_BAGGAGE)) {
		if (bpf_probe_read_user(name, 7, (void *)k->ptr))
			goto unreadable;
		if (key_is(name, "baggage", 7))
			bit = HEADER_BAGGAGE;
	}
	bit &= st->want;
	st->want &= ~bit;
	st->out->found |= bit;
	return bit;
unreadable:
	count(COUNTER_HEADERS_UNREADABLE);
	return 0;
}

/* header_store keeps the first value of header bit, whose values are the
 * []string vals. */
static __always_inline void header_store(struct header_scan *st, __u32 bit, const struct go_hdr *vals)
{
	struct go_hdr v = {};
	if (!vals->ptr || vals->len == 0)
		return;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)vals->ptr)) {
		count(COUNTER_HEADERS_UNREADABLE);
		return;
	}
	__u32 n;
	if (bit == HEADER_TRACEPARENT)
		n = st->out->traceparent.len = go_str_bytes(st->out->traceparent.s, sizeof(st->out->traceparent.s), v.ptr, v.len);
	else if (bit == HEADER_TRACESTATE)
		n = st->out->w3c.tracestate.len =
			go_str_bytes(st->out->w3c.tracestate.s, sizeof(st->out->w3c.tracestate.s), v.ptr, v.len);
	else if (bit == HEADER_BAGGAGE)
		n = st->out->w3c.baggage.len = go_str_bytes(st->out->w3c.baggage.s, sizeof(st->out->w3c.baggage.s), v.ptr, v.len);
	else
		n = st->out->user_agent.len = go_str_bytes(st->out->user_agent.s, sizeof(st->out->user_agent.s), v.ptr, v.len);
	if (n == 0 && v.len)
		count(COUNTER_HEADERS_UNREADABLE);
}

/* slot_hdr copies the header at off in a group block. A helper, not a
 * load: off varies with the slot, which a map value access would make the
 * verifier track slot by slot. */
static __always_inline void slot_hdr(struct go_hdr *dst, const struct block *blk, __u64 off)
{
	if (bpf_probe_read_kernel(dst, sizeof(*dst), blk->b + (off & (BLOCK_MAX - 1))))
		dst->ptr = dst->len = 0;
}

/* x86-64 pages: where a read of user memory can start failing. */
#define USER_PAGE_SIZE 4096
#define CTRL_EMPTY_BITS 0x8080808080808080ull

/* read_group copies the swiss group at addr into block slot bs (blk) and
 * returns its control word, whose slots that could not be read are marked
 * empty (and counted when they were full). A group's read can fail as a
 * whole where it runs onto a page the program never touched: fresh heap
 * pages are not zeroed until written, and a probe cannot fault them in.
 * Its last slots are then empty, for a written slot makes its page
 * present: the part up to the page's end holds every full slot. */
static __always_inline __u64 read_group(struct block *blk, __u32 bs, __u64 addr)
{
	if (read_block(bs, addr, map_group_size))
		return block_u64(blk, 0);
	__u64 head = USER_PAGE_SIZE - (addr & (USER_PAGE_SIZE - 1));
	if (head >= map_group_size || head < map_group_slots ||
	    bpf_probe_read_user(blk->b, head & (BLOCK_MAX - 1), (void *)addr)) {
		count(COUNTER_HEADERS_UNREADABLE);
		return ~0ull; /* nothing readable: every slot empty */
	}
	__u64 ctrl = block_u64(blk, 0);
	/* Slots from nfit on are (partly) past the page: not read. */
	__u64 nfit = (head - map_group_slots) / map_slot_size;
	__u64 past = (~0ull << ((8 * nfit) & 63)) & CTRL_EMPTY_BITS;
	if (~ctrl & past)
		count(COUNTER_HEADERS_UNREADABLE); /* a full slot there */
	return ctrl | past;
}

static long header_swiss_step(__u64 i, void *data)
{
	struct header_scan *st = data;
	__u64 g = i / MAP_SLOTS, s = i % MAP_SLOTS;
	if (!st->want)
		return 1;
	if (g >= st->ngroups) {
		st->complete = 1;
		return 1;
	}
	/* The group, read whole when its first slot comes up: control word
	 * then slots. Block slot 2: the caller's own reads use 0 and 1. */
	__u32 bs = 2;
	struct block *blk = bpf_map_lookup_elem(&blocks, &bs);
	if (!blk)
		return 1;
	if (s == 0)
		st->ctrl = read_group(blk, bs, st->groups + g * map_group_size);
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
				if (st->phase || !st->noldbuckets) {
					st->complete = 1;
					return 1;
				}
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
	if (bpf_probe_read_user(&h, sizeof(h), (void *)(st->cur + map_bucket_keys + s * map_key_size))) {
		count(COUNTER_HEADERS_UNREADABLE);
		return 0;
	}
	__u32 bit = header_match(st, &h);
	if (!bit)
		return 0;
	if (bpf_probe_read_user(&h, sizeof(h), (void *)(st->cur + map_bucket_values + s * map_elem_size)))
		count(COUNTER_HEADERS_UNREADABLE);
	else
		header_store(st, bit, &h);
	return 0;
}

/* scan_done counts a scan that stopped at its bound without every wanted
 * header, or left part of the map unread. */
static __always_inline void scan_done(const struct header_scan *st, int unread)
{
	if (st->want && (!st->complete || unread))
		count(COUNTER_HEADERS_TRUNCATED);
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
		__u64 dir = block_u64(mb, map_dir_ptr), dirlen = block_u64(mb, map_dir_len);
		if (dirlen == 0) {
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
		bpf_loop(HEADER_MAX_SLOTS, header_swiss_step, &st, 0);
		/* Several tables (over 1024 slots): only the first was read. */
		scan_done(&st, dirlen > 1);
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
	bpf_loop(HEADER_MAX_SLOTS, header_hmap_step, &st, 0);
	scan_done(&st, 0);
}
