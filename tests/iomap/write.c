/* SPDX-License-Identifier: MIT */
/*
 * Buffered writes through iomap: one mapping call per extent, the folio
 * hooks around every folio, no reads for folios written whole, reads or
 * zeroing only for partial blocks, i_size growth with SIZE_CHANGED, the
 * short-copy rule, stale mappings, INLINE writes and argument checks.
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "iomap/internal.h"
#include "toyfs.h"

#define SEED 0xabcdef

static struct iomap_stats stats(void)
{
	struct iomap_stats st;

	iomap_get_stats(&st);
	return st;
}

static void prefill(struct toyfs *fs, uint64_t addr, size_t len, uint64_t file_pos)
{
	char *buf = t_malloc(len);

	t_fill_pattern(buf, len, file_pos, SEED);
	toy_dev_write(fs, addr, buf, len);
	free(buf);
}

/* 1 MiB into one extent: one ->begin, 256 folios through the hooks, no reads. */
static void test_one_extent(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(1 << 20), *back = t_malloc(1 << 20);

	toy_init(&fs, bs, 4 << 20);
	fs.use_folio_ops = true;
	toy_add(&fs, 0, 1 << 20, IOMAP_MAPPED, 0, 0);
	iomap_reset_stats();
	t_fill_pattern(buf, 1 << 20, 0, SEED);
	t_assert_eq(toy_write(&fs, 0, buf, 1 << 20), 1 << 20);
	t_assert_eq(fs.begins, 1);
	t_assert_eq(fs.ends, 1);
	t_assert_eq(fs.last_written, 1 << 20);
	t_assert(fs.last_end_iomap_flags & IOMAP_F_SIZE_CHANGED);
	t_assert_eq(fs.get_folios, 256);
	t_assert_eq(fs.put_folios, 256);
	t_assert_eq(fs.put_copied_total, 1 << 20);
	t_assert(fs.min_put_refcount >= 2); /* put_folio gets a referenced folio */
	t_assert_eq(stats().rmw_reads, 0);
	t_assert_eq(stats().folio_state_bytes, 0); /* whole folios need no state */
	t_assert_eq(i_size_read(&fs.inode), 1 << 20);
	t_assert_eq(toy_read(&fs, 0, back, 1 << 20), 1 << 20);
	t_assert(memcmp(buf, back, 1 << 20) == 0);

	/* Overwrite inside the size: no SIZE_CHANGED. */
	t_assert_eq(toy_write(&fs, 4096, buf, 8192), 8192);
	t_assert(!(fs.last_end_iomap_flags & IOMAP_F_SIZE_CHANGED));
	toy_destroy(&fs);
	free(buf);
	free(back);
}

/* A partial block over MAPPED data is read first; over a new block it is zeroed. */
static void test_partial_blocks(unsigned int bs)
{
	struct toyfs fs;
	char data[100], back[8192];

	memset(data, 0x5a, sizeof(data));
	toy_init(&fs, bs, 1 << 20);
	toy_add(&fs, 0, 8192, IOMAP_MAPPED, 0, 0);
	prefill(&fs, 0, 8192, 0);
	i_size_write(&fs.inode, 8192);
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 1000, data, 100), 100);
	t_assert_eq(stats().rmw_reads, 1);
	t_assert_eq(toy_read(&fs, 0, back, 8192), 8192);
	t_assert(t_check_pattern(back, 1000, 0, SEED) == -1);
	t_assert(memcmp(back + 1000, data, 100) == 0);
	t_assert(t_check_pattern(back + 1100, 8192 - 1100, 1100, SEED) == -1);
	toy_destroy(&fs);

	/* Into a hole: the filesystem allocates (NEW); no read, zeroes around. */
	toy_init(&fs, bs, 1 << 20);
	prefill(&fs, 0, 8192, 0); /* stale garbage where the blocks will be */
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 1000, data, 100), 100);
	t_assert_eq(stats().rmw_reads, 0);
	t_assert_eq(i_size_read(&fs.inode), 1100);
	memset(back, 0xff, sizeof(back));
	t_assert_eq(toy_read(&fs, 0, back, 8192), 1100);
	t_assert(t_is_zero(back, 1000));
	t_assert(memcmp(back + 1000, data, 100) == 0);
	/* Grow: the tail of the block and folio must read as zeroes. */
	i_size_write(&fs.inode, 8192);
	t_assert_eq(toy_read(&fs, 0, back, 8192), 8192);
	t_assert(t_is_zero(back + 1100, 8192 - 1100));
	toy_destroy(&fs);

	/* Past EOF over old MAPPED blocks: zeroed, not read. */
	toy_init(&fs, bs, 1 << 20);
	toy_add(&fs, 0, 8192, IOMAP_MAPPED, 0, 0);
	prefill(&fs, 0, 8192, 0);
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 1000, data, 100), 100);
	t_assert_eq(stats().rmw_reads, 0);
	i_size_write(&fs.inode, 4096);
	t_assert_eq(toy_read(&fs, 0, back, 4096), 4096);
	{
		size_t head = 1000 & ~(size_t)(bs - 1);
		size_t tail = (1100 + bs - 1) & ~(size_t)(bs - 1);

		t_assert(t_is_zero(back + head, 1000 - head));
		t_assert(memcmp(back + 1000, data, 100) == 0);
		t_assert(t_is_zero(back + 1100, tail - 1100));
	}
	toy_destroy(&fs);
}

struct short_src {
	unsigned int calls;
	unsigned int short_at; /* this call (1-based) is short */
	size_t short_len;
};

static size_t short_readable(const struct io_iter *iter, size_t want, void *arg)
{
	struct short_src *s = arg;

	(void)iter;
	if (++s->calls == s->short_at)
		return want < s->short_len ? want : s->short_len;
	return want;
}

/* A short copy into a folio that is not uptodate counts as nothing and is redone. */
static void test_short_copy(void)
{
	struct toyfs fs;
	char *buf = t_malloc(4096), back[4096];
	struct short_src src = { .short_at = 2, .short_len = 1000 };
	struct iovec iov = { buf, 4096 };
	struct io_iter from;

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	prefill(&fs, 0, 4096, 0);
	i_size_write(&fs.inode, 4096);
	memset(buf, 0x33, 4096);
	io_iter_init(&from, &iov, 1, 4096);
	from.readable = short_readable;
	from.readable_arg = &src;
	iomap_reset_stats();
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, &toy_iomap_ops, NULL), 4096);
	t_assert_eq(from.count, 0);
	t_assert_eq(stats().short_copies, 1);
	t_assert_eq(toy_read(&fs, 0, back, 4096), 4096);
	t_assert(memcmp(back, buf, 4096) == 0);
	toy_destroy(&fs);

	/* A source that yields nothing: -EFAULT and nothing written. */
	toy_init(&fs, 4096, 1 << 20);
	src = (struct short_src){ .short_at = 1, .short_len = 0 };
	io_iter_init(&from, &iov, 1, 4096);
	from.readable = short_readable;
	from.readable_arg = &src;
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, &toy_iomap_ops, NULL),
		    -EFAULT);
	t_assert_eq(i_size_read(&fs.inode), 0);
	t_assert_eq(mapping_nr_folios(fs.inode.i_mapping), 0); /* nothing left past EOF */
	toy_destroy(&fs);
	free(buf);
}

/* Only the written blocks of a sub-page folio become dirty. */
static void test_dirty_blocks(void)
{
	struct toyfs fs;
	char data[512];
	struct folio *folio;

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	i_size_write(&fs.inode, 4096);
	memset(data, 1, sizeof(data));
	t_assert_eq(toy_write(&fs, 1024, data, 512), 512);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, 0, &folio), 0);
	t_assert(folio_test_dirty(folio));
	t_assert(folio_ifs(folio));
	for (unsigned int b = 0; b < 8; b++)
		t_assert_eq(ifs_block_is_dirty(folio_ifs(folio), 8, b), b == 2);
	t_assert(!folio_test_uptodate(folio));
	t_assert(iomap_is_partially_uptodate(folio, 1024, 512));
	t_assert(!iomap_is_partially_uptodate(folio, 512, 1024));
	folio_put(folio);
	toy_destroy(&fs);
}

/* A stale mapping found under the folio lock is remapped; data still right. */
static void test_stale(void)
{
	struct toyfs fs;
	char *buf = t_malloc(16384), back[16384];

	toy_init(&fs, 4096, 1 << 20);
	fs.use_folio_ops = true;
	fs.stale_at = 3;
	toy_add(&fs, 0, 16384, IOMAP_MAPPED, 0, 0);
	t_fill_pattern(buf, 16384, 0, SEED);
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 0, buf, 16384), 16384);
	t_assert_eq(fs.begins, 2);
	t_assert_eq(fs.ends, 2);
	t_assert_eq(stats().stale_remaps, 1);
	t_assert_eq(fs.get_folios, 5);
	t_assert_eq(fs.put_folios, 5); /* the stale one is handed back too */
	t_assert_eq(toy_read(&fs, 0, back, 16384), 16384);
	t_assert(memcmp(buf, back, 16384) == 0);
	toy_destroy(&fs);
	free(buf);
}

/* INLINE: data lands in the filesystem's buffer; the folio stays clean. */
static void test_inline(void)
{
	struct toyfs fs;
	char data[200], back[300];
	struct folio *folio;

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 3000, IOMAP_INLINE, IOMAP_NULL_ADDR, 0);
	t_fill_pattern(fs.inline_buf, 100, 0, SEED);
	i_size_write(&fs.inode, 100);
	memset(data, 0x77, sizeof(data));
	iomap_reset_stats();
	t_assert_eq(toy_write(&fs, 100, data, 200), 200);
	t_assert_eq(i_size_read(&fs.inode), 300);
	t_assert(fs.last_end_iomap_flags & IOMAP_F_SIZE_CHANGED);
	t_assert(t_check_pattern(fs.inline_buf, 100, 0, SEED) == -1);
	t_assert(memcmp(fs.inline_buf + 100, data, 200) == 0);
	t_assert_eq(stats().inline_writes, 1);
	t_assert_eq(filemap_get_folio(fs.inode.i_mapping, 0, 0, &folio), 0);
	t_assert(!folio_test_dirty(folio));
	folio_put(folio);
	t_assert_eq(toy_read(&fs, 0, back, 300), 300);
	t_assert(memcmp(back + 100, data, 200) == 0);
	toy_destroy(&fs);
}

/* A failing ->begin after progress: the bytes done are returned. */
static void test_begin_error(void)
{
	struct toyfs fs;
	char *buf = t_malloc(16384);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	toy_add(&fs, 4096, 4096, IOMAP_MAPPED, 4096, 0);
	memset(buf, 9, 16384);
	fs.fail_begin_at = 2;
	t_assert_eq(toy_write(&fs, 0, buf, 8192), 4096);
	fs.fail_begin_at = fs.begins + 1;
	t_assert_eq(toy_write(&fs, 4096, buf, 4096), -EIO);
	toy_destroy(&fs);
	free(buf);
}

static void test_bad_args(void)
{
	struct toyfs fs;
	char c = 0;
	struct iovec iov = { &c, 1 };
	struct io_iter from;

	toy_init(&fs, 4096, 1 << 20);
	io_iter_init(&from, &iov, 1, 1);
	t_assert_eq(iomap_file_buffered_write(NULL, 0, &from, &toy_iomap_ops, NULL), -EINVAL);
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, NULL, NULL), -EINVAL);
	t_assert_eq(iomap_file_buffered_write(&fs.inode, INT64_MAX, &from, &toy_iomap_ops, NULL),
		    -EFBIG);
	t_assert_eq(iomap_zero_range(&fs.inode, UINT64_MAX - 1, 10, NULL, &toy_iomap_ops), -EFBIG);
	io_iter_init(&from, &iov, 1, 0);
	t_assert_eq(iomap_file_buffered_write(&fs.inode, 0, &from, &toy_iomap_ops, NULL), 0);
	t_assert_eq(fs.begins, 0);
	toy_destroy(&fs);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++) {
		test_one_extent(sizes[i]);
		test_partial_blocks(sizes[i]);
	}
	test_short_copy();
	test_dirty_blocks();
	test_stale();
	test_inline();
	test_begin_error();
	test_bad_args();
	return T_EXIT_PASS;
}
