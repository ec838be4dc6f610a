/* SPDX-License-Identifier: MIT */
/*
 * The per-file extent map: a sorted array of extents.  A test filesystem
 * has few extents per file, so an array with binary search is simpler than
 * a tree and fast enough.
 *
 * Invariants (checked by testfs_check()):
 *  1. ext[i].lblk + ext[i].len <= ext[i + 1].lblk (sorted, no overlap);
 *  2. 0 < len <= max_len;
 *  3. pblk == TESTFS_NO_BLOCK exactly for DELALLOC extents.
 * Callers hold the file's map_lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void testfs_ext_init(struct testfs_extmap *map, uint64_t max_len)
{
	memset(map, 0, sizeof(*map));
	map->max_len = max_len;
}

void testfs_ext_free(struct testfs_extmap *map)
{
	free(map->ext);
	map->ext = NULL;
	map->nr = map->cap = 0;
}

int testfs_ext_reserve(struct testfs_extmap *map, size_t extra)
{
	size_t want = map->nr + extra, cap;
	struct testfs_extent *ext;

	if (want <= map->cap)
		return 0;
	cap = tfs_max(want, map->cap * 2);
	cap = tfs_max(cap, (size_t)8);
	ext = realloc(map->ext, cap * sizeof(*ext));
	if (!ext)
		return -ENOMEM;
	map->ext = ext;
	map->cap = cap;
	return 0;
}

size_t testfs_ext_find(const struct testfs_extmap *map, uint64_t lblk)
{
	size_t lo = 0, hi = map->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (testfs_ext_end(&map->ext[mid]) > lblk)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static bool ext_mergeable(const struct testfs_extmap *map, const struct testfs_extent *a,
			  const struct testfs_extent *b)
{
	if (a->state != b->state || testfs_ext_end(a) != b->lblk)
		return false;
	if (a->len + b->len > map->max_len)
		return false;
	return a->state == TESTFS_EXT_DELALLOC || a->pblk + a->len == b->pblk;
}

static void ext_delete(struct testfs_extmap *map, size_t i)
{
	memmove(&map->ext[i], &map->ext[i + 1], (map->nr - i - 1) * sizeof(map->ext[0]));
	map->nr--;
}

/* Make room at index @i (the caller reserved a slot). */
static void ext_open_slot(struct testfs_extmap *map, size_t i)
{
	memmove(&map->ext[i + 1], &map->ext[i], (map->nr - i) * sizeof(map->ext[0]));
	map->nr++;
}

/* Merge ext[i] with its neighbours where allowed.  Merging never needs a slot. */
static void ext_merge_around(struct testfs_extmap *map, size_t i)
{
	if (i + 1 < map->nr && ext_mergeable(map, &map->ext[i], &map->ext[i + 1])) {
		map->ext[i].len += map->ext[i + 1].len;
		ext_delete(map, i + 1);
	}
	if (i > 0 && ext_mergeable(map, &map->ext[i - 1], &map->ext[i])) {
		map->ext[i - 1].len += map->ext[i].len;
		ext_delete(map, i);
	}
}

void testfs_ext_insert(struct testfs_extmap *map, const struct testfs_extent *e)
{
	size_t i = testfs_ext_find(map, e->lblk);

	ext_open_slot(map, i);
	map->ext[i] = *e;
	ext_merge_around(map, i);
}

/* Drop the first @n blocks of @e. */
static void ext_cut_front(struct testfs_extent *e, uint64_t n)
{
	e->lblk += n;
	e->len -= n;
	if (e->state != TESTFS_EXT_DELALLOC)
		e->pblk += n;
}

/* The part of @e from file block @lblk on, @len blocks long. */
static struct testfs_extent ext_piece(const struct testfs_extent *e, uint64_t lblk,
				      uint64_t len)
{
	struct testfs_extent p = *e;

	ext_cut_front(&p, lblk - e->lblk);
	p.len = len;
	return p;
}

/*
 * Remove the overlap of [lblk, end) with ext[i].  Returns the index to look
 * at next.
 */
static size_t ext_remove_one(struct testfs_extmap *map, size_t i, uint64_t lblk, uint64_t end,
			     testfs_ext_release_t release, void *arg)
{
	struct testfs_extent *e = &map->ext[i];
	uint64_t from = tfs_max(lblk, e->lblk), to = tfs_min(end, testfs_ext_end(e));
	struct testfs_extent cut = ext_piece(e, from, to - from);

	release(arg, &cut);
	if (from == e->lblk && to == testfs_ext_end(e)) {
		ext_delete(map, i);
		return i;
	}
	if (from == e->lblk) {
		ext_cut_front(e, to - from);
		return i + 1;
	}
	if (to == testfs_ext_end(e)) {
		e->len = from - e->lblk;
		return i + 1;
	}
	/* Strictly inside: split in two around the hole. */
	ext_open_slot(map, i + 1);
	e = &map->ext[i];
	map->ext[i + 1] = ext_piece(e, to, testfs_ext_end(e) - to);
	e->len = from - e->lblk;
	return i + 2;
}

void testfs_ext_remove(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
		       testfs_ext_release_t release, void *arg)
{
	uint64_t end = lblk + len;
	size_t i = testfs_ext_find(map, lblk);

	while (i < map->nr && map->ext[i].lblk < end)
		i = ext_remove_one(map, i, lblk, end, release, arg);
}

void testfs_ext_convert(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
			enum testfs_ext_state state, uint64_t pblk)
{
	size_t i = testfs_ext_find(map, lblk);
	struct testfs_extent old = map->ext[i];
	struct testfs_extent mid = { .lblk = lblk, .len = len, .pblk = pblk, .state = state };
	uint64_t end = lblk + len;

	if (old.lblk < lblk) {
		map->ext[i].len = lblk - old.lblk;
		ext_open_slot(map, ++i);
	}
	map->ext[i] = mid;
	if (end < testfs_ext_end(&old)) {
		ext_open_slot(map, i + 1);
		map->ext[i + 1] = ext_piece(&old, end, testfs_ext_end(&old) - end);
	}
	ext_merge_around(map, i);
}

/* The next extent at or after @cur, below @end, in state @state; nr if none. */
static size_t ext_next_in_state(const struct testfs_extmap *map, uint64_t cur, uint64_t end,
				enum testfs_ext_state state)
{
	for (size_t i = testfs_ext_find(map, cur); i < map->nr && map->ext[i].lblk < end; i++)
		if (map->ext[i].state == state)
			return i;
	return map->nr;
}

int64_t testfs_ext_convert_state(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
				 enum testfs_ext_state from, enum testfs_ext_state to)
{
	uint64_t cur = lblk, end = lblk + len;
	int64_t done = 0;

	for (;;) {
		size_t i = ext_next_in_state(map, cur, end, from);
		uint64_t start, stop, pblk;

		if (i == map->nr)
			return done;
		start = tfs_max(cur, map->ext[i].lblk);
		stop = tfs_min(end, testfs_ext_end(&map->ext[i]));
		pblk = map->ext[i].pblk + (start - map->ext[i].lblk);
		if (testfs_ext_reserve(map, 2))
			return -ENOMEM;
		testfs_ext_convert(map, start, stop - start, to, pblk);
		done += (int64_t)(stop - start);
		cur = stop;
	}
}

uint64_t testfs_ext_remove_state(struct testfs_extmap *map, uint64_t lblk, uint64_t len,
				 enum testfs_ext_state state, testfs_ext_release_t release,
				 void *arg)
{
	uint64_t cur = lblk, end = lblk + len, removed = 0;

	for (;;) {
		size_t i = ext_next_in_state(map, cur, end, state);
		uint64_t start, stop;

		if (i == map->nr)
			return removed;
		start = tfs_max(cur, map->ext[i].lblk);
		stop = tfs_min(end, testfs_ext_end(&map->ext[i]));
		ext_remove_one(map, i, start, stop, release, arg);
		removed += stop - start;
		cur = stop;
	}
}
