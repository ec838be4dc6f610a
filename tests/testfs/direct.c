/* SPDX-License-Identifier: MIT */
/*
 * Description: direct I/O through testfs (iomap_dio_rw) at block sizes 512
 * to 4096, on a device full of stale 0xee bytes.  Writes into holes get
 * real blocks, zero padded around sub-block data and MAPPED once done;
 * writes grow the file; writes into preallocated space convert exactly the
 * blocks written; buffered and direct I/O see each other's data; stuffed
 * files take direct writes inline and are unstuffed past inline_max; a
 * write that cannot get its space fails before writing anything; reads
 * stop at EOF; misaligned requests are refused; a failed direct write
 * leaves zeroes and the old size, and a failed direct read returns -EIO.
 */
#include "t-testfs.h"

#include "iomap/bdev-fault.h"

#define DEV_SIZE (16U << 20)
#define STALE 0xee

static void setup(struct t_fs *t, unsigned int bs, unsigned int inline_max, uint64_t dev)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = true, .inline_max = inline_max };

	t_fs_setup(t, dev, &o);
	t_dev_fill(t->bdev, STALE);
}

static uint8_t *abuf(size_t len)
{
	return t_aligned_alloc(4096, len);
}

static void dwrite(struct testfs_file *f, uint64_t pos, size_t len, uint64_t seed)
{
	uint8_t *buf = abuf(len);

	t_fill_pattern(buf, len, pos, seed);
	t_assert_eq(testfs_direct_write(f, pos, buf, len), (long long)len);
	free(buf);
}

/* [pos, pos + len) read directly: the pattern @seed, or zeroes for seed 0. */
static void dcheck(struct testfs_file *f, uint64_t pos, size_t len, uint64_t seed)
{
	uint8_t *buf = abuf(len);
	long bad;

	t_assert_eq(testfs_direct_read(f, pos, buf, len), (long long)len);
	if (!seed && !t_is_zero(buf, len))
		t_fail("direct read at %llu: not zero", (unsigned long long)pos);
	bad = seed ? t_check_pattern(buf, len, pos, seed) : -1;
	if (bad >= 0)
		t_fail("direct read at %llu: byte %ld is 0x%02x", (unsigned long long)pos, bad,
		       buf[bad]);
	free(buf);
}

static uint64_t unwritten_extents(struct testfs_file *f)
{
	struct fiemap *fi = t_fiemap(f, 64);
	uint64_t n = 0;

	for (unsigned int i = 0; i < fi->fm_mapped_extents; i++)
		n += !!(fi->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN);
	free(fi);
	return n;
}

/* Sub-block writes into holes: zero padding, real blocks, growth. */
static void test_holes(unsigned int bs)
{
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, 0, DEV_SIZE);
	f = t_file(&t);
	dwrite(f, 512, 512, 1);
	t_assert_eq(testfs_size(f), 1024);
	t_assert_eq(testfs_disk_size(f), 1024);
	dwrite(f, 8ULL * bs + 1024, 2048, 2);
	t_assert_eq(testfs_size(f), 8ULL * bs + 3072);
	t_assert_eq(t_stats(&t).blocks_delalloc, 0);
	t_assert_eq(unwritten_extents(f), 0);
	dcheck(f, 0, 512, 0);
	dcheck(f, 512, 512, 1);
	dcheck(f, 8ULL * bs + 1024, 2048, 2);
	/* Through the page cache: the same bytes, zeroes (not 0xee) between. */
	t_check_zero_at(f, 0, 512);
	t_check_pattern_at(f, 512, 512, 1);
	t_check_zero_at(f, 1024, 8ULL * bs);
	t_check_pattern_at(f, 8ULL * bs + 1024, 2048, 2);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Buffered and direct I/O over the same bytes see each other. */
static void test_mixed(unsigned int bs)
{
	struct testfs_file *f;
	uint8_t *buf;
	struct t_fs t;

	setup(&t, bs, 0, DEV_SIZE);
	f = t_file(&t);
	t_write_pattern(f, 0, 16ULL * bs + 100, 3);
	/* Dirty, delalloc data: a direct read writes it back first. */
	dcheck(f, 0, 16ULL * bs, 3);
	t_assert_eq(t_stats(&t).blocks_delalloc, 0);
	/* A direct write over cached data: buffered reads see the new bytes. */
	t_check_pattern_at(f, 0, 16ULL * bs, 3);
	dwrite(f, 2ULL * bs, 4ULL * bs, 4);
	t_check_pattern_at(f, 0, 2ULL * bs, 3);
	t_check_pattern_at(f, 2ULL * bs, 4ULL * bs, 4);
	t_check_pattern_at(f, 6ULL * bs, 10ULL * bs + 100, 3);
	/* And a buffered write over directly written bytes, read directly. */
	t_write_pattern(f, 3ULL * bs, 100, 5);
	buf = abuf(512);
	t_assert_eq(testfs_direct_read(f, 3ULL * bs, buf, 512), 512);
	t_assert_eq(t_check_pattern(buf, 100, 3ULL * bs, 5), -1);
	t_assert_eq(t_check_pattern(buf + 100, 412, 3ULL * bs + 100, 4), -1);
	free(buf);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Preallocated space: exactly the blocks written become MAPPED. */
static void test_unwritten(unsigned int bs)
{
	/* 512 bytes in the middle of block 4 (all of it at 512-byte blocks). */
	uint64_t pos = 4ULL * bs + (bs > 512 ? 512 : 0);
	struct testfs_file *f;
	struct fiemap *fi;
	struct t_fs t;

	setup(&t, bs, 0, DEV_SIZE);
	f = t_file(&t);
	t_assert_eq(testfs_fallocate(f, 0, 16ULL * bs, false), 0);
	dwrite(f, pos, 512, 6);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 3);
	t_assert_eq(fi->fm_extents[1].fe_logical, 4ULL * bs);
	t_assert_eq(fi->fm_extents[1].fe_length, bs);
	t_assert(!(fi->fm_extents[1].fe_flags & FIEMAP_EXTENT_UNWRITTEN));
	free(fi);
	testfs_drop_cache(f);
	t_check_zero_at(f, 0, pos);
	t_check_pattern_at(f, pos, 512, 6);
	t_check_zero_at(f, pos + 512, 16ULL * bs - pos - 512);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Stuffed files: inline while it fits, unstuffed past inline_max. */
static void test_inline(unsigned int bs)
{
	struct testfs_file *f;
	struct t_fs t;

	if (bs < 1024)
		return; /* inline_max must hold a 512-byte direct write */
	setup(&t, bs, bs - 1, DEV_SIZE);
	f = t_file(&t);
	t_write_pattern(f, 600, 100, 7);
	dwrite(f, 0, 512, 8);
	t_assert_eq(testfs_size(f), 700);
	t_assert_eq(t_stats(&t).unstuffs, 0);
	t_check_pattern_at(f, 0, 512, 8);
	t_check_zero_at(f, 512, 88);
	t_check_pattern_at(f, 600, 100, 7);
	dcheck(f, 0, 512, 8);
	dwrite(f, bs, 512, 9);
	t_assert_eq(t_stats(&t).unstuffs, 1);
	t_assert_eq(testfs_size(f), bs + 512);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, 512, 8);
	t_check_zero_at(f, 512, 88);
	t_check_pattern_at(f, 600, 100, 7);
	t_check_zero_at(f, 700, bs - 700);
	dcheck(f, bs, 512, 9);
	t_fsck(&t);
	t_fs_teardown(&t);
}

static void test_limits(unsigned int bs)
{
	uint8_t *buf = abuf(64ULL * bs);
	struct testfs_file *f;
	struct testfs_stats st;
	struct t_fs t;

	setup(&t, bs, 0, 64ULL * bs);
	f = t_file(&t);
	t_assert_eq(testfs_direct_write(f, 1, buf, 512), -EINVAL);
	t_assert_eq(testfs_direct_write(f, 0, buf, 100), -EINVAL);
	t_assert_eq(testfs_direct_write(f, 0, buf + 1, 512), -EINVAL);
	t_assert_eq(testfs_direct_read(f, 0, buf + 8, 512), -EINVAL);
	/* EOF: short reads, 0 past it. */
	t_write_pattern(f, 0, 1000, 10);
	t_assert_eq(testfs_direct_read(f, 0, buf, 2 * bs), 1000);
	t_assert_eq(t_check_pattern(buf, 1000, 0, 10), -1);
	t_assert_eq(testfs_direct_read(f, 2ULL * bs, buf, 512), 0);
	/* No space for all of it: nothing written, nothing allocated. */
	t_assert_eq(testfs_direct_write(f, 0, buf, 2 * bs), (long long)(2 * bs));
	st = t_stats(&t);
	t_assert_eq(st.blocks_allocated, 2);
	t_assert_eq(testfs_direct_write(f, 2ULL * bs, buf, 63ULL * bs), -ENOSPC);
	t_assert_eq(testfs_size(f), 2 * bs);
	t_assert_eq(t_stats(&t).blocks_allocated, st.blocks_allocated);
	t_assert_eq(t_stats(&t).blocks_free, st.blocks_free);
	t_fsck(&t);
	free(buf);
	t_fs_teardown(&t);
}

/* Device errors: -EIO to the caller, no stale bytes, the old size. */
static void test_errors(unsigned int bs)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = true };
	struct bdev *lower, *dev;
	struct bdev_fault_rule r = { .nr_sectors = UINT64_MAX, .error = -EIO };
	struct pagecache *cache;
	struct testfs_file *f;
	struct testfs *fs;
	uint8_t *buf = abuf(4 * bs);

	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &lower), 0);
	t_dev_fill(lower, STALE);
	t_assert_eq(bdev_fault_create(lower, &dev), 0);
	t_assert_eq(pagecache_create(NULL, &cache), 0);
	t_assert_eq(testfs_create(dev, cache, &o, &fs), 0);
	t_assert_eq(testfs_file_create(fs, &f), 0);
	dwrite(f, 0, 2 * bs, 11);
	r.ops = BDEV_FAULT_OP_WRITE;
	t_assert_eq(bdev_fault_add_rule(dev, &r), 0);
	t_assert_eq(testfs_direct_write(f, 2ULL * bs, buf, 2 * bs), -EIO);
	t_assert_eq(testfs_size(f), 2 * bs);
	t_assert_eq(bdev_fault_clear_rules(dev), 0);
	t_assert_eq(testfs_truncate(f, 4ULL * bs), 0);
	t_check_zero_at(f, 2ULL * bs, 2ULL * bs);
	r.ops = BDEV_FAULT_OP_READ;
	t_assert_eq(bdev_fault_add_rule(dev, &r), 0);
	memset(buf, 0, 4 * bs);
	t_assert_eq(testfs_direct_read(f, 0, buf, 2 * bs), -EIO);
	t_assert_eq(bdev_fault_clear_rules(dev), 0);
	dcheck(f, 0, 2 * bs, 11);
	testfs_destroy(fs);
	pagecache_destroy(cache);
	bdev_close(dev);
	bdev_close(lower);
	free(buf);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		unsigned int bs = t_block_sizes[i];

		test_holes(bs);
		test_mixed(bs);
		test_unwritten(bs);
		test_inline(bs);
		test_limits(bs);
		test_errors(bs);
	}
	return T_EXIT_PASS;
}
