/* SPDX-License-Identifier: MIT */
/*
 * Description: journaled data (testfs_opts.jdata) at block sizes 512 to
 * 4096.  Each folio of a write gets its own transaction, opened in
 * ->get_folio and committed in ->put_folio: a descriptor block naming the
 * in-place addresses, then the blocks, written to the journal ring with
 * FUA, as many commits as folios written.  No transaction is held across
 * the per-folio loop: none is ever found open when the next one starts,
 * and at most one is open at a time, also when mappings go stale, when
 * zeroing goes through the hooks, and when a small cache budget makes
 * writers wait for writeback.  The journal holds what the commits say,
 * and writeback puts the data in place, where it reads back after a
 * cache drop.
 */
#include "t-testfs.h"

#include "iomap/bio.h"
#include "iomap/folio.h"

#define DEV_SIZE (16U << 20)

struct jdesc {
	uint64_t magic, seq;
	uint32_t nr, blkbits;
	uint64_t blocknr[];
};

static void setup(struct t_fs *t, unsigned int bs, unsigned int stale_every, uint64_t budget)
{
	struct testfs_opts o = { .block_size = bs, .jdata = true, .stale_every = stale_every };
	struct pagecache_opts po = { .budget_bytes = budget };

	memset(t, 0, sizeof(*t));
	t_assert_eq(bdev_open_ram(DEV_SIZE, 512, &t->bdev), 0);
	t_assert_eq(pagecache_create(&po, &t->cache), 0);
	t_assert_eq(testfs_create(t->bdev, t->cache, &o, &t->fs), 0);
}

static void check_no_nesting(struct t_fs *t)
{
	struct testfs_stats st = t_stats(t);

	t_assert_eq(st.trans_nested, 0);
	t_assert_eq(st.trans_max_open, 1);
	t_assert(st.trans_committed <= st.trans_begun);
}

/* The journal's first commit: the descriptor, then the data of file offset 0. */
static void check_journal(struct t_fs *t, struct testfs_file *f, unsigned int bs)
{
	uint8_t *buf = t_malloc(2ULL * bs);
	const struct jdesc *d = (const struct jdesc *)buf;
	struct fiemap *fi = t_fiemap(f, 4);

	t_assert_eq(t_dev_io(t->bdev, BIO_OP_READ, 0, buf, 2ULL * bs), 0);
	t_assert_eq(d->magic, 0x7466736a726e6c31ULL);
	t_assert_eq(d->seq, 1);
	t_assert_eq(d->nr, PAGE_SIZE / bs);
	t_assert_eq(d->blocknr[0] * bs, fi->fm_extents[0].fe_physical);
	t_assert_eq(t_check_pattern(buf + bs, bs, 0, 1), -1);
	free(fi);
	free(buf);
}

static void test_round_trip(unsigned int bs)
{
	uint64_t pages = 16, journal = 0;
	struct bdev_stats dev;
	struct testfs_stats st;
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, 0, 0);
	f = t_file(&t);
	st = t_stats(&t);
	t_assert(st.journal_size > 0);
	t_assert_eq(st.blocks_allocated, st.journal_size);
	bdev_reset_stats(t.bdev);
	t_write_pattern(f, 0, pages * PAGE_SIZE, 1);
	st = t_stats(&t);
	t_assert_eq(st.trans_begun, pages);
	t_assert_eq(st.trans_committed, pages);
	journal = pages * (PAGE_SIZE / bs + 1);
	t_assert_eq(st.journal_blocks, journal);
	bdev_get_stats(t.bdev, &dev);
	t_assert_eq(dev.fua_writes, pages);
	t_assert_eq(dev.bytes_written, journal * bs);
	check_no_nesting(&t);
	check_journal(&t, f, bs);
	/* In place through writeback. */
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 0, pages * PAGE_SIZE, 1);
	/* An unaligned overwrite: one transaction per folio it touches. */
	t_write_pattern(f, PAGE_SIZE - 10, 20, 2);
	t_assert_eq(t_stats(&t).trans_begun, pages + 2);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, PAGE_SIZE - 10, 20, 2);
	check_no_nesting(&t);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Stale mappings and zeroing go through the hooks too; nothing nests. */
static void test_stale_zero(unsigned int bs)
{
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, 3, 0);
	f = t_file(&t);
	t_write_pattern(f, 100, 40 * PAGE_SIZE, 3);
	t_assert(t_stats(&t).stale_injected > 0);
	t_assert_eq(testfs_zero_range(f, 200, 3 * PAGE_SIZE), 0);
	t_assert_eq(testfs_truncate(f, 20 * PAGE_SIZE + 33), 0);
	check_no_nesting(&t);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 100, 100, 3);
	t_check_zero_at(f, 200, 3 * PAGE_SIZE);
	t_check_pattern_at(f, 200 + 3 * PAGE_SIZE, 17 * PAGE_SIZE - 167, 3);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* A small cache: writers wait for writeback between folios, never inside a transaction. */
static void test_budget(unsigned int bs)
{
	uint64_t size = 12ULL << 20;
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, 0, 4ULL << 20);
	f = t_file(&t);
	for (uint64_t pos = 0; pos < size; pos += 256 * 1024)
		t_write_pattern(f, pos, 256 * 1024, 4);
	check_no_nesting(&t);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 0, size, 4);
	t_fsck(&t);
	t_fs_teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		test_round_trip(t_block_sizes[i]);
		test_stale_zero(t_block_sizes[i]);
	}
	test_budget(4096);
	test_budget(1024);
	return T_EXIT_PASS;
}
