/* SPDX-License-Identifier: MIT */
/*
 * Description: writeback errors reported by fsync with errseq semantics,
 * as xfstests generic/441 and 487 check on a dm-error device.  Several
 * handles are open on a file when writes start failing: each handle's
 * fsync reports the error exactly once, a second fsync succeeds, a handle
 * that has not called fsync yet still gets it (never a success first), and
 * a handle opened after the error was reported does not see it.  An error
 * nobody reported yet (writeback by testfs_sync) reaches a handle opened
 * afterwards, as the kernel's errseq_sample() wants.  The data of the
 * failed writes reads as zeroes after a cache drop, never as what the
 * device held before, and a rewrite after the device recovers sticks.
 */
#include "t-testfs.h"

#include "iomap/bdev-fault.h"

#define DEV_SIZE (8U << 20)
#define NR_HANDLES 4
#define STALE 0xee

struct t_faultfs {
	struct bdev *lower, *dev;
	struct pagecache *cache;
	struct testfs *fs;
};

static void setup(struct t_faultfs *t, unsigned int bs)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = true };

	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &t->lower), 0);
	t_dev_fill(t->lower, STALE);
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

static void fail_writes(struct t_faultfs *t)
{
	struct bdev_fault_rule r = { .ops = BDEV_FAULT_OP_WRITE, .nr_sectors = UINT64_MAX,
				     .error = -EIO };

	t_assert_eq(bdev_fault_add_rule(t->dev, &r), 0);
}

static void fsck(struct t_faultfs *t)
{
	char msg[256];

	if (testfs_check(t->fs, msg, sizeof(msg)))
		t_fail("testfs_check: %s", msg);
}

static int fsync_all(struct testfs_handle *h)
{
	return testfs_fsync(h, false, 0, UINT64_MAX);
}

/* generic/441: every handle sees the error once, then success. */
static void test_every_handle(unsigned int bs)
{
	struct testfs_handle *h[NR_HANDLES], *late;
	struct testfs_file *f;
	struct t_faultfs t;

	setup(&t, bs);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	for (int i = 0; i < NR_HANDLES; i++)
		h[i] = t_open(f);
	t_write_pattern(f, 0, 8ULL * bs, 1);
	for (int i = 0; i < NR_HANDLES; i++)
		t_assert_eq(fsync_all(h[i]), 0);

	fail_writes(&t);
	t_write_pattern(f, 0, 8ULL * bs, 2);
	t_assert_eq(fsync_all(h[0]), -EIO);
	t_assert_eq(fsync_all(h[0]), 0);
	/* The others never wrote back themselves: they still hear of it, once. */
	for (int i = 1; i < NR_HANDLES; i++) {
		t_assert_eq(fsync_all(h[i]), -EIO);
		t_assert_eq(fsync_all(h[i]), 0);
	}
	late = t_open(f);
	t_assert_eq(fsync_all(late), 0);
	testfs_close(late);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);

	/* After recovery a rewrite sticks and nobody reports anything. */
	t_write_pattern(f, 0, 8ULL * bs, 3);
	for (int i = 0; i < NR_HANDLES; i++)
		t_assert_eq(fsync_all(h[i]), 0);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, 8ULL * bs, 3);
	for (int i = 0; i < NR_HANDLES; i++)
		testfs_close(h[i]);
	fsck(&t);
	teardown(&t);
}

/*
 * A failed writeback of new data leaves its blocks UNWRITTEN: after the
 * cache is dropped they read as zeroes, not as the device's old bytes.
 */
static void test_no_stale(unsigned int bs)
{
	struct testfs_handle *h;
	struct testfs_file *f;
	struct testfs_stats st;
	struct t_faultfs t;

	setup(&t, bs);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	h = t_open(f);
	fail_writes(&t);
	t_write_pattern(f, 0, 6ULL * bs + 3, 4);
	t_assert_eq(fsync_all(h), -EIO);
	testfs_get_stats(t.fs, &st);
	t_assert(st.ioend_errors > 0);
	t_assert_eq(st.blocks_delalloc, 0);
	t_drop_all(f);
	t_check_zero_at(f, 0, 6ULL * bs + 3);
	t_assert_eq(testfs_disk_size(f), 0);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	t_write_pattern(f, bs, 2ULL * bs, 5);
	t_assert_eq(fsync_all(h), 0);
	t_drop_all(f);
	t_check_zero_at(f, 0, bs);
	t_check_pattern_at(f, bs, 2ULL * bs, 5);
	t_check_zero_at(f, 3ULL * bs, 3ULL * bs + 3);
	testfs_close(h);
	fsck(&t);
	teardown(&t);
}

/* generic/487 and errseq_sample(): an error nobody saw reaches a new handle. */
static void test_unseen_error(unsigned int bs)
{
	struct testfs_handle *before, *after, *later;
	struct testfs_file *f;
	struct t_faultfs t;

	setup(&t, bs);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	before = t_open(f);
	fail_writes(&t);
	t_write_pattern(f, 0, 4ULL * bs, 6);
	/* Written back by sync, which reports no per-file I/O error itself. */
	testfs_sync(t.fs);
	t_assert_eq(bdev_fault_clear_rules(t.dev), 0);
	after = t_open(f);
	t_assert_eq(fsync_all(after), -EIO);
	t_assert_eq(fsync_all(after), 0);
	t_assert_eq(fsync_all(before), -EIO);
	t_assert_eq(fsync_all(before), 0);
	/* Now it has been reported: a handle opened from here on never sees it. */
	later = t_open(f);
	t_assert_eq(fsync_all(later), 0);
	testfs_close(later);
	testfs_close(after);
	testfs_close(before);
	fsck(&t);
	teardown(&t);
}

/* Overwrites that fail keep failing fsync for a handle until it reports. */
static void test_two_errors(unsigned int bs)
{
	struct testfs_handle *a, *b;
	struct testfs_file *f;
	struct t_faultfs t;

	setup(&t, bs);
	t_assert_eq(testfs_file_create(t.fs, &f), 0);
	t_write_pattern(f, 0, 4ULL * bs, 7);
	t_fsync(f);
	a = t_open(f);
	b = t_open(f);
	fail_writes(&t);
	t_write_pattern(f, 0, bs, 8);
	t_assert_eq(fsync_all(a), -EIO);
	t_write_pattern(f, bs, bs, 8);
	t_assert_eq(fsync_all(a), -EIO);
	/* b saw neither: one report covers both. */
	t_assert_eq(fsync_all(b), -EIO);
	t_assert_eq(fsync_all(b), 0);
	t_assert_eq(fsync_all(a), 0);
	testfs_close(a);
	testfs_close(b);
	fsck(&t);
	teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		test_every_handle(t_block_sizes[i]);
		test_no_stale(t_block_sizes[i]);
		test_unseen_error(t_block_sizes[i]);
		test_two_errors(t_block_sizes[i]);
	}
	return T_EXIT_PASS;
}
