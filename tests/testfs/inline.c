/* SPDX-License-Identifier: MIT */
/*
 * Description: inline ("stuffed") files, as gfs2 keeps small files in the
 * inode.  While a file stays within inline_max it has no extents and no
 * blocks, fiemap shows one DATA_INLINE extent, and its data survives cache
 * drops.  A write past inline_max unstuffs it into one block written
 * synchronously, with the earlier data intact (also after dropping the
 * cache, when it must come back from that block).  Truncating to 0 makes
 * it inline again; truncate up, fallocate, zero range and punch work on
 * inline files.
 */
#include "t-testfs.h"

#include "iomap/stats.h"

static void check_inline_fiemap(struct testfs_file *f, uint64_t size)
{
	struct fiemap *fi = t_fiemap(f, 4);

	t_assert_eq(fi->fm_mapped_extents, 1);
	t_assert_eq(fi->fm_extents[0].fe_logical, 0);
	t_assert_eq(fi->fm_extents[0].fe_length, size);
	t_assert(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_DATA_INLINE);
	free(fi);
}

/* Small writes stay inline: no extents, no blocks, data readable after a drop. */
static void test_stay_inline(struct t_fs *t, unsigned int inl)
{
	struct testfs_file *f = t_file(t);

	t_write_pattern(f, 0, inl / 4, 1);
	t_write_pattern(f, inl / 2, inl / 8, 1);
	t_assert_eq(testfs_size(f), inl / 2 + inl / 8);
	t_check_pattern_at(f, 0, inl / 4, 1);
	t_check_zero_at(f, inl / 4, inl / 4);
	t_check_pattern_at(f, inl / 2, inl / 8, 1);
	t_write_pattern(f, inl - 5, 5, 1); /* exactly up to inline_max */
	t_assert_eq(testfs_size(f), inl);
	t_assert_eq(t_stats(t).extents, 0);
	t_assert_eq(t_stats(t).blocks_free, t_stats(t).blocks_total);
	t_assert_eq(t_stats(t).unstuffs, 0);
	check_inline_fiemap(f, inl);
	t_assert_eq(testfs_seek(f, 0, SEEK_DATA), 0);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), inl);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, inl / 4, 1);
	t_check_zero_at(f, inl / 4, inl / 4);
	t_check_pattern_at(f, inl - 5, 5, 1);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* Growing past inline_max: one block, written at once, holding the old data. */
static void test_unstuff(struct t_fs *t, unsigned int bs, unsigned int inl)
{
	struct testfs_file *f = t_file(t);
	struct bdev_stats ds;
	struct fiemap *fi;

	t_write_pattern(f, 0, inl, 2);
	bdev_reset_stats(t->bdev);
	t_write_pattern(f, inl, 3ULL * bs, 2);
	bdev_get_stats(t->bdev, &ds);
	t_assert_eq(ds.bytes_written, bs); /* the unstuff write, nothing else */
	t_assert_eq(t_stats(t).unstuffs, 1);
	t_check_pattern_at(f, 0, inl + 3ULL * bs, 2);
	fi = t_fiemap(f, 8);
	t_assert(fi->fm_mapped_extents >= 1);
	t_assert(!(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_DATA_INLINE));
	free(fi);
	/* Folio 0 was clean: once dropped, block 0 must hold the inline bytes. */
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, inl, 2);
	t_fsck(t);

	/* Truncate to 0 stuffs it again. */
	t_assert_eq(testfs_truncate(f, 0), 0);
	t_assert_eq(t_stats(t).extents, 0);
	t_write_pattern(f, 3, 7, 3);
	t_assert_eq(t_stats(t).extents, 0);
	check_inline_fiemap(f, 10);
	t_check_zero_at(f, 0, 3);
	t_check_pattern_at(f, 3, 7, 3);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* An unaligned write that starts inside the inline area and ends past it. */
static void test_straddle(struct t_fs *t, unsigned int bs, unsigned int inl)
{
	struct testfs_file *f = t_file(t);

	t_write_pattern(f, 0, inl / 2, 4);
	t_write_pattern(f, inl / 2 + 1, bs, 5);
	t_check_pattern_at(f, 0, inl / 2, 4);
	t_check_zero_at(f, inl / 2, 1);
	t_check_pattern_at(f, inl / 2 + 1, bs, 5);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, inl / 2, 4);
	t_check_pattern_at(f, inl / 2 + 1, bs, 5);
	t_fsck(t);
	testfs_file_destroy(f);
}

static void test_inline_ops(struct t_fs *t, unsigned int bs, unsigned int inl)
{
	struct testfs_file *f = t_file(t);

	t_write_pattern(f, 0, inl, 6);
	/* Zero and punch change the inline bytes, keep it inline. */
	t_assert_eq(testfs_zero_range(f, 1, 2), 0);
	t_assert_eq(testfs_punch_hole(f, 10, 5), 0);
	t_check_zero_at(f, 1, 2);
	t_check_zero_at(f, 10, 5);
	t_check_pattern_at(f, 3, 7, 6);
	testfs_drop_cache(f);
	t_check_zero_at(f, 1, 2);
	t_check_zero_at(f, 10, 5);
	t_check_pattern_at(f, 15, inl - 15, 6);
	/* Shrink within the inline area, then grow back: the tail reads zero. */
	t_assert_eq(testfs_truncate(f, 20), 0);
	t_assert_eq(testfs_truncate(f, inl), 0);
	t_check_zero_at(f, 20, inl - 20);
	t_assert_eq(t_stats(t).extents, 0);
	/* Growing past inline_max unstuffs. */
	t_assert_eq(testfs_truncate(f, 5ULL * bs), 0);
	t_assert_eq(t_stats(t).unstuffs, 1);
	t_check_pattern_at(f, 15, 5, 6);
	t_check_zero_at(f, 20, 5ULL * bs - 20);
	t_fsck(t);
	testfs_file_destroy(f);

	/* fallocate unstuffs too. */
	f = t_file(t);
	t_write_pattern(f, 0, 17, 7);
	t_assert_eq(testfs_fallocate(f, 0, 2ULL * bs, false), 0);
	t_assert_eq(testfs_size(f), 2ULL * bs);
	t_check_pattern_at(f, 0, 17, 7);
	t_check_zero_at(f, 17, 2ULL * bs - 17);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* INLINE mappings: ->begin / ->end pair up (the inline buffer reference is dropped). */
static void test_counts(struct t_fs *t, unsigned int inl)
{
	struct testfs_file *f = t_file(t);
	struct iomap_stats st;

	iomap_reset_stats();
	t_write_pattern(f, 0, inl, 8);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, inl, 8);
	iomap_get_stats(&st);
	t_assert_eq(st.begin_calls, st.end_calls);
	t_assert(st.inline_writes >= 1);
	t_assert(st.inline_reads >= 1);
	testfs_file_destroy(f);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		unsigned int bs = t_block_sizes[i];
		unsigned int sizes[] = { bs / 2, bs - 1, 32 };

		for (size_t j = 0; j < 3; j++) {
			for (int da = 0; da < 2; da++) {
				struct testfs_opts o = { .block_size = bs, .inline_max = sizes[j],
							 .delalloc = da };
				struct t_fs t;

				t_fs_setup(&t, 8U << 20, &o);
				test_stay_inline(&t, sizes[j]);
				t_fs_teardown(&t);
				t_fs_setup(&t, 8U << 20, &o);
				test_unstuff(&t, bs, sizes[j]);
				t_fs_teardown(&t);
				t_fs_setup(&t, 8U << 20, &o);
				test_straddle(&t, bs, sizes[j]);
				test_counts(&t, sizes[j]);
				t_fs_teardown(&t);
				t_fs_setup(&t, 8U << 20, &o);
				test_inline_ops(&t, bs, sizes[j]);
				t_fs_teardown(&t);
			}
		}
	}
	return T_EXIT_PASS;
}
