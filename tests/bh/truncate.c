/* SPDX-License-Identifier: MIT */
/*
 * block_truncate_page and truncation through buffer heads (1 KiB blocks):
 *  - truncating to the middle of a mapped block that is not cached reads
 *    that block (one get_block, one bio), zeroes its tail and dirties it;
 *    after writeback the tail is zero on disk, and growing the file again
 *    reads zeroes there;
 *  - to the middle of a hole: one get_block, no read, nothing dirtied;
 *  - to a block boundary: nothing at all;
 *  - truncate_pagecache then invalidates: buffers wholly past the new size
 *    lose their mapping and their dirt and are not written, folios wholly
 *    past it are removed with their buffers freed (bh_live counts them).
 */
#include <errno.h>
#include <string.h>

#include "bhfs.h"
#include "helpers.h"

#define SEED_OLD 0x01d
#define SEED_NEW 0x2e3
#define BITS 10
#define BS (1U << BITS)
#define DEV_BYTES (4U << 20)
#define DEV_BASE 100
#define FILE_SIZE (3 * PAGE_SIZE)

/* A file of FILE_SIZE with every block mapped to old data on disk. */
static void make_file(struct bhfs *fs, char *model)
{
	t_fill_pattern(model, FILE_SIZE, 0, SEED_OLD);
	bhfs_dev_write(fs, (uint64_t)DEV_BASE * BS, model, FILE_SIZE);
	for (uint64_t b = 0; b < FILE_SIZE / BS; b++)
		bhfs_map(fs, b, DEV_BASE + b);
	i_size_write(&fs->inode, FILE_SIZE);
}

static void check_file(struct bhfs *fs, const char *model, uint64_t size)
{
	char *buf = t_malloc(size + 1);

	t_assert_eq(i_size_read(&fs->inode), size);
	t_assert_eq(bhfs_read(fs, 0, buf, size + 1), (ssize_t)size);
	if (memcmp(buf, model, size))
		t_fail("file data differs");
	free(buf);
}

static struct bh_stats stats_reset(void)
{
	struct bh_stats st;

	bh_get_stats(&st);
	bh_reset_stats();
	return st;
}

/* Mid-block into mapped data that is not cached. */
static void test_mapped_block(void)
{
	static char model[FILE_SIZE];
	uint64_t size = BS + 476;
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;
	char blk[BS];

	bhfs_create(&fs, BITS, DEV_BYTES);
	make_file(&fs, model);
	stats_reset();
	t_assert_eq(bhfs_truncate(&fs, size), 0);
	st = stats_reset();
	t_assert_eq(st.get_block_calls, 1);
	t_assert_eq(st.bios_submitted, 1);

	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, FGP_LOCK, &folio), 0);
	t_assert(buffer_dirty(bhfs_buffer(folio, 1)) && buffer_mapped(bhfs_buffer(folio, 1)));
	for (unsigned int b = 2; b < 4; b++) {
		struct buffer_head *bh = bhfs_buffer(folio, b);

		t_assert(!buffer_mapped(bh) && !buffer_dirty(bh));
	}
	t_assert(!buffer_mapped(bhfs_buffer(folio, 0)));
	folio_unlock(folio);
	folio_put(folio);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 4);

	t_assert_eq(bhfs_sync(&fs), 0);
	st = stats_reset();
	t_assert_eq(st.bios_written, 1);
	bhfs_dev_read(&fs, (DEV_BASE + 1) * BS, blk, BS);
	t_assert(!memcmp(blk, model + BS, 476));
	t_assert(t_is_zero(blk + 476, BS - 476));

	memset(model + size, 0, FILE_SIZE - size);
	check_file(&fs, model, size);
	t_assert_eq(bhfs_truncate(&fs, FILE_SIZE), 0);
	check_file(&fs, model, FILE_SIZE);
	bhfs_drop_cache(&fs);
	check_file(&fs, model, FILE_SIZE);
	bhfs_destroy(&fs);
}

/* Mid-block into a hole, then at a block boundary. */
static void test_hole_and_aligned(void)
{
	static char model[FILE_SIZE];
	struct bhfs fs;
	struct folio *folio;
	struct bh_stats st;

	bhfs_create(&fs, BITS, DEV_BYTES);
	make_file(&fs, model);
	bhfs_map(&fs, 5, 0);
	memset(model + 5 * BS, 0, BS);
	stats_reset();
	t_assert_eq(bhfs_truncate(&fs, 5 * BS + 100), 0);
	st = stats_reset();
	t_assert_eq(st.get_block_calls, 1);
	t_assert_eq(st.bios_submitted, 0);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 1, FGP_LOCK, &folio), 0);
	t_assert(!folio_test_dirty(folio));
	t_assert(!buffer_dirty(bhfs_buffer(folio, 1)));
	folio_unlock(folio);
	folio_put(folio);
	check_file(&fs, model, 5 * BS + 100);

	stats_reset();
	t_assert_eq(bhfs_truncate(&fs, 2 * BS), 0);
	st = stats_reset();
	t_assert_eq(st.get_block_calls, 0);
	t_assert_eq(st.bios_submitted, 0);
	check_file(&fs, model, 2 * BS);
	t_assert_eq(bhfs_sync(&fs), 0);
	bh_get_stats(&st);
	t_assert_eq(st.bios_written, 0);
	bhfs_destroy(&fs);
}

/* Truncating dirty cached data: what is cut is neither written nor kept. */
static void test_dirty_cache(void)
{
	static char model[FILE_SIZE];
	uint64_t size = PAGE_SIZE + 904; /* inside block 4 */
	struct bhfs fs;
	struct bh_stats st;
	char *buf = t_malloc(FILE_SIZE);

	bhfs_create(&fs, BITS, DEV_BYTES);
	t_fill_pattern(buf, FILE_SIZE, 0, SEED_NEW);
	t_assert_eq(bhfs_write(&fs, 0, buf, FILE_SIZE), FILE_SIZE);
	memcpy(model, buf, FILE_SIZE);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 3 * 4);
	stats_reset();
	t_assert_eq(bhfs_truncate(&fs, size), 0);
	st = stats_reset();
	t_assert_eq(st.bh_live, 2 * 4); /* folio 2 removed, its buffers freed */
	t_assert_eq(st.bios_submitted, 0); /* block 4 was uptodate */
	t_assert_eq(mapping_nr_folios(fs.inode.i_mapping), 2);
	t_assert_eq(bhfs_sync(&fs), 0);
	bh_get_stats(&st);
	t_assert_eq(st.bios_written, 4 + 1);
	bhfs_drop_cache(&fs);
	check_file(&fs, model, size);
	bhfs_destroy(&fs);
	free(buf);
}

/* The invalidate_folio helper on its own: partial ranges keep the ring. */
static void test_invalidate_partial(void)
{
	struct bhfs fs;
	struct folio *folio;
	char buf[PAGE_SIZE];

	bhfs_create(&fs, BITS, DEV_BYTES);
	memset(buf, 7, sizeof(buf));
	t_assert_eq(bhfs_write(&fs, 0, buf, PAGE_SIZE), PAGE_SIZE);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, FGP_LOCK, &folio), 0);
	/* A range that covers no block whole touches nothing. */
	block_invalidate_folio(folio, 100, 1500);
	for (unsigned int b = 0; b < 4; b++)
		t_assert(buffer_dirty(bhfs_buffer(folio, b)) &&
			 buffer_mapped(bhfs_buffer(folio, b)));
	block_invalidate_folio(folio, BS, 2 * BS);
	t_assert(buffer_dirty(bhfs_buffer(folio, 0)) && buffer_dirty(bhfs_buffer(folio, 3)));
	t_assert(!buffer_dirty(bhfs_buffer(folio, 1)) && !buffer_mapped(bhfs_buffer(folio, 2)));
	t_assert(folio_buffers(folio) != NULL);
	/* A referenced buffer keeps the ring. */
	get_bh(bhfs_buffer(folio, 1));
	block_invalidate_folio(folio, 0, PAGE_SIZE);
	t_assert(folio_buffers(folio) != NULL);
	put_bh(bhfs_buffer(folio, 1));
	t_assert(try_to_free_buffers(folio));
	t_assert(folio_buffers(folio) == NULL);
	t_assert(!folio_test_dirty(folio));
	folio_unlock(folio);
	folio_put(folio);
	bhfs_destroy(&fs);
}

int main(void)
{
	struct bh_stats st;

	test_mapped_block();
	test_hole_and_aligned();
	test_dirty_cache();
	test_invalidate_partial();
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	return T_EXIT_PASS;
}
