/* SPDX-License-Identifier: MIT */
/*
 * Description: testfs_truncate.  Shrinking to the middle of a block zeroes
 * the rest of that block (it reads as zeroes when the file grows again),
 * frees every block past the new EOF (preallocated ones too) and keeps the
 * data before it; growing adds a hole; truncating to the same size or to 0
 * works; data whose blocks were converted by writeback mapping survives.
 */
#include "t-testfs.h"

#define DEV_SIZE (8U << 20)

static uint64_t used_blocks(struct t_fs *t)
{
	struct testfs_stats st = t_stats(t);

	return st.blocks_allocated + st.blocks_delalloc;
}

static void test_down_up(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t mid = 3ULL * bs + bs / 3;

	t_write_pattern(f, 0, 8ULL * bs + 100, 1);
	t_assert_eq(used_blocks(t), 9);
	t_assert_eq(testfs_truncate(f, mid), 0);
	t_assert_eq(testfs_size(f), mid);
	t_assert_eq(used_blocks(t), 4);
	t_check_pattern_at(f, 0, mid, 1);
	/* Grow again: what was cut off must not come back. */
	t_assert_eq(testfs_truncate(f, 8ULL * bs), 0);
	t_assert_eq(used_blocks(t), 4);
	t_check_pattern_at(f, 0, mid, 1);
	t_check_zero_at(f, mid, 8ULL * bs - mid);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), 4ULL * bs);
	t_assert_eq(testfs_seek(f, 4ULL * bs, SEEK_DATA), -ENXIO);
	/* Also after a cache drop (dirty data stays cached, holes come back as zeroes). */
	testfs_drop_cache(f);
	t_check_zero_at(f, mid, 8ULL * bs - mid);
	/* Writing past the zeroed tail keeps it zero. */
	t_write_pattern(f, 6ULL * bs + 1, 10, 2);
	t_check_zero_at(f, mid, 6ULL * bs + 1 - mid);
	t_fsck(t);
	testfs_file_destroy(f);
}

static void test_aligned_and_zero(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	uint8_t b;

	t_write_pattern(f, 0, 4ULL * bs, 3);
	t_assert_eq(testfs_truncate(f, 2ULL * bs), 0);
	t_assert_eq(used_blocks(t), 2);
	t_assert_eq(testfs_truncate(f, 2ULL * bs), 0); /* same size */
	t_check_pattern_at(f, 0, 2ULL * bs, 3);
	t_assert_eq(testfs_truncate(f, 0), 0);
	t_assert_eq(used_blocks(t), 0);
	t_assert_eq(t_stats(t).extents, 0);
	t_assert_eq(testfs_read(f, 0, &b, 1), 0);
	t_write_pattern(f, 5, 5, 4);
	t_check_zero_at(f, 0, 5);
	t_check_pattern_at(f, 5, 5, 4);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* Blocks preallocated past EOF (fallocate keep_size) go with a shrink. */
static void test_prealloc(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);

	t_write_pattern(f, 0, bs + 1, 5);
	t_assert_eq(testfs_fallocate(f, 0, 10ULL * bs, true), 0);
	t_assert_eq(testfs_size(f), bs + 1);
	t_assert_eq(used_blocks(t), 10);
	/* Growing keeps them. */
	t_assert_eq(testfs_truncate(f, 3ULL * bs), 0);
	t_assert_eq(used_blocks(t), 10);
	t_check_zero_at(f, bs + 1, 2ULL * bs - 1);
	t_assert_eq(testfs_truncate(f, bs / 2), 0);
	t_assert_eq(used_blocks(t), 1);
	t_check_pattern_at(f, 0, bs / 2, 5);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* After writeback mapping the blocks are real (MAPPED) with the data still dirty. */
static void test_after_map_blocks(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	struct iomap map;

	t_write_pattern(f, 0, 6ULL * bs, 6);
	t_assert_eq(testfs_map_blocks(f, 0, 6ULL * bs, &map), 0);
	t_assert_eq(t_stats(t).blocks_delalloc, 0);
	t_assert_eq(testfs_truncate(f, 2ULL * bs + 7), 0);
	t_assert_eq(t_stats(t).blocks_allocated, 3);
	t_assert_eq(testfs_truncate(f, 4ULL * bs), 0);
	t_check_pattern_at(f, 0, 2ULL * bs + 7, 6);
	t_check_zero_at(f, 2ULL * bs + 7, 2ULL * bs - 7);
	t_fsck(t);
	testfs_file_destroy(f);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (int da = 0; da < 2; da++) {
			struct testfs_opts o = { .block_size = t_block_sizes[i], .delalloc = da };
			unsigned int bs = t_block_sizes[i];
			struct t_fs t;

			t_fs_setup(&t, DEV_SIZE, &o);
			test_down_up(&t, bs);
			test_aligned_and_zero(&t, bs);
			test_prealloc(&t, bs);
			test_after_map_blocks(&t, bs);
			t_assert_eq(t_stats(&t).blocks_free, t_stats(&t).blocks_total);
			t_fs_teardown(&t);
		}
	}
	return T_EXIT_PASS;
}
