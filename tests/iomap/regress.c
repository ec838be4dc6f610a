/* SPDX-License-Identifier: MIT */
/*
 * Regression tests for bugs the kernel's iomap had (reference notes,
 * section 2.14), each named after the fix.
 */
#include <pthread.h>
#include <string.h>

#include "helpers.h"
#include "iomap/internal.h"
#include "toyfs.h"

#define SEED 0x2018

static struct iomap_stats stats(void)
{
	struct iomap_stats st;

	iomap_get_stats(&st);
	return st;
}

/*
 * 1cea335d1db1: read completions of several blocks of one folio racing in
 * different threads must neither lose an uptodate bit nor end the read twice.
 */
struct completer {
	struct folio *folio;
	size_t off;
	pthread_barrier_t *barrier;
};

static void *complete_block(void *arg)
{
	struct completer *c = arg;

	pthread_barrier_wait(c->barrier);
	iomap_finish_folio_read(c->folio, c->off, 512, 0);
	return NULL;
}

static void test_racing_read_completions(void)
{
	for (int round = 0; round < 200; round++) {
		struct toyfs fs;
		struct folio *folio;
		pthread_t th[8];
		struct completer c[8];
		pthread_barrier_t barrier;

		toy_init(&fs, 512, 1 << 20);
		t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, FGP_LOCK | FGP_CREAT, &folio),
			    0);
		t_assert(ifs_alloc(&fs.inode, folio));
		ifs_read_start(folio, 4096);
		pthread_barrier_init(&barrier, NULL, 8);
		for (int i = 0; i < 8; i++) {
			c[i] = (struct completer){ folio, (size_t)i * 512, &barrier };
			pthread_create(&th[i], NULL, complete_block, &c[i]);
		}
		for (int i = 0; i < 8; i++)
			pthread_join(th[i], NULL);
		ifs_read_finish_bias(folio, 0);
		t_assert(folio_test_uptodate(folio));
		t_assert(!folio_test_locked(folio));
		pthread_barrier_destroy(&barrier);
		folio_put(folio);
		toy_destroy(&fs);
	}
}

/*
 * 4595a298d556: state created for a folio that is already uptodate and
 * dirty must say so for every block, or writeback skips blocks.
 */
static void test_state_of_uptodate_folio(void)
{
	struct toyfs fs;
	char *buf = t_malloc(4096);
	struct folio *folio;

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	memset(buf, 3, 4096);
	t_assert_eq(toy_write(&fs, 0, buf, 4096), 4096); /* whole folio: no state */
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, 0, &folio), 0);
	t_assert(!folio_ifs(folio));
	folio_put(folio);
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 100, buf, 10), 10); /* partial: state created */
	t_assert_eq(stats().rmw_reads, 0);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, 0, &folio), 0);
	t_assert(folio_ifs(folio));
	for (unsigned int b = 0; b < 8; b++) {
		t_assert(ifs_block_is_uptodate(folio_ifs(folio), b));
		t_assert(ifs_block_is_dirty(folio_ifs(folio), 8, b));
	}
	folio_put(folio);
	toy_destroy(&fs);
	free(buf);
}

/* 14284fedf59f: blocks read in write_begin must be marked uptodate. */
static void test_rmw_blocks_uptodate(void)
{
	struct toyfs fs;
	char disk[512], data[100], back[512];
	uint64_t reads;
	struct bdev_stats bst;

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	t_fill_pattern(disk, 512, 0, SEED);
	toy_dev_write(&fs, 0, disk, 512);
	i_size_write(&fs.inode, 4096);
	memset(data, 0x61, sizeof(data));
	t_assert_eq(toy_write(&fs, 100, data, 100), 100);
	bdev_get_stats(fs.bdev, &bst);
	reads = bst.bios_read;
	t_assert_eq(toy_read(&fs, 0, back, 512), 512);
	bdev_get_stats(fs.bdev, &bst);
	t_assert_eq(bst.bios_read, reads);
	t_assert(memcmp(back, disk, 100) == 0);
	t_assert(memcmp(back + 100, data, 100) == 0);
	t_assert(memcmp(back + 200, disk + 200, 312) == 0);
	toy_destroy(&fs);
}

/*
 * Zhang Yi 2024: when write_begin zeroes around the write in a new block it
 * must not mark the block uptodate before the copy, or a concurrent reader
 * sees stale memory where the copy has not landed yet.
 */
static struct toyfs *zy_fs;
static bool zy_checked;

static size_t zy_readable(const struct io_iter *iter, size_t want, void *arg)
{
	struct folio *folio = zy_fs->cur_folio;

	(void)iter;
	(void)arg;
	if (folio) {
		t_assert(folio_ifs(folio));
		t_assert(!ifs_block_is_uptodate(folio_ifs(folio), 0));
		t_assert(!folio_test_uptodate(folio));
		zy_checked = true;
	}
	return want;
}

static void test_zeroed_block_not_uptodate_before_copy(void)
{
	struct toyfs fs;
	char data[100];
	struct iovec iov = { data, sizeof(data) };
	struct io_iter from;

	toy_init(&fs, 512, 1 << 20);
	fs.use_folio_ops = true;
	zy_fs = &fs;
	memset(data, 0x7e, sizeof(data));
	io_iter_init(&from, &iov, 1, sizeof(data));
	from.readable = zy_readable;
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 100, &from, &toy_iomap_ops, NULL), 100);
	t_assert(zy_checked);
	toy_destroy(&fs);
}

/*
 * faddeb848305: the INLINE buffer is used until ->end; by then the copy
 * must be complete (and not after, when the filesystem may drop it).
 */
static char inline_expect[300];
static unsigned int inline_ends_checked;

static int inline_end(struct inode *inode, uint64_t pos, uint64_t length, int64_t written,
		      unsigned int flags, struct iomap *iomap)
{
	if (iomap->type == IOMAP_INLINE) {
		t_assert(memcmp(iomap->inline_data, inline_expect, (size_t)(pos + (uint64_t)written)) == 0);
		inline_ends_checked++;
		iomap->inline_data = NULL; /* the filesystem lets go of its buffer here */
	}
	return toy_iomap_ops.end(inode, pos, length, written, flags, iomap);
}

static void test_inline_buffer_lifetime(void)
{
	struct toyfs fs;
	const struct iomap_ops ops = { .begin = toy_iomap_ops.begin, .end = inline_end };
	struct iovec iov = { inline_expect, sizeof(inline_expect) };
	struct io_iter from;

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 3000, IOMAP_INLINE, IOMAP_NULL_ADDR, 0);
	t_fill_pattern(inline_expect, sizeof(inline_expect), 0, SEED);
	io_iter_init(&from, &iov, 1, sizeof(inline_expect));
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, &ops, NULL), 300);
	t_assert_eq(inline_ends_checked, 1);
	toy_destroy(&fs);
}

/* 63899c6f8851 follow-up: put_folio must get a folio that is still referenced. */
static void test_put_folio_referenced(void)
{
	struct toyfs fs;
	char buf[8192];

	toy_init(&fs, 1024, 1 << 20);
	fs.use_folio_ops = true;
	memset(buf, 1, sizeof(buf));
	t_assert_eq(toy_write(&fs, 1000, buf, sizeof(buf)), sizeof(buf));
	t_assert(fs.min_put_refcount >= 2);
	t_assert_eq(fs.get_folios, fs.put_folios);
	toy_destroy(&fs);
}

/*
 * Found by the exerciser (testfs, stale_every=2): a short copy's retry that
 * meets a stale mapping lost its shortened length, so the next attempt was
 * short again and the write never progressed.  Every attempt must progress.
 */
struct alternating_src {
	unsigned int calls;
};

static size_t alternating_readable(const struct io_iter *iter, size_t want, void *arg)
{
	struct alternating_src *s = arg;

	(void)iter;
	return (++s->calls % 2) ? want : (want < 100 ? want : 100);
}

static void test_short_copy_meets_stale_mapping(void)
{
	struct toyfs fs;
	char *buf = t_malloc(8192), *back = t_malloc(8192);
	struct alternating_src src = { 0 };
	struct iovec iov = { buf, 8192 };
	struct io_iter from;

	toy_init(&fs, 4096, 1 << 20);
	fs.use_folio_ops = true;
	fs.stale_every = 2;
	t_fill_pattern(buf, 8192, 0, SEED);
	io_iter_init(&from, &iov, 1, 8192);
	from.readable = alternating_readable;
	from.readable_arg = &src;
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, &toy_iomap_ops, NULL), 8192);
	t_assert_eq(toy_read(&fs, 0, back, 8192), 8192);
	t_assert(memcmp(buf, back, 8192) == 0);
	toy_destroy(&fs);
	free(buf);
	free(back);
}

int main(void)
{
	test_short_copy_meets_stale_mapping();
	test_racing_read_completions();
	test_state_of_uptodate_folio();
	test_rmw_blocks_uptodate();
	test_zeroed_block_not_uptodate_before_copy();
	test_inline_buffer_lifetime();
	test_put_folio_referenced();
	return T_EXIT_PASS;
}
