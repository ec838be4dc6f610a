/* SPDX-License-Identifier: MIT */
/*
 * Reads through buffer heads, at block sizes 512, 1024, 2048 and 4096:
 *  - block_read_full_folio calls get_block exactly once per block that is
 *    below EOF and not yet mapped, and never for blocks past EOF;
 *  - holes and blocks past EOF are zeroed in memory and need no I/O;
 *    every mapped block is read with one bio of its own;
 *  - the folio is uptodate once every buffer is, and a second read of a
 *    folio whose buffers are mapped calls get_block no more;
 *  - the counters are exact: a 4 KiB folio holds 4096 / bs buffer heads,
 *    each costing one slab slot, and dropping the cache frees them all;
 *  - a get_block error or a device read error leaves the folio and the
 *    failed buffer not uptodate, while block_is_partially_uptodate still
 *    answers for the blocks that were read.
 */
#include <errno.h>
#include <string.h>

#include "bhfs.h"
#include "helpers.h"

#define SEED 0x4ead
#define DEV_BYTES (1U << 20)
#define DEV_BASE 100 /* device block of file block 0, when mapped */

static unsigned int blocks_per_page(const struct bhfs *fs)
{
	return (unsigned int)(PAGE_SIZE >> fs->inode.i_blkbits);
}

/* Map every other block of the first three pages (even blocks), with data. */
static unsigned int map_even_blocks(struct bhfs *fs)
{
	unsigned int bs = i_blocksize(&fs->inode), n = 3 * blocks_per_page(fs), mapped = 0;
	char *buf = t_malloc(bs);

	for (unsigned int b = 0; b < n; b += 2) {
		t_fill_pattern(buf, bs, (uint64_t)b * bs, SEED);
		bhfs_dev_write(fs, (uint64_t)(DEV_BASE + b) * bs, buf, bs);
		bhfs_map(fs, b, DEV_BASE + b);
		mapped++;
	}
	free(buf);
	return mapped;
}

static void check_block(struct folio *folio, unsigned int b, unsigned int bs, bool mapped)
{
	const char *data = folio_address(folio, (size_t)b * bs);
	uint64_t pos = folio_pos(folio) + (uint64_t)b * bs;

	if (mapped) {
		if (t_check_pattern(data, bs, pos, SEED) >= 0)
			t_fail("block at %llu does not hold the disk data",
			       (unsigned long long)pos);
	} else if (!t_is_zero(data, bs)) {
		t_fail("hole at %llu not zeroed", (unsigned long long)pos);
	}
}

/* The first page: all below EOF, half mapped. */
static void test_first_folio(struct bhfs *fs, unsigned int mapped_in_page)
{
	unsigned int bs = i_blocksize(&fs->inode), n = blocks_per_page(fs);
	struct bh_stats st;
	struct folio *folio;

	bh_reset_stats();
	atomic_store(&fs->get_block_calls, 0);
	folio = bhfs_read_folio(fs, 0, 0);
	t_assert(folio_test_uptodate(folio));
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, n);
	t_assert_eq(atomic_load(&fs->get_block_calls), n);
	t_assert_eq(st.bios_submitted, mapped_in_page);
	t_assert_eq(st.bios_written, 0);
	t_assert_eq(bhfs_dev_bios_read(fs), mapped_in_page);
	t_assert_eq(st.bh_live, n);
	t_assert_eq(st.bytes_live, (uint64_t)n * st.slot_size);
	t_assert_eq(bhfs_nr_buffers(folio), n);
	for (unsigned int b = 0; b < n; b++) {
		struct buffer_head *bh = bhfs_buffer(folio, b);

		t_assert(buffer_uptodate(bh));
		t_assert(!buffer_locked(bh) && !buffer_async_read(bh) && !buffer_dirty(bh));
		t_assert_eq(bh->b_size, bs);
		t_assert(bh->b_data == folio_address(folio, (size_t)b * bs));
		t_assert_eq(bh_offset(bh), (size_t)b * bs);
		t_assert(bh->b_folio == folio);
		t_assert_eq(buffer_mapped(bh), b % 2 == 0);
		if (b % 2 == 0)
			t_assert_eq(bh->b_blocknr, DEV_BASE + b);
		check_block(folio, b, bs, b % 2 == 0);
	}
	folio_put(folio);
}

/*
 * The second page straddles EOF at one and a half blocks in: blocks past
 * EOF get no get_block call and read as zeroes.
 */
static void test_eof_folio(struct bhfs *fs)
{
	unsigned int bs = i_blocksize(&fs->inode), n = blocks_per_page(fs);
	uint64_t below_eof = bs == PAGE_SIZE ? 1 : 2; /* blocks of page 1 below EOF */
	bool first_mapped = n % 2 == 0; /* global block n is even */
	struct bh_stats st;
	struct folio *folio;

	bh_reset_stats();
	folio = bhfs_read_folio(fs, 1, 0);
	t_assert(folio_test_uptodate(folio));
	bh_get_stats(&st);
	t_assert_eq(st.get_block_calls, below_eof);
	t_assert_eq(st.bios_submitted, first_mapped);
	check_block(folio, 0, bs, first_mapped);
	for (unsigned int b = 1; b < n; b++)
		check_block(folio, b, bs, false); /* hole, or past EOF although mapped */
	folio_put(folio);
}

/* Buffers already mapped: a re-read after the data was lost calls no get_block. */
static void test_reread_mapped(struct bhfs *fs, unsigned int mapped_in_page)
{
	unsigned int n = blocks_per_page(fs);
	struct folio *folio;
	struct bh_stats st;

	t_assert_eq(filemap_get_folio(fs->inode.i_mapping, 0, FGP_LOCK, &folio), 0);
	folio_clear_uptodate(folio);
	for (unsigned int b = 0; b < n; b += 2)
		clear_buffer_uptodate(bhfs_buffer(folio, b));
	memset(folio->data, 0xaa, PAGE_SIZE);
	for (unsigned int b = 1; b < n; b += 2)
		memset(folio_address(folio, (size_t)b * (PAGE_SIZE / n)), 0, PAGE_SIZE / n);
	bh_reset_stats();
	t_assert_eq(block_read_full_folio(folio, bhfs_get_block), 0);
	folio_wait_locked(folio);
	bh_get_stats(&st);
	t_assert(folio_test_uptodate(folio));
	t_assert_eq(st.get_block_calls, 0);
	t_assert_eq(st.bios_submitted, mapped_in_page);
	for (unsigned int b = 0; b < n; b++)
		check_block(folio, b, (unsigned int)(PAGE_SIZE / n), b % 2 == 0);
	folio_put(folio);
}

static void test_filemap_read(struct bhfs *fs)
{
	unsigned int bs = i_blocksize(&fs->inode);
	uint64_t size = i_size_read(&fs->inode);
	char *buf = t_malloc(size);

	t_assert_eq(bhfs_read(fs, 0, buf, size), (ssize_t)size);
	for (uint64_t b = 0; b * bs < size; b++) {
		size_t len = (size_t)(size - b * bs < bs ? size - b * bs : bs);

		if (b % 2 == 0)
			t_assert(t_check_pattern(buf + b * bs, len, b * bs, SEED) < 0);
		else
			t_assert(t_is_zero(buf + b * bs, len));
	}
	free(buf);
}

static void test_drop(struct bhfs *fs)
{
	struct bh_stats st;

	bhfs_drop_cache(fs);
	t_assert_eq(mapping_nr_folios(fs->inode.i_mapping), 0);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	t_assert_eq(st.bytes_live, 0);
}

static void run_block_size(unsigned int bits)
{
	struct bhfs fs;
	unsigned int bs = 1U << bits, n;
	struct bh_stats st;

	bhfs_create(&fs, bits, DEV_BYTES);
	n = blocks_per_page(&fs);
	t_assert_eq(map_even_blocks(&fs), (3 * n + 1) / 2);
	i_size_write(&fs.inode, PAGE_SIZE + bs + bs / 2);
	test_first_folio(&fs, (n + 1) / 2);
	test_eof_folio(&fs);
	test_reread_mapped(&fs, (n + 1) / 2);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 2 * n);
	t_assert_eq(st.bh_peak, 2 * n);
	t_assert_eq(st.bytes_peak, 2ULL * n * st.slot_size);
	test_drop(&fs);
	test_filemap_read(&fs);
	test_drop(&fs);
	bhfs_destroy(&fs);
}

/* get_block fails for one block: the others are still read. */
static void test_get_block_error(void)
{
	struct bhfs fs;
	struct folio *folio;
	unsigned int bs = 1024;

	bhfs_create(&fs, 10, DEV_BYTES);
	map_even_blocks(&fs);
	i_size_write(&fs.inode, 2 * PAGE_SIZE);
	atomic_store(&fs.fail_iblock, 1);
	folio = bhfs_read_folio(&fs, 0, -EIO);
	t_assert(!folio_test_uptodate(folio));
	t_assert(!buffer_uptodate(bhfs_buffer(folio, 1)));
	for (unsigned int b = 0; b < 4; b++)
		if (b != 1)
			t_assert(buffer_uptodate(bhfs_buffer(folio, b)));
	folio_lock(folio);
	t_assert(block_is_partially_uptodate(folio, 0, bs));
	t_assert(block_is_partially_uptodate(folio, 2 * bs + 10, bs));
	t_assert(!block_is_partially_uptodate(folio, bs - 1, 2));
	t_assert(!block_is_partially_uptodate(folio, 0, PAGE_SIZE));
	t_assert(!block_is_partially_uptodate(folio, PAGE_SIZE, 1));
	folio_unlock(folio);
	/* The filesystem recovers: the next read fixes just that block. */
	atomic_store(&fs.fail_iblock, BHFS_NO_FAIL);
	atomic_store(&fs.get_block_calls, 0);
	folio_lock(folio);
	t_assert_eq(block_read_full_folio(folio, bhfs_get_block), 0);
	folio_wait_locked(folio);
	t_assert(folio_test_uptodate(folio));
	t_assert_eq(atomic_load(&fs.get_block_calls), 1);
	folio_put(folio);
	bhfs_destroy(&fs);
}

/* A mapped block whose bio fails (beyond the device): only it is not uptodate. */
static void test_io_error(void)
{
	struct bhfs fs;
	struct folio *folio;

	bhfs_create(&fs, 10, DEV_BYTES);
	map_even_blocks(&fs);
	bhfs_map(&fs, 3, fs.dev_blocks + 7);
	i_size_write(&fs.inode, PAGE_SIZE);
	folio = bhfs_read_folio(&fs, 0, 0);
	t_assert(!folio_test_uptodate(folio));
	t_assert(!buffer_uptodate(bhfs_buffer(folio, 3)));
	t_assert(buffer_uptodate(bhfs_buffer(folio, 0)));
	t_assert(buffer_uptodate(bhfs_buffer(folio, 1)));
	t_assert(!buffer_locked(bhfs_buffer(folio, 3)));
	folio_put(folio);
	bhfs_destroy(&fs);
}

int main(void)
{
	struct bh_stats st;

	bh_get_stats(&st);
	t_assert_eq(st.slot_size, (sizeof(struct buffer_head) + 7) / 8 * 8);
	if (sizeof(void *) == 8) {
		t_assert_eq(sizeof(struct buffer_head), 80);
		t_assert_eq(st.slot_size, 80);
	}
	for (unsigned int bits = 9; bits <= 12; bits++)
		run_block_size(bits);
	test_get_block_error();
	test_io_error();
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	return T_EXIT_PASS;
}
