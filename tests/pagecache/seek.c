/* SPDX-License-Identifier: MIT */
/*
 * mapping_seek_hole_data: missing folios are holes, uptodate and dirty
 * folios are data, other folios are searched block by block (1 KiB blocks
 * here) through ->is_partially_uptodate, or are holes without it.  Covers
 * unaligned starts, the @end limit, large folios, and the error returns.
 *
 * Cache layout, by page: 0 uptodate | 1 missing | 2 dirty, not uptodate |
 * 3 blocks 1 and 3 valid | 4 missing | 5 nothing valid | 6-7 one order-1
 * folio with only its block 5 valid | nothing after.
 */
#include <errno.h>
#include <unistd.h>

#include "helpers.h"
#include "pc-helpers.h"

#define P PAGE_SIZE
#define END (10 * P)

/* folio->private: mask of valid 1 KiB blocks. */
static bool blocks_valid(struct folio *folio, size_t from, size_t count)
{
	uintptr_t mask = (uintptr_t)folio->private;

	if (!folio_test_locked(folio))
		t_fail("is_partially_uptodate on an unlocked folio");
	for (size_t b = from / 1024; b * 1024 < from + count; b++)
		if (!(mask & (1U << b)))
			return false;
	return true;
}

static void clear_private(struct folio *folio, size_t offset, size_t len)
{
	if (offset == 0 && len == folio_size(folio))
		folio->private = NULL;
}

static const struct address_space_ops seek_aops = {
	.read_folio = t_sync_read_folio,
	.is_partially_uptodate = blocks_valid,
	.invalidate_folio = clear_private,
};

static void add(struct t_file *f, uint64_t index, unsigned int order, uintptr_t valid,
		uint32_t state)
{
	struct folio *folio = folio_alloc(mapping_cache(f->inode.i_mapping), order);

	t_assert(folio);
	folio_lock(folio);
	t_assert_eq(filemap_add_folio(f->inode.i_mapping, folio, index), 0);
	folio->private = (void *)valid;
	if (state & FOLIO_UPTODATE)
		folio_mark_uptodate(folio);
	if (state & FOLIO_DIRTY)
		folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
}

static void setup(struct t_file *f, struct pagecache *cache, const struct address_space_ops *aops)
{
	t_file_init(f, cache, aops, END, 1);
	f->inode.i_blkbits = 10;
	add(f, 0, 0, 0, FOLIO_UPTODATE);
	add(f, 2, 0, 0, FOLIO_DIRTY);
	add(f, 3, 0, 0xa, 0);
	add(f, 5, 0, 0, 0);
	add(f, 6, 1, 1U << 5, 0);
}

static void expect(struct t_file *f, uint64_t start, uint64_t end, int whence, int64_t want)
{
	int64_t got = mapping_seek_hole_data(f->inode.i_mapping, start, end, whence);

	if (got != want)
		t_fail("%s(%llu, end %llu) = %lld, expected %lld",
		       whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE", (unsigned long long)start,
		       (unsigned long long)end, (long long)got, (long long)want);
}

static void test_with_blocks(struct pagecache *cache)
{
	struct t_file f;

	setup(&f, cache, &seek_aops);
	expect(&f, 0, END, SEEK_DATA, 0);
	expect(&f, 1000, END, SEEK_DATA, 1000);
	expect(&f, 0, END, SEEK_HOLE, P);
	expect(&f, P, END, SEEK_DATA, 2 * P);
	expect(&f, P + 5, END, SEEK_HOLE, P + 5);
	expect(&f, 2 * P, END, SEEK_HOLE, 3 * P);
	expect(&f, 3 * P, END, SEEK_DATA, 3 * P + 1024);
	expect(&f, 3 * P + 12, END, SEEK_DATA, 3 * P + 1024);
	expect(&f, 3 * P + 1024, END, SEEK_HOLE, 3 * P + 2048);
	expect(&f, 3 * P + 1212, END, SEEK_HOLE, 3 * P + 2048);
	expect(&f, 3 * P + 2048, END, SEEK_DATA, 3 * P + 3072);
	expect(&f, 3 * P + 3072, END, SEEK_HOLE, 4 * P);
	expect(&f, 4 * P, END, SEEK_DATA, 6 * P + 5 * 1024);
	expect(&f, 6 * P, END, SEEK_HOLE, 6 * P);
	expect(&f, 6 * P + 5 * 1024, END, SEEK_HOLE, 6 * P + 6 * 1024);
	expect(&f, 6 * P + 6 * 1024, END, SEEK_DATA, -ENXIO);
	expect(&f, 9 * P, END, SEEK_HOLE, 9 * P);

	/* The end limit. */
	expect(&f, 0, 2048, SEEK_HOLE, 2048);
	expect(&f, 0, 2048, SEEK_DATA, 0);
	expect(&f, 2 * P, 3 * P, SEEK_HOLE, 3 * P);
	expect(&f, P, 2 * P - 100, SEEK_DATA, -ENXIO);
	expect(&f, 4 * P, 6 * P + 5 * 1024, SEEK_DATA, -ENXIO);
	expect(&f, 4 * P, 6 * P + 5 * 1024 + 1, SEEK_DATA, 6 * P + 5 * 1024);
	expect(&f, 3 * P + 1024, 3 * P + 1500, SEEK_HOLE, 3 * P + 1500);

	/* Errors. */
	expect(&f, 5, 5, SEEK_DATA, -ENXIO);
	expect(&f, 6, 5, SEEK_HOLE, -ENXIO);
	t_assert_eq(mapping_seek_hole_data(f.inode.i_mapping, 0, END, SEEK_SET), -EINVAL);
	inode_destroy(&f.inode);
}

/* Without ->is_partially_uptodate a folio that is not uptodate is a hole (unless dirty). */
static void test_without_blocks(struct pagecache *cache)
{
	static const struct address_space_ops plain = {
		.read_folio = t_sync_read_folio,
		.invalidate_folio = clear_private,
	};
	struct t_file f;

	setup(&f, cache, &plain);
	expect(&f, P, END, SEEK_DATA, 2 * P);
	expect(&f, 2 * P, END, SEEK_HOLE, 3 * P);
	expect(&f, 3 * P, END, SEEK_DATA, -ENXIO);
	expect(&f, 3 * P + 100, END, SEEK_HOLE, 3 * P + 100);
	inode_destroy(&f.inode);
}

/* An empty mapping is all hole. */
static void test_empty(struct pagecache *cache)
{
	struct t_file f;

	t_file_init(&f, cache, &seek_aops, END, 1);
	expect(&f, 0, END, SEEK_DATA, -ENXIO);
	expect(&f, 100, END, SEEK_HOLE, 100);
	inode_destroy(&f.inode);
}

int main(void)
{
	struct pagecache *cache = t_cache_create();

	test_with_blocks(cache);
	test_without_blocks(cache);
	test_empty(cache);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	return T_EXIT_PASS;
}
