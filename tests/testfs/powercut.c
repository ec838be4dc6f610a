/* SPDX-License-Identifier: MIT */
/*
 * Description: power cuts on a volatile fault device under testfs, at
 * block sizes 512 to 4096.  testfs keeps its metadata in memory, so what a
 * cut can take is data that was written but not made durable.  Checked:
 *  - data that fsync (buffered or direct writes) or sync acknowledged
 *    reads back after every kind of cut, with the cache dropped;
 *  - regression: zeroes that fsync acknowledged in a hole must not turn
 *    into the device's old bytes when a write later allocates the block
 *    and writeback's data is lost: the blocks become MAPPED only after a
 *    flush made their data durable (found by the exerciser's power cuts);
 *  - regression: when a file grows over an EOF block whose zeroed tail
 *    was lost to a cut, the tail reads as zeroes: growing zeroes it again
 *    (testfs_zero_eof, as XFS zeroes to EOF; found the same way).
 * The device starts full of 0xee: any stale byte shows.
 */
#include "t-testfs.h"

#include "iomap/bdev-fault.h"

#define DEV_SIZE (8U << 20)
#define STALE 0xee

struct t_cutfs {
	struct bdev *lower, *dev;
	struct pagecache *cache;
	struct testfs *fs;
	struct testfs_file *f;
	unsigned int bs;
};

static void setup(struct t_cutfs *t, unsigned int bs)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = true };

	t->bs = bs;
	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &t->lower), 0);
	t_dev_fill(t->lower, STALE);
	t_assert_eq(bdev_fault_create(t->lower, &t->dev), 0);
	t_assert_eq(bdev_fault_set_volatile(t->dev, true), 0);
	t_assert_eq(pagecache_create(NULL, &t->cache), 0);
	t_assert_eq(testfs_create(t->dev, t->cache, &o, &t->fs), 0);
	t_assert_eq(testfs_file_create(t->fs, &t->f), 0);
}

static void teardown(struct t_cutfs *t)
{
	char msg[256];

	if (testfs_check(t->fs, msg, sizeof(msg)))
		t_fail("testfs_check: %s", msg);
	testfs_destroy(t->fs);
	pagecache_destroy(t->cache);
	bdev_close(t->dev);
	bdev_close(t->lower);
}

static void cut(struct t_cutfs *t, unsigned int mode, uint64_t seed)
{
	t_assert_eq(bdev_fault_power_cut(t->dev, mode, seed), 0);
	testfs_drop_cache(t->f);
}

/* Write back [pos, pos + len) without flushing: a direct read writes it back first. */
static void writeback_no_flush(struct t_cutfs *t, uint64_t pos, size_t len)
{
	uint8_t *buf = t_aligned_alloc(4096, len);

	t_assert(testfs_direct_read(t->f, pos, buf, len) >= 0);
	free(buf);
}

static const unsigned int modes[] = {
	BDEV_FAULT_CUT_DROP_ALL,
	BDEV_FAULT_CUT_RANDOM,
	BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN,
};

/* Acknowledged data survives, written through the cache or directly. */
static void test_acknowledged(unsigned int bs, unsigned int mode, uint64_t seed)
{
	uint8_t *buf = t_aligned_alloc(4096, 8192);
	struct t_cutfs t;

	setup(&t, bs);
	t_write_pattern(t.f, 0, 5ULL * bs + 17, 1);
	t_fill_pattern(buf, 8192, 8ULL * bs, 2);
	t_assert_eq(testfs_direct_write(t.f, 8ULL * bs, buf, 8192), 8192);
	t_fsync(t.f);
	/* Not acknowledged: may or may not survive, and must not matter. */
	t_write_pattern(t.f, 3ULL * bs, 100, 3);
	t_write_pattern(t.f, 20ULL * bs, 100, 3);
	writeback_no_flush(&t, 0, 32ULL * bs);
	cut(&t, mode, seed);
	t_check_pattern_at(t.f, 0, 3ULL * bs, 1);
	t_check_pattern_at(t.f, 3ULL * bs + 100, 2ULL * bs - 83, 1);
	t_check_zero_at(t.f, 5ULL * bs + 17, 3ULL * bs - 17);
	t_check_pattern_at(t.f, 8ULL * bs, 8192, 2);
	free(buf);
	teardown(&t);
}

/* Regression: zeroes acknowledged in a hole stay zeroes (flush before conversion). */
static void test_hole_zeroes(unsigned int bs)
{
	struct t_cutfs t;

	setup(&t, bs);
	t_write_pattern(t.f, 0, bs, 4);
	t_assert_eq(testfs_truncate(t.f, 4ULL * bs), 0);
	t_fsync(t.f);
	t_write_pattern(t.f, 2ULL * bs, 10, 5);
	writeback_no_flush(&t, 0, 4ULL * bs);
	cut(&t, BDEV_FAULT_CUT_DROP_ALL, 0);
	t_check_pattern_at(t.f, 0, bs, 4);
	t_check_zero_at(t.f, bs, bs);
	t_check_zero_at(t.f, 2ULL * bs + 10, 2ULL * bs - 10);
	teardown(&t);
}

/* Regression: growing over an EOF tail whose zeroing was lost shows zeroes. */
static void test_eof_tail(unsigned int bs)
{
	struct t_cutfs t;

	setup(&t, bs);
	t_write_pattern(t.f, 0, bs + 100, 6);
	t_fsync(t.f);
	t_assert_eq(testfs_truncate(t.f, bs + 50), 0);
	writeback_no_flush(&t, 0, 2ULL * bs);
	cut(&t, BDEV_FAULT_CUT_DROP_ALL, 0);
	t_assert_eq(testfs_truncate(t.f, 3ULL * bs), 0);
	t_check_pattern_at(t.f, 0, bs + 50, 6);
	t_check_zero_at(t.f, bs + 50, 2ULL * bs - 50);
	/* The same through a write past EOF. */
	t_assert_eq(testfs_truncate(t.f, bs + 20), 0);
	writeback_no_flush(&t, 0, 2ULL * bs);
	cut(&t, BDEV_FAULT_CUT_DROP_ALL, 0);
	t_write_pattern(t.f, 2ULL * bs, 10, 7);
	t_check_zero_at(t.f, bs + 20, bs - 20);
	teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		unsigned int bs = t_block_sizes[i];

		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
			test_acknowledged(bs, modes[m], 100 + i * 10 + m);
		test_hole_zeroes(bs);
		test_eof_tail(bs);
	}
	return T_EXIT_PASS;
}
