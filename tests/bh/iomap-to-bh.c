/* SPDX-License-Identifier: MIT */
/*
 * __block_write_begin_int driven by a struct iomap, as iomap does for an
 * IOMAP_F_BUFFER_HEAD mapping: buffers are mapped from the extent and
 * get_block is never called.  One folio per mapping type (1 KiB blocks):
 *  - MAPPED: b_blocknr from addr + (pos - offset); partial blocks are
 *    read from the disk, nothing else;
 *  - MAPPED | IOMAP_F_NEW, and MAPPED past EOF: New, zeroed around the
 *    write, not read;
 *  - HOLE: New and unmapped, zeroed; writeback asks get_block to allocate;
 *  - UNWRITTEN: mapped, Unwritten and New, never read; writeback asks
 *    get_block to convert;
 *  - DELALLOC: Delay, mapped and uptodate; writeback allocates;
 *  - a mapping that does not cover the write, and INLINE, fail with -EIO
 *    and leave no New buffer holding stale memory;
 *  - the page_mkwrite sequence (begin over the whole folio, then
 *    block_commit_write) dirties every buffer.
 * At the end the whole file is written back, the cache dropped, and every
 * byte read back against a model.
 */
#include <errno.h>
#include <string.h>

#include "bhfs.h"
#include "helpers.h"
#include "iomap/iomap.h"

#define SEED_OLD 0x01d
#define SEED_NEW 0x2e3
#define BITS 10
#define BS (1U << BITS)
#define DEV_BYTES (4U << 20)
#define DEV_BASE 1000
#define FILE_SIZE (6 * PAGE_SIZE)

static struct bhfs fs;
static char model[16 * PAGE_SIZE];
static uint64_t model_size;

static struct iomap extent(uint16_t type, uint16_t flags, uint64_t offset, uint64_t length,
			   uint64_t dblock)
{
	struct iomap im = {
		.addr = type == IOMAP_MAPPED || type == IOMAP_UNWRITTEN ? dblock * BS :
									  IOMAP_NULL_ADDR,
		.offset = offset,
		.length = length,
		.type = type,
		.flags = flags,
		.bdev = fs.bdev,
	};
	return im;
}

/* Old data on disk for the file blocks of [offset, offset + length) at dblock. */
static void old_data(uint64_t offset, uint64_t length, uint64_t dblock)
{
	char *buf = t_malloc(length);

	t_fill_pattern(buf, length, offset, SEED_OLD);
	bhfs_dev_write(&fs, dblock * BS, buf, length);
	free(buf);
}

/* What the filesystem's own map says, for get_block at writeback and reads. */
static void fs_map(uint64_t offset, uint64_t length, uint64_t dblock)
{
	for (uint64_t b = 0; b < length / BS; b++)
		bhfs_map(&fs, offset / BS + b, dblock + b);
}

static struct folio *begin(uint64_t pos, size_t len, const struct iomap *im, int expect)
{
	struct folio *folio;

	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, pos >> PAGE_SHIFT, FGP_WRITEBEGIN,
				      &folio),
		    0);
	t_assert_eq(__block_write_begin_int(folio, pos, len, NULL, im), expect);
	return folio;
}

/* Copy, commit, grow i_size, unlock: iomap's write_end for a buffer-head mapping. */
static void end(struct folio *folio, uint64_t pos, size_t len)
{
	char *dst = folio_address(folio, (size_t)(pos - folio_pos(folio)));

	t_fill_pattern(dst, len, pos, SEED_NEW);
	memcpy(model + pos, dst, len);
	t_assert_eq(generic_write_end(fs.inode.i_mapping, pos, len, len, folio), len);
	if (pos + len > model_size)
		model_size = pos + len;
}

static void check_counts(uint64_t reads)
{
	struct bh_stats st;

	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, 0);
	t_assert_eq(atomic_load(&fs.get_block_calls), 0);
	t_assert_eq(st.bios_submitted, reads);
	bh_reset_stats();
}

static void expect_state(struct folio *folio, unsigned int b, bool mapped, bool isnew,
			 bool uptodate)
{
	struct buffer_head *bh = bhfs_buffer(folio, b);

	t_assert_eq(buffer_mapped(bh), mapped);
	t_assert_eq(buffer_new(bh), isnew);
	t_assert_eq(buffer_uptodate(bh), uptodate);
}

static void test_mapped(void)
{
	struct iomap im = extent(IOMAP_MAPPED, 0, 0, PAGE_SIZE, DEV_BASE);
	struct folio *folio;

	old_data(0, PAGE_SIZE, DEV_BASE);
	fs_map(0, PAGE_SIZE, DEV_BASE);
	t_fill_pattern(model, PAGE_SIZE, 0, SEED_OLD);
	folio = begin(100, BS, &im, 0);
	check_counts(2);
	expect_state(folio, 0, true, false, true);
	expect_state(folio, 1, true, false, true);
	expect_state(folio, 2, false, false, false);
	t_assert_eq(bhfs_buffer(folio, 1)->b_blocknr, DEV_BASE + 1);
	end(folio, 100, BS);

	/* An extent that starts inside the file: the block number is relative to it. */
	im = extent(IOMAP_MAPPED, 0, PAGE_SIZE, PAGE_SIZE, DEV_BASE + 50);
	old_data(PAGE_SIZE, PAGE_SIZE, DEV_BASE + 50);
	fs_map(PAGE_SIZE, PAGE_SIZE, DEV_BASE + 50);
	t_fill_pattern(model + PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, SEED_OLD);
	folio = begin(PAGE_SIZE + 2 * BS + 10, 100, &im, 0);
	check_counts(1);
	t_assert_eq(bhfs_buffer(folio, 2)->b_blocknr, DEV_BASE + 52);
	t_assert_eq(bhfs_buffer(folio, 2)->b_bdev == fs.bdev, 1);
	end(folio, PAGE_SIZE + 2 * BS + 10, 100);
}

static void test_new(void)
{
	uint64_t pos = 2 * PAGE_SIZE + 10;
	struct iomap im =
		extent(IOMAP_MAPPED, IOMAP_F_NEW, 2 * PAGE_SIZE, PAGE_SIZE, DEV_BASE + 100);
	struct folio *folio;

	old_data(2 * PAGE_SIZE, PAGE_SIZE, DEV_BASE + 100); /* stale: must never show */
	bhfs_map(&fs, 2 * PAGE_SIZE / BS, DEV_BASE + 100);
	folio = begin(pos, 100, &im, 0);
	check_counts(0);
	expect_state(folio, 0, true, true, false);
	t_assert(t_is_zero(folio->data, 10));
	t_assert(t_is_zero(folio_address(folio, 110), BS - 110));
	end(folio, pos, 100);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 2, FGP_LOCK, &folio), 0);
	expect_state(folio, 0, true, false, true);
	t_assert(buffer_dirty(bhfs_buffer(folio, 0)));
	folio_unlock(folio);
	folio_put(folio);
}

static void test_hole(void)
{
	uint64_t pos = 3 * PAGE_SIZE + 500;
	struct iomap im = extent(IOMAP_HOLE, 0, 3 * PAGE_SIZE, PAGE_SIZE, 0);
	struct folio *folio = begin(pos, 1000, &im, 0);

	check_counts(0);
	expect_state(folio, 0, false, true, false);
	expect_state(folio, 1, false, true, false);
	expect_state(folio, 2, false, false, false);
	t_assert(t_is_zero(folio->data, 500));
	t_assert(t_is_zero(folio_address(folio, 1500), 2 * BS - 1500));
	end(folio, pos, 1000);
}

static void test_unwritten(void)
{
	uint64_t pos = 4 * PAGE_SIZE + BS + 300;
	struct iomap im = extent(IOMAP_UNWRITTEN, 0, 4 * PAGE_SIZE, PAGE_SIZE, DEV_BASE + 200);
	struct folio *folio;

	old_data(4 * PAGE_SIZE, PAGE_SIZE, DEV_BASE + 200); /* stale: must never show */
	bhfs_map(&fs, 4 * PAGE_SIZE / BS + 1, DEV_BASE + 201); /* converted at writeback */
	folio = begin(pos, 200, &im, 0);
	check_counts(0);
	expect_state(folio, 1, true, true, false);
	t_assert(buffer_unwritten(bhfs_buffer(folio, 1)));
	t_assert_eq(bhfs_buffer(folio, 1)->b_blocknr, DEV_BASE + 201);
	t_assert(t_is_zero(folio_address(folio, BS), 300));
	t_assert(t_is_zero(folio_address(folio, BS + 500), BS - 500));
	end(folio, pos, 200);
}

static void test_delalloc(void)
{
	uint64_t pos = 5 * PAGE_SIZE + 3 * BS + 1000;
	struct iomap im = extent(IOMAP_DELALLOC, 0, 5 * PAGE_SIZE, PAGE_SIZE, 0);
	struct folio *folio = begin(pos, 24, &im, 0);

	check_counts(0);
	expect_state(folio, 3, true, true, true);
	t_assert(buffer_delay(bhfs_buffer(folio, 3)));
	t_assert(t_is_zero(folio_address(folio, 3 * BS), 1000));
	end(folio, pos, 24);
}

/* A MAPPED block with old data but wholly past EOF is New: never read. */
static void test_past_eof(void)
{
	uint64_t pos = FILE_SIZE + 10;
	struct iomap im = extent(IOMAP_MAPPED, 0, FILE_SIZE, PAGE_SIZE, DEV_BASE + 300);
	struct folio *folio;

	old_data(FILE_SIZE, PAGE_SIZE, DEV_BASE + 300);
	fs_map(FILE_SIZE, PAGE_SIZE, DEV_BASE + 300);
	folio = begin(pos, 20, &im, 0);
	check_counts(0);
	expect_state(folio, 0, true, true, false);
	t_assert(t_is_zero(folio->data, 10));
	t_assert(t_is_zero(folio_address(folio, 30), BS - 30));
	end(folio, pos, 20);
	t_assert_eq(i_size_read(&fs.inode), pos + 20);
}

static void test_errors(void)
{
	uint64_t fpos = 8 * PAGE_SIZE;
	struct iomap im = extent(IOMAP_MAPPED, IOMAP_F_NEW, fpos, BS, DEV_BASE + 400);
	struct folio *folio;

	/* The mapping ends inside the write: the block it did map must not keep stale memory. */
	folio = begin(fpos + 500, 1000, &im, -EIO);
	expect_state(folio, 0, true, false, true);
	t_assert(t_is_zero(folio->data, BS));
	folio_unlock(folio);
	folio_put(folio);
	/* What iomap's write_failed does: drop what the failed write instantiated past EOF. */
	truncate_pagecache(&fs.inode, i_size_read(&fs.inode));

	im = extent(IOMAP_INLINE, 0, fpos, PAGE_SIZE, 0);
	folio = begin(fpos, 10, &im, -EIO);
	t_assert_eq(__block_write_begin_int(folio, fpos, 10, NULL, NULL), -EINVAL);
	t_assert_eq(__block_write_begin_int(folio, fpos + 100, PAGE_SIZE, NULL, &im), -EINVAL);
	t_assert_eq(__block_write_begin_int(folio, fpos - 1, 10, NULL, &im), -EINVAL);
	folio_unlock(folio);
	folio_put(folio);
	truncate_pagecache(&fs.inode, i_size_read(&fs.inode));
	check_counts(0);
}

/* The page_mkwrite sequence over a folio that was read: every buffer dirty. */
static void test_mkwrite(void)
{
	struct iomap im = extent(IOMAP_MAPPED, 0, 0, PAGE_SIZE, DEV_BASE);
	struct folio *folio;

	t_assert_eq(bhfs_sync(&fs), 0);
	bhfs_drop_cache(&fs);
	folio = bhfs_read_folio(&fs, 0, 0);
	bh_reset_stats();
	atomic_store(&fs.get_block_calls, 0);
	folio_lock(folio);
	t_assert(!folio_test_dirty(folio));
	t_assert_eq(__block_write_begin_int(folio, 0, PAGE_SIZE, NULL, &im), 0);
	block_commit_write(folio, 0, PAGE_SIZE);
	check_counts(0);
	t_assert(folio_test_dirty(folio) && folio_test_uptodate(folio));
	for (unsigned int b = 0; b < PAGE_SIZE / BS; b++)
		t_assert(buffer_dirty(bhfs_buffer(folio, b)));
	folio_unlock(folio);
	folio_put(folio);
}

static void check_file(void)
{
	char *buf = t_malloc(model_size + 1);

	t_assert_eq(i_size_read(&fs.inode), model_size);
	t_assert_eq(bhfs_read(&fs, 0, buf, model_size + 1), (ssize_t)model_size);
	for (uint64_t i = 0; i < model_size; i++)
		if (buf[i] != model[i])
			t_fail("byte %llu differs", (unsigned long long)i);
	free(buf);
}

/* Writeback: get_block only for the HOLE (2 blocks), UNWRITTEN and DELALLOC buffers. */
static void test_writeback(void)
{
	struct bh_stats st;

	atomic_store(&fs.get_block_allocs, 0);
	bh_reset_stats();
	t_assert_eq(bhfs_sync(&fs), 0);
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, 4);
	t_assert_eq(atomic_load(&fs.get_block_allocs), 3); /* the unwritten block existed */
	t_assert_eq(st.bios_written, 2 + 1 + 1 + 2 + 1 + 1 + 1);
	check_file();
	bhfs_drop_cache(&fs);
	check_file();
}

int main(void)
{
	struct bh_stats st;

	bhfs_create(&fs, BITS, DEV_BYTES);
	i_size_write(&fs.inode, FILE_SIZE);
	model_size = FILE_SIZE;
	bh_reset_stats();
	test_mapped();
	test_new();
	test_hole();
	test_unwritten();
	test_delalloc();
	test_past_eof();
	test_errors();
	test_writeback();
	test_mkwrite();
	check_file();
	bhfs_destroy(&fs);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	return T_EXIT_PASS;
}
