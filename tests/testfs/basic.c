/* SPDX-License-Identifier: MIT */
/*
 * Description: testfs write/read round trips at block sizes 512 to 4096,
 * with and without delayed allocation: aligned and unaligned writes,
 * sub-block writes building up a block, sparse files, reads across and past
 * EOF, overwrites, cache drops, the max_extent limit, contiguous allocation
 * and option checking.
 */
#include "t-testfs.h"

#define DEV_SIZE (16U << 20)

static void test_aligned(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);

	for (uint64_t pos = 0; pos < 64 * 1024; pos += 4096)
		t_write_pattern(f, pos, 4096, 1);
	t_assert_eq(testfs_size(f), 64 * 1024);
	t_check_pattern_at(f, 0, 64 * 1024, 1);
	/* Sequential writes merge into one extent when max_extent allows. */
	t_assert_eq(t_stats(t).extents, 1);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, 64 * 1024, 1);
	t_fsck(t);
	testfs_file_destroy(f);
	t_assert_eq(t_stats(t).blocks_free, t_stats(t).blocks_total);
}

static void test_unaligned(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	uint8_t buf[8192];

	t_write_pattern(f, 1000, 3000, 2);
	t_assert_eq(testfs_size(f), 4000);
	/* A read across EOF is short; at EOF it returns 0. */
	t_assert_eq(testfs_read(f, 0, buf, sizeof(buf)), 4000);
	t_assert(t_is_zero(buf, 1000));
	t_assert_eq(t_check_pattern(buf + 1000, 3000, 1000, 2), -1);
	t_assert_eq(testfs_read(f, 4000, buf, 10), 0);
	t_assert_eq(testfs_read(f, 100000, buf, 10), 0);
	/* Overwrite the middle, unaligned, with another pattern. */
	t_write_pattern(f, 1300, 777, 3);
	t_check_pattern_at(f, 1000, 300, 2);
	t_check_pattern_at(f, 1300, 777, 3);
	t_check_pattern_at(f, 2077, 4000 - 2077, 2);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* One byte at a time: every write is sub-block and most extend the file. */
static void test_bytewise(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	uint8_t b;

	for (uint64_t pos = 0; pos < 2ULL * bs + 5; pos++) {
		t_fill_pattern(&b, 1, pos, 4);
		t_assert_eq(testfs_write(f, pos, &b, 1), 1);
	}
	t_check_pattern_at(f, 0, 2 * bs + 5, 4);
	t_assert_eq(t_stats(t).extents, 1);
	t_fsck(t);
	testfs_file_destroy(f);
}

static void test_sparse(struct t_fs *t, unsigned int bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t far = (1U << 20) + 123;

	t_write_pattern(f, 0, 100, 5);
	t_write_pattern(f, far, 100, 5);
	t_assert_eq(testfs_size(f), far + 100);
	t_check_pattern_at(f, 0, 100, 5);
	t_check_zero_at(f, 100, far - 100);
	t_check_pattern_at(f, far, 100, 5);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), bs);
	t_assert_eq(testfs_seek(f, bs, SEEK_DATA), far / bs * bs);
	t_assert_eq(testfs_seek(f, 0, SEEK_END), far + 100);
	t_assert_eq(testfs_seek(f, far + 100, SEEK_DATA), -ENXIO);
	/* Two allocations of one block each, however the file is laid out. */
	t_assert_eq(t_stats(t).blocks_allocated + t_stats(t).blocks_delalloc,
		    (far + 100 - 1) / bs - far / bs + 2);
	t_fsck(t);
	testfs_file_destroy(f);
}

/* Extents never exceed max_extent, and a file's blocks follow each other on disk. */
static void test_max_extent(unsigned int bs, bool delalloc)
{
	struct testfs_opts o = { .block_size = bs, .max_extent = 4ULL * bs, .delalloc = delalloc };
	struct testfs_file *f;
	struct fiemap *fi;
	struct t_fs t;

	t_fs_setup(&t, DEV_SIZE, &o);
	f = t_file(&t);
	t_write_pattern(f, 0, 32ULL * bs, 6);
	t_assert_eq(t_stats(&t).extents, 8);
	fi = t_fiemap(f, 64);
	t_assert_eq(fi->fm_mapped_extents, 8);
	for (unsigned int i = 0; i < 8; i++) {
		t_assert_eq(fi->fm_extents[i].fe_logical, 4ULL * bs * i);
		t_assert_eq(fi->fm_extents[i].fe_length, 4ULL * bs);
		if (!delalloc && i)
			t_assert_eq(fi->fm_extents[i].fe_physical,
				    fi->fm_extents[i - 1].fe_physical + 4ULL * bs);
	}
	t_assert(fi->fm_extents[7].fe_flags & FIEMAP_EXTENT_LAST);
	free(fi);
	t_check_pattern_at(f, 0, 32ULL * bs, 6);
	t_fsck(&t);
	t_fs_teardown(&t);
}

static void test_bad_options(void)
{
	struct testfs_opts o = { .block_size = 4096 };
	struct bdev *bdev, *big_lbs;
	struct pagecache *cache;
	struct testfs *fs;

	t_assert_eq(bdev_open_ram(1 << 20, 512, &bdev), 0);
	t_assert_eq(bdev_open_ram(1 << 20, 4096, &big_lbs), 0);
	t_assert_eq(pagecache_create(&(struct pagecache_opts){ 0 }, &cache), 0);
	o.block_size = 3000;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	o.block_size = 8192;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	o.block_size = 512;
	t_assert_eq(testfs_create(big_lbs, cache, &o, &fs), -EINVAL);
	o.inline_max = 512;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	o.inline_max = 0;
	o.max_extent = 1000;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	o.max_extent = 0;
	o.stale_every = 1;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), -EINVAL);
	o.stale_every = 0;
	t_assert_eq(testfs_create(bdev, cache, &o, &fs), 0);
	testfs_destroy(fs);
	pagecache_destroy(cache);
	bdev_close(bdev);
	bdev_close(big_lbs);
}

static void test_limits(struct t_fs *t)
{
	struct testfs_file *f = t_file(t);
	uint8_t b = 1;

	t_assert_eq(testfs_write(f, TESTFS_MAX_FILE_SIZE, &b, 1), -EFBIG);
	t_assert_eq(testfs_write(f, 0, &b, 0), 0);
	t_assert_eq(testfs_size(f), 0);
	t_assert_eq(testfs_truncate(f, TESTFS_MAX_FILE_SIZE + 1), -EFBIG);
	t_assert_eq(testfs_seek(f, 0, 12345), -EINVAL);
	t_assert_eq(testfs_seek(f, 0, SEEK_DATA), -ENXIO);
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), -ENXIO);
	t_assert_eq(testfs_file(testfs_inode(f)) == f, 1);
	testfs_file_destroy(f);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		for (int da = 0; da < 2; da++) {
			unsigned int bs = t_block_sizes[i];
			struct testfs_opts o = { .block_size = bs, .delalloc = da };
			struct t_fs t;

			t_fs_setup(&t, DEV_SIZE, &o);
			test_aligned(&t, bs);
			test_unaligned(&t, bs);
			test_bytewise(&t, bs);
			test_sparse(&t, bs);
			test_limits(&t);
			t_fsck(&t);
			t_fs_teardown(&t);
			test_max_extent(bs, da);
		}
	}
	test_bad_options();
	return T_EXIT_PASS;
}
