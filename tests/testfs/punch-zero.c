/* SPDX-License-Identifier: MIT */
/*
 * Description: punch hole, zero range and fallocate, checked through
 * reads, block counts, SEEK_HOLE / SEEK_DATA and fiemap.  Punching frees
 * the whole blocks of the range and zeroes the partial ones; zeroing keeps
 * every block; fallocate adds UNWRITTEN extents under holes only, past EOF
 * with keep_size, and all of it reads as zeroes until written.
 */
#include "t-testfs.h"

#define DEV_SIZE (8U << 20)

static uint64_t used_blocks(struct t_fs *t)
{
	struct testfs_stats st = t_stats(t);

	return st.blocks_allocated + st.blocks_delalloc;
}

static void test_punch_aligned(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	struct fiemap *fi;

	t_write_pattern(f, 0, 16 * bs, 1);
	t_assert_eq(testfs_punch_hole(f, 4 * bs, 4 * bs), 0);
	t_assert_eq(testfs_size(f), 16 * bs);
	t_assert_eq(used_blocks(t), 12);
	t_check_pattern_at(f, 0, 4 * bs, 1);
	t_check_zero_at(f, 4 * bs, 4 * bs);
	t_check_pattern_at(f, 8 * bs, 8 * bs, 1);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), 4 * bs);
	t_assert_eq(testfs_seek(f, 4 * bs, SEEK_DATA), 8 * bs);
	t_assert_eq(testfs_seek(f, 5 * bs, SEEK_HOLE), 5 * bs);
	t_assert_eq(testfs_seek(f, 8 * bs, SEEK_HOLE), 16 * bs);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 2);
	t_assert_eq(fi->fm_extents[0].fe_logical, 0);
	t_assert_eq(fi->fm_extents[0].fe_length, 4 * bs);
	t_assert_eq(fi->fm_extents[1].fe_logical, 8 * bs);
	t_assert_eq(fi->fm_extents[1].fe_length, 8 * bs);
	t_assert(fi->fm_extents[1].fe_flags & FIEMAP_EXTENT_LAST);
	free(fi);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* Unaligned: the blocks at both ends stay, zeroed where punched. */
static void test_punch_unaligned(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t start = 2 * bs + 100, end = 5 * bs + 7;

	t_write_pattern(f, 0, 8 * bs, 2);
	t_assert_eq(testfs_punch_hole(f, start, end - start), 0);
	t_assert_eq(used_blocks(t), 6);
	t_check_pattern_at(f, 0, start, 2);
	t_check_zero_at(f, start, end - start);
	t_check_pattern_at(f, end, 8 * bs - end, 2);
	testfs_drop_cache(f);
	t_check_zero_at(f, start, end - start);
	t_check_pattern_at(f, end, 8 * bs - end, 2);
	/* Inside one block: nothing is freed. */
	t_assert_eq(testfs_punch_hole(f, 6 * bs + 1, bs - 2), 0);
	t_assert_eq(used_blocks(t), 6);
	t_check_zero_at(f, 6 * bs + 1, bs - 2);
	t_check_pattern_at(f, 6 * bs, 1, 2);
	/* Past EOF: the size stays. */
	t_assert_eq(testfs_punch_hole(f, 7 * bs + 3, 100 * bs), 0);
	t_assert_eq(testfs_size(f), 8 * bs);
	t_check_zero_at(f, 7 * bs + 3, bs - 3);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* Zero range keeps the blocks and the extents. */
static void test_zero(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	struct fiemap *fi;

	t_write_pattern(f, 0, 8 * bs, 3);
	t_assert_eq(testfs_zero_range(f, bs / 2, 5 * bs), 0);
	t_assert_eq(used_blocks(t), 8);
	t_check_pattern_at(f, 0, bs / 2, 3);
	t_check_zero_at(f, bs / 2, 5 * bs);
	t_check_pattern_at(f, bs / 2 + 5 * bs, 8 * bs - bs / 2 - 5 * bs, 3);
	/*
	 * Zeroing writes the range back first (so the extents under it may
	 * be split into written and delalloc parts), but every block stays.
	 */
	fi = t_fiemap(f, 8);
	t_assert(fi->fm_mapped_extents >= 1 && fi->fm_mapped_extents <= 2);
	t_assert_eq(fi->fm_extents[0].fe_logical, 0);
	t_assert_eq(fi->fm_extents[fi->fm_mapped_extents - 1].fe_logical +
		    fi->fm_extents[fi->fm_mapped_extents - 1].fe_length, 8 * bs);
	if (fi->fm_mapped_extents == 2)
		t_assert_eq(fi->fm_extents[1].fe_logical, fi->fm_extents[0].fe_length);
	free(fi);
	/* Past EOF it does nothing, and does not grow the file. */
	t_assert_eq(testfs_zero_range(f, 7 * bs, 10 * bs), 0);
	t_assert_eq(testfs_size(f), 8 * bs);
	t_check_zero_at(f, 7 * bs, bs);
	t_fsck(t);
	testfs_file_destroy(f);
}

/*
 * In units of a page or a block, whichever is larger: the page cache
 * answers SEEK_DATA over unwritten extents per folio, and a dirty folio is
 * data all over.
 */
static void test_falloc(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t u = bs > 4096 ? bs : 4096, n = u / bs;
	struct fiemap *fi;

	t_write_pattern(f, 2 * u, u, 4);
	t_assert_eq(testfs_fallocate(f, 0, 6 * u, false), 0);
	t_assert_eq(testfs_size(f), 6 * u);
	t_assert_eq(used_blocks(t), 6 * n);
	t_check_zero_at(f, 0, 2 * u);
	t_check_pattern_at(f, 2 * u, u, 4);
	t_check_zero_at(f, 3 * u, 3 * u);
	/*
	 * Unwritten extents with nothing cached are holes to SEEK_DATA.  (The
	 * written data goes to disk first: without delalloc its blocks are
	 * UNWRITTEN until then too.)
	 */
	t_fsync(f);
	testfs_drop_cache(f);
	t_assert_eq(testfs_seek(f, 0, SEEK_DATA), 2 * u);
	t_assert_eq(testfs_seek(f, 3 * u, SEEK_DATA), -ENXIO);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), 0);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 3);
	t_assert(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_UNWRITTEN);
	t_assert(!(fi->fm_extents[1].fe_flags & FIEMAP_EXTENT_UNWRITTEN));
	t_assert(fi->fm_extents[2].fe_flags & FIEMAP_EXTENT_UNWRITTEN);
	free(fi);
	/* Writing into unwritten space: data shows, SEEK_DATA finds it. */
	t_write_pattern(f, 4 * u + 5, 10, 5);
	t_check_pattern_at(f, 4 * u + 5, 10, 5);
	t_check_zero_at(f, 4 * u, 5);
	t_assert_eq(testfs_seek(f, 3 * u, SEEK_DATA), 4 * u);
	/* keep_size: blocks past EOF, size unchanged, reported by fiemap. */
	t_assert_eq(testfs_fallocate(f, 6 * u, 4 * u, true), 0);
	t_assert_eq(testfs_size(f), 6 * u);
	t_assert_eq(used_blocks(t), 10 * n);
	fi = t_fiemap(f, 8);
	t_assert(fi->fm_mapped_extents >= 3);
	t_assert_eq(fi->fm_extents[fi->fm_mapped_extents - 1].fe_logical +
			    fi->fm_extents[fi->fm_mapped_extents - 1].fe_length,
		    10 * u);
	free(fi);
	/* Already allocated: nothing more. */
	t_assert_eq(testfs_fallocate(f, 0, 10 * u, true), 0);
	t_assert_eq(used_blocks(t), 10 * n);
	t_assert_eq(testfs_fallocate(f, 0, 0, true), -EINVAL);
	t_fsck(t);
	testfs_file_destroy(f);
}

static void test_fiemap_flags(struct t_fs *t, uint64_t bs, bool delalloc)
{
	struct testfs_file *f = t_file(t);
	struct fiemap *fi;

	t_write_pattern(f, 0, 2 * bs, 6);
	fi = t_fiemap(f, 4);
	t_assert_eq(fi->fm_mapped_extents, 1);
	if (delalloc)
		t_assert(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_DELALLOC);
	else
		t_assert(!(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_DELALLOC));
	t_assert(fi->fm_extents[0].fe_flags & FIEMAP_EXTENT_LAST);
	free(fi);
	/* Counting only. */
	fi = t_fiemap(f, 0);
	t_assert_eq(fi->fm_mapped_extents, 1);
	free(fi);
	testfs_file_destroy(f);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (int da = 0; da < 2; da++) {
			uint64_t bs = t_block_sizes[i];
			struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = da };
			struct t_fs t;

			t_fs_setup(&t, DEV_SIZE, &o);
			test_punch_aligned(&t, bs);
			test_punch_unaligned(&t, bs);
			test_zero(&t, bs);
			test_falloc(&t, bs);
			test_fiemap_flags(&t, bs, da);
			t_assert_eq(t_stats(&t).blocks_free, t_stats(&t).blocks_total);
			t_fs_teardown(&t);
		}
	}
	return T_EXIT_PASS;
}
