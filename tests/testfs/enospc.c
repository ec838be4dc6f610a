/* SPDX-License-Identifier: MIT */
/*
 * Description: a small device fills up.  Writes come back short and then
 * fail with -ENOSPC, the data written before stays intact, the counters and
 * the bitmap stay consistent (nothing half allocated), fallocate is all or
 * nothing, freed space (punch, destroy) is usable again, delayed
 * allocations still become real blocks on a full device, and an inline
 * file that cannot get a block stays inline.
 */
#include "t-testfs.h"

#define NBLOCKS 64

/* Write unaligned chunks until space runs out; returns the bytes written. */
static uint64_t fill(struct testfs_file *f, uint64_t bs)
{
	uint64_t pos = 0, chunk = 3 * bs + 17;
	uint8_t *buf = t_malloc(chunk);
	ssize_t ret;

	for (;;) {
		t_fill_pattern(buf, chunk, pos, 1);
		ret = testfs_write(f, pos, buf, chunk);
		if (ret == -ENOSPC)
			break;
		t_assert(ret > 0 && (uint64_t)ret <= chunk);
		pos += (uint64_t)ret;
		t_assert(pos <= NBLOCKS * bs);
	}
	free(buf);
	return pos;
}

static void test_fill(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t), *g;
	struct fiemap *fi;
	uint32_t extents;

	t_assert_eq(fill(f, bs), NBLOCKS * bs);
	t_assert_eq(t_stats(t).blocks_free, 0);
	t_check_pattern_at(f, 0, NBLOCKS * bs, 1);
	t_fsck(t);
	/* A full device refuses fallocate and leaves everything as it was. */
	g = t_file(t);
	fi = t_fiemap(f, 0);
	extents = fi->fm_mapped_extents;
	free(fi);
	t_assert_eq(testfs_fallocate(g, 0, bs, false), -ENOSPC);
	t_assert_eq(testfs_size(g), 0);
	t_assert_eq(testfs_truncate(g, 10 * bs), 0); /* holes need no space */
	fi = t_fiemap(f, 0);
	t_assert_eq(fi->fm_mapped_extents, extents);
	free(fi);
	t_fsck(t);

	/* Punched blocks can be used by another file, exactly that many. */
	t_assert_eq(testfs_punch_hole(f, 8 * bs, 4 * bs), 0);
	t_assert_eq(t_stats(t).blocks_free, 4);
	t_write_pattern(g, 0, 4 * bs, 2);
	t_assert_eq(testfs_write(g, 4 * bs, "x", 1), -ENOSPC);
	t_check_pattern_at(f, 0, 8 * bs, 1);
	t_check_zero_at(f, 8 * bs, 4 * bs);
	t_check_pattern_at(f, 12 * bs, (NBLOCKS - 12) * bs, 1);
	t_check_pattern_at(g, 0, 4 * bs, 2);
	t_fsck(t);

	/* Delayed allocations become blocks even on a full device. */
	for (uint64_t pos = 0; pos < NBLOCKS * bs; pos += bs) {
		struct iomap map;

		t_assert_eq(testfs_map_blocks(f, pos, bs, &map), 0);
	}
	t_assert_eq(t_stats(t).blocks_free, 0);
	t_check_pattern_at(f, 0, 8 * bs, 1);
	t_fsck(t);

	testfs_file_destroy(f);
	testfs_file_destroy(g);
	t_assert_eq(t_stats(t).blocks_free, NBLOCKS);
}

/* All or nothing: a fallocate bigger than the free space allocates nothing. */
static void test_falloc_all_or_nothing(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);

	t_write_pattern(f, 0, (NBLOCKS - 10) * bs, 3);
	t_assert_eq(t_stats(t).blocks_free, 10);
	t_assert_eq(testfs_fallocate(f, NBLOCKS * bs, 11 * bs, false), -ENOSPC);
	t_assert_eq(t_stats(t).blocks_free, 10);
	t_assert_eq(testfs_size(f), (NBLOCKS - 10) * bs);
	t_assert_eq(testfs_fallocate(f, NBLOCKS * bs, 10 * bs, true), 0);
	t_assert_eq(t_stats(t).blocks_free, 0);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* An inline file on a full device: stays inline and intact when it cannot grow. */
static void test_inline_full(uint64_t bs, bool delalloc)
{
	struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = delalloc,
				 .inline_max = (unsigned int)bs / 2 };
	struct testfs_file *f, *big;
	uint64_t unstuffs;
	struct t_fs t;

	t_fs_setup(&t, NBLOCKS * bs, &o);
	big = t_file(&t);
	f = t_file(&t);
	t_write_pattern(f, 0, bs / 4, 4);
	fill(big, bs);
	unstuffs = t_stats(&t).unstuffs; /* big was unstuffed on its way */
	t_write_pattern(f, bs / 4, bs / 4, 4); /* still inline: no space needed */
	t_assert_eq(testfs_write(f, bs / 2 - 1, "xy", 2), -ENOSPC);
	t_assert_eq(testfs_truncate(f, bs), -ENOSPC);
	t_assert_eq(testfs_size(f), bs / 2);
	t_check_pattern_at(f, 0, bs / 2, 4);
	t_assert_eq(t_stats(&t).unstuffs, unstuffs);
	t_fsck(&t);
	/* Space again: now it unstuffs. */
	t_assert_eq(testfs_truncate(big, 0), 0);
	t_assert_eq(testfs_write(f, bs / 2 - 1, "xy", 2), 2);
	t_assert_eq(t_stats(&t).unstuffs, unstuffs + 1);
	t_check_pattern_at(f, 0, bs / 2 - 1, 4);
	t_fsck(&t);
	t_fs_teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (int da = 0; da < 2; da++) {
			uint64_t bs = t_block_sizes[i];
			struct testfs_opts o = { .block_size = (unsigned int)bs, .delalloc = da };
			struct t_fs t;

			t_fs_setup(&t, NBLOCKS * bs, &o);
			test_fill(&t, bs);
			test_falloc_all_or_nothing(&t, bs);
			t_fs_teardown(&t);
			test_inline_full(bs, da);
		}
	}
	return T_EXIT_PASS;
}
