/* SPDX-License-Identifier: MIT */
/*
 * Description: testfs in buffer-head mode (testfs_opts.buffer_heads) at
 * block sizes 512 to 4096, on a device full of stale 0xee bytes.  Writes
 * go through block_write_begin / generic_write_end with one get_block call
 * per block, reads through block_read_full_folio, writeback through
 * block_writepages; every folio carries one buffer head per block.  Data
 * survives fsync and a cache drop; preallocated blocks written become
 * MAPPED; truncation zeroes the EOF block's tail through buffers; zero
 * range, punch and direct I/O work on buffer-head folios; a write that
 * runs out of space leaves no block past EOF; inline data is refused.
 */
#include "t-testfs.h"

#include "iomap/buffer_head.h"

#define DEV_SIZE (16U << 20)
#define STALE 0xee

static void setup(struct t_fs *t, unsigned int bs, uint64_t dev)
{
	struct testfs_opts o = { .block_size = bs, .buffer_heads = true };

	t_fs_setup(t, dev, &o);
	t_dev_fill(t->bdev, STALE);
}

/* One get_block per block written, one buffer head per block cached. */
static void test_round_trip(unsigned int bs)
{
	uint64_t size = 64ULL * 1024 + 100, folios;
	struct bh_stats st;
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, DEV_SIZE);
	f = t_file(&t);
	bh_reset_stats();
	for (uint64_t pos = 0; pos < size; pos += 1000)
		t_write_pattern(f, pos, pos + 1000 > size ? size - pos : 1000, 1);
	bh_get_stats(&st);
	t_assert(st.get_block_calls >= (size + bs - 1) / bs);
	folios = mapping_nr_folios(testfs_inode(f)->i_mapping);
	t_assert_eq(st.bh_live, folios * (PAGE_SIZE / bs));
	t_assert_eq(st.bytes_live, st.bh_live * st.slot_size);
	t_check_pattern_at(f, 0, size, 1);
	t_fsync(f);
	t_assert_eq(testfs_disk_size(f), size);
	t_drop_all(f);
	bh_get_stats(&st);
	t_assert_eq(st.bh_live, 0);
	t_check_pattern_at(f, 0, size, 1);
	t_check_zero_at(f, size, 0);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Preallocated blocks: the ones written become MAPPED, the rest read as zeroes. */
static void test_unwritten(unsigned int bs)
{
	struct testfs_file *f;
	struct fiemap *fi;
	struct t_fs t;

	setup(&t, bs, DEV_SIZE);
	f = t_file(&t);
	t_assert_eq(testfs_fallocate(f, 0, 8ULL * bs, false), 0);
	t_write_pattern(f, 2ULL * bs + 1, bs, 2);
	t_fsync(f);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 3);
	t_assert_eq(fi->fm_extents[1].fe_logical, 2ULL * bs);
	t_assert_eq(fi->fm_extents[1].fe_length, 2ULL * bs);
	t_assert(!(fi->fm_extents[1].fe_flags & FIEMAP_EXTENT_UNWRITTEN));
	free(fi);
	t_drop_all(f);
	t_check_zero_at(f, 0, 2ULL * bs + 1);
	t_check_pattern_at(f, 2ULL * bs + 1, bs, 2);
	t_check_zero_at(f, 3ULL * bs + 1, 5ULL * bs - 1);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Truncate, zero range and punch on folios that carry buffer heads. */
static void test_truncate_zero_punch(unsigned int bs)
{
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, DEV_SIZE);
	f = t_file(&t);
	t_write_pattern(f, 0, 16ULL * bs, 3);
	t_fsync(f);
	t_assert_eq(testfs_truncate(f, 10ULL * bs + 7), 0);
	t_assert_eq(testfs_truncate(f, 12ULL * bs), 0);
	t_assert_eq(testfs_zero_range(f, bs + 3, bs), 0);
	t_assert_eq(testfs_punch_hole(f, 4ULL * bs, 2ULL * bs), 0);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 0, bs + 3, 3);
	t_check_zero_at(f, bs + 3, bs);
	t_check_pattern_at(f, 2ULL * bs + 3, 2ULL * bs - 3, 3);
	t_check_zero_at(f, 4ULL * bs, 2ULL * bs);
	t_check_pattern_at(f, 6ULL * bs, 4ULL * bs + 7, 3);
	t_check_zero_at(f, 10ULL * bs + 7, 2ULL * bs - 7);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Direct I/O writes back and drops buffer-head folios around itself. */
static void test_direct(unsigned int bs)
{
	uint8_t *buf = t_aligned_alloc(4096, 4096);
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, DEV_SIZE);
	f = t_file(&t);
	t_write_pattern(f, 0, 8192, 4);
	t_fill_pattern(buf, 1024, 1024, 5);
	t_assert_eq(testfs_direct_write(f, 1024, buf, 1024), 1024);
	t_check_pattern_at(f, 0, 1024, 4);
	t_check_pattern_at(f, 1024, 1024, 5);
	t_check_pattern_at(f, 2048, 8192 - 2048, 4);
	t_assert_eq(testfs_direct_read(f, 0, buf, 4096), 4096);
	t_assert_eq(t_check_pattern(buf, 1024, 0, 4), -1);
	t_assert_eq(t_check_pattern(buf + 1024, 1024, 1024, 5), -1);
	t_fsck(&t);
	free(buf);
	t_fs_teardown(&t);
}

/* Out of space part way: the blocks allocated past EOF are given back. */
static void test_enospc(unsigned int bs)
{
	uint64_t blocks = 32, len = 40 * bs;
	uint8_t *buf = t_malloc(len);
	struct testfs_file *f;
	struct t_fs t;
	ssize_t n;

	setup(&t, bs, blocks * bs);
	f = t_file(&t);
	t_fill_pattern(buf, len, 100, 6);
	n = testfs_write(f, 100, buf, len);
	t_assert(n > 0 && (uint64_t)n < len);
	t_assert_eq(testfs_size(f), 100 + (uint64_t)n);
	t_assert_eq(t_stats(&t).blocks_allocated, (100 + (uint64_t)n + bs - 1) / bs);
	t_check_zero_at(f, 0, 100);
	t_check_pattern_at(f, 100, (size_t)n, 6);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 100, (size_t)n, 6);
	t_fsck(&t);
	free(buf);
	t_fs_teardown(&t);
}

static void test_opts(void)
{
	struct testfs_opts o = { .block_size = 1024, .buffer_heads = true, .inline_max = 100 };
	struct pagecache *cache;
	struct bdev *bdev;
	struct testfs *fs;

	t_assert_eq(bdev_open_ram(1 << 20, 512, &bdev), 0);
	t_assert_eq(pagecache_create(NULL, &cache), 0);
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	pagecache_destroy(cache);
	bdev_close(bdev);
}

int main(void)
{
	test_opts();
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		unsigned int bs = t_block_sizes[i];

		test_round_trip(bs);
		test_unwritten(bs);
		test_truncate_zero_punch(bs);
		test_direct(bs);
		test_enospc(bs);
	}
	return T_EXIT_PASS;
}
