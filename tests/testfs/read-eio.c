/* SPDX-License-Identifier: MIT */
/*
 * Description: a read error reaches the reader and never turns into zeroes
 * or stale bytes.  A file is written back through writeback (the device
 * held 0xee before), dropped from the cache, and read while one of its
 * blocks fails: every byte any read returns is the file's, a read that
 * covers the bad block comes back short or with -EIO (never in full), a
 * read starting at it fails, the blocks around its folio read fine, and
 * nothing wrong stays cached: when the
 * device recovers (or fails only once) every byte reads right.
 */
#include "t-testfs.h"

#include "iomap/bdev-fault.h"
#include "iomap/folio.h"

#define tfs_max_u64(a, b) ((a) > (b) ? (a) : (b))

#define DEV_SIZE (8U << 20)
#define FILE_BLOCKS 64
#define STALE 0xee

struct t_faultfs {
	struct bdev *lower, *dev;
	struct pagecache *cache;
	struct testfs *fs;
	struct testfs_file *f;
	uint64_t bs, size, bad; /* bad: file offset of the failing block */
	bool persistent; /* it fails until the rule is cleared */
};

static void setup(struct t_faultfs *t, unsigned int bs)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = true };

	t->bs = bs;
	t->size = FILE_BLOCKS * t->bs - 33;
	t->bad = 37 * t->bs;
	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &t->lower), 0);
	t_dev_fill(t->lower, STALE);
	t_assert_eq(bdev_fault_create(t->lower, &t->dev), 0);
	t_assert_eq(pagecache_create(&(struct pagecache_opts){ 0 }, &t->cache), 0);
	t_assert_eq(testfs_create(t->dev, t->cache, &o, &t->fs), 0);
	t_assert_eq(testfs_file_create(t->fs, &t->f), 0);
	t_write_pattern(t->f, 0, t->size, 1);
	t_fsync(t->f);
	t_drop_all(t->f);
}

static void teardown(struct t_faultfs *t)
{
	testfs_destroy(t->fs);
	pagecache_destroy(t->cache);
	bdev_close(t->dev);
	bdev_close(t->lower);
}

/* The bad block's folio (order 0 here: reads allocate single pages). */
static uint64_t folio_start(const struct t_faultfs *t)
{
	return t->bad & ~(uint64_t)(PAGE_SIZE - 1);
}

static uint64_t folio_end(const struct t_faultfs *t)
{
	return tfs_max_u64(folio_start(t) + PAGE_SIZE, t->bad + t->bs);
}

/* Fail reads of the bad block's sectors: @count times, 0 = until cleared. */
static void fail_bad_block(struct t_faultfs *t, uint64_t count)
{
	struct fiemap *fi = t_fiemap(t->f, 64);
	struct bdev_fault_rule r = { .ops = BDEV_FAULT_OP_READ, .nr_sectors = t->bs >> 9,
				     .count = count, .error = -EIO };

	for (unsigned int i = 0; i < fi->fm_mapped_extents; i++) {
		const struct fiemap_extent *e = &fi->fm_extents[i];

		if (t->bad >= e->fe_logical && t->bad < e->fe_logical + e->fe_length)
			r.first_sector = (e->fe_physical + t->bad - e->fe_logical) >> 9;
	}
	free(fi);
	t_assert(r.first_sector);
	t_assert_eq(bdev_fault_add_rule(t->dev, &r), 0);
	t->persistent = !count;
}

/*
 * Read [pos, pos + len): whatever comes back must be the file's bytes, and
 * while the bad block fails for good, a read over it must not come back
 * whole (a read that fails once may: the page cache retries it).
 */
static void read_check(struct t_faultfs *t, uint64_t pos, uint64_t len)
{
	uint8_t *buf = t_malloc(len);
	ssize_t n;
	long bad;

	memset(buf, 0, len);
	n = testfs_read(t->f, pos, buf, len);
	t_assert(n == -EIO || (n >= 0 && (uint64_t)n <= len));
	if (n < 0) {
		free(buf);
		return;
	}
	bad = t_check_pattern(buf, (size_t)n, pos, 1);
	if (bad >= 0)
		t_fail("read at %llu returned byte 0x%02x at %llu", (unsigned long long)pos,
		       buf[bad], (unsigned long long)(pos + (uint64_t)bad));
	if (t->persistent && pos <= t->bad && pos + len > t->bad && (uint64_t)n > t->bad - pos)
		t_fail("read %llu+%llu over the bad block returned %zd bytes",
		       (unsigned long long)pos, (unsigned long long)len, n);
	free(buf);
}

static void test_persistent(unsigned int bs)
{
	struct t_faultfs t;
	struct t_rng rng;

	setup(&t, bs);
	fail_bad_block(&t, 0);
	read_check(&t, 0, t.size);
	t_assert_eq(testfs_read(t.f, t.bad, (uint8_t[1]){ 0 }, 1), -EIO);
	t_assert_eq(testfs_read(t.f, t.bad + bs - 1, (uint8_t[1]){ 0 }, 1), -EIO);
	/*
	 * The blocks just outside its folio read fine (those inside share the
	 * folio's read bio, which fails whole, as in the kernel).
	 */
	t_check_pattern_at(t.f, folio_start(&t) - bs, bs, 1);
	t_check_pattern_at(t.f, folio_end(&t), bs, 1);
	t_rng_seed(&rng, bs);
	for (int i = 0; i < 200; i++) {
		uint64_t pos = t_rng_below(&rng, t.size);

		read_check(&t, pos, 1 + t_rng_below(&rng, t.size - pos));
		if (t_rng_below(&rng, 4) == 0)
			testfs_drop_cache(t.f);
	}
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	t_check_pattern_at(t.f, 0, t.size, 1);
	teardown(&t);
}

/* A read that fails once: the retry gets the data, not a cached zero. */
static void test_transient(unsigned int bs)
{
	struct t_faultfs t;

	setup(&t, bs);
	fail_bad_block(&t, 1);
	read_check(&t, t.bad - 2 * bs, 4 * bs);
	t_check_pattern_at(t.f, 0, t.size, 1);
	teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		test_persistent(t_block_sizes[i]);
		test_transient(t_block_sizes[i]);
	}
	return T_EXIT_PASS;
}
