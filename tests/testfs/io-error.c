/* SPDX-License-Identifier: MIT */
/*
 * Description: device errors seen through testfs, on a fault-injecting
 * device stacked on a RAM device.  A failed unstuff write leaves the file
 * inline and intact with its block given back; a failed load leaves the
 * file empty with nothing allocated; a failed read returns -EIO and the
 * data reads fine once the device recovers; a partial write whose
 * read-modify-write read fails returns -EIO without changing the file.
 */
#include "t-testfs.h"

#include "iomap/bdev-fault.h"

#define DEV_SIZE (4U << 20)

struct t_faultfs {
	struct bdev *lower, *dev;
	struct pagecache *cache;
	struct testfs *fs;
};

static void setup(struct t_faultfs *t, unsigned int bs, unsigned int inline_max)
{
	struct testfs_opts o = { .block_size = bs, .inline_max = inline_max, .delalloc = true };

	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &t->lower), 0);
	t_assert_eq(bdev_fault_create(t->lower, &t->dev), 0);
	t_assert_eq(pagecache_create(&(struct pagecache_opts){ 0 }, &t->cache), 0);
	t_assert_eq(testfs_create(t->dev, t->cache, &o, &t->fs), 0);
}

static void teardown(struct t_faultfs *t)
{
	testfs_destroy(t->fs);
	pagecache_destroy(t->cache);
	bdev_close(t->dev);
	bdev_close(t->lower);
}

static void fail_all(struct t_faultfs *t, unsigned int ops)
{
	struct bdev_fault_rule r = { .ops = ops, .nr_sectors = UINT64_MAX, .error = -EIO };

	t_assert_eq(bdev_fault_add_rule(t->dev, &r), 0);
}

static void fsck(struct t_faultfs *t)
{
	char msg[256];

	if (testfs_check(t->fs, msg, sizeof(msg)))
		t_fail("testfs_check: %s", msg);
}

static struct testfs_stats stats(struct t_faultfs *t)
{
	struct testfs_stats st;

	testfs_get_stats(t->fs, &st);
	return st;
}

static void test_unstuff_error(unsigned int bs)
{
	struct t_faultfs t;
	struct testfs_file *f;

	setup(&t, bs, bs / 2);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	t_write_pattern(f, 0, bs / 2, 1);
	fail_all(&t, BDEV_FAULT_OP_WRITE);
	t_assert_eq(testfs_write(f, bs / 2, "x", 1), -EIO);
	t_assert_eq(testfs_truncate(f, 4ULL * bs), -EIO);
	t_assert_eq(testfs_size(f), bs / 2);
	t_assert_eq(stats(&t).unstuffs, 0);
	t_assert_eq(stats(&t).blocks_allocated, 0);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, bs / 2, 1);
	fsck(&t);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	t_write_pattern(f, bs / 2, bs, 1);
	t_assert_eq(stats(&t).unstuffs, 1);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, bs + bs / 2, 1);
	fsck(&t);
	teardown(&t);
}

static void test_load_error(unsigned int bs)
{
	size_t size = 20ULL * bs;
	uint8_t *img = t_malloc(size);
	struct testfs_file *f;
	struct t_faultfs t;

	setup(&t, bs, 0);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	t_fill_pattern(img, size, 0, 2);
	fail_all(&t, BDEV_FAULT_OP_WRITE);
	t_assert_eq(testfs_file_load(f, img, size), -EIO);
	t_assert_eq(testfs_size(f), 0);
	t_assert_eq(stats(&t).blocks_allocated, 0);
	fsck(&t);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	t_assert_eq(testfs_file_load(f, img, size), 0);

	/* Reads fail while the device does, and work again afterwards. */
	testfs_drop_cache(f);
	fail_all(&t, BDEV_FAULT_OP_READ);
	t_assert_eq(testfs_read(f, 0, img, size), -EIO);
	/* A partial write must read the rest of its block first: it fails too. */
	t_assert_eq(testfs_write(f, 3ULL * bs + 1, "y", 1), -EIO);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	t_check_pattern_at(f, 0, size, 2);
	fsck(&t);
	free(img);
	teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		test_unstuff_error(t_block_sizes[i]);
		test_load_error(t_block_sizes[i]);
	}
	return T_EXIT_PASS;
}
