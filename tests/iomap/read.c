/* SPDX-License-Identifier: MIT */
/*
 * Buffered reads through iomap: MAPPED data comes from the device in bios
 * that span folios where the blocks are contiguous; HOLE, UNWRITTEN,
 * DELALLOC and blocks past EOF read as zeroes without I/O; INLINE data is
 * copied; sub-folio blocks that are already valid are not read again.
 */
#include <string.h>

#include "helpers.h"
#include "toyfs.h"

#define SEED 0x5eed

static void fill_dev(struct toyfs *fs, uint64_t addr, uint64_t len, uint64_t file_pos)
{
	char *buf = t_malloc(len);

	t_fill_pattern(buf, len, file_pos, SEED);
	toy_dev_write(fs, addr, buf, len);
	free(buf);
}

static void check_pattern(const char *buf, size_t len, uint64_t pos)
{
	long bad = t_check_pattern(buf, len, pos, SEED);

	if (bad >= 0)
		t_fail("byte %llu differs", (unsigned long long)(pos + (uint64_t)bad));
}

static uint64_t read_bios(const struct toyfs *fs)
{
	struct bdev_stats st;

	bdev_get_stats(fs->bdev, &st);
	return st.bios_read;
}

/* 1 MiB contiguous on disk: one mapping call, one bio. */
static void test_contiguous(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(1 << 20);
	uint64_t bios0;

	toy_init(&fs, bs, 4 << 20);
	toy_add(&fs, 0, 1 << 20, IOMAP_MAPPED, 1 << 20, 0);
	fill_dev(&fs, 1 << 20, 1 << 20, 0);
	i_size_write(&fs.inode, 1 << 20);
	bios0 = read_bios(&fs);
	t_assert_eq(toy_read(&fs, 0, buf, 1 << 20), 1 << 20);
	check_pattern(buf, 1 << 20, 0);
	t_assert_eq(read_bios(&fs) - bios0, 1);
	t_assert_eq(fs.begins, 1);
	/* Cached now: no more I/O, no more mapping calls. */
	t_assert_eq(toy_read(&fs, 12345, buf, 100000), 100000);
	check_pattern(buf, 100000, 12345);
	t_assert_eq(read_bios(&fs) - bios0, 1);
	t_assert_eq(fs.begins, 1);
	toy_destroy(&fs);
	free(buf);
}

/* Each kind of extent that reads as zeroes does so without I/O. */
static void test_zero_types(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(256 << 10);
	uint64_t bios0;

	toy_init(&fs, bs, 4 << 20);
	toy_add(&fs, 0, 64 << 10, IOMAP_MAPPED, 0, 0);
	/* 64K..128K: hole */
	toy_add(&fs, 128 << 10, 64 << 10, IOMAP_UNWRITTEN, 1 << 20, 0);
	toy_add(&fs, 192 << 10, 64 << 10, IOMAP_DELALLOC, IOMAP_NULL_ADDR, 0);
	fill_dev(&fs, 0, 64 << 10, 0);
	fill_dev(&fs, 1 << 20, 64 << 10, 77); /* garbage under the unwritten extent */
	i_size_write(&fs.inode, 256 << 10);
	bios0 = read_bios(&fs);
	t_assert_eq(toy_read(&fs, 0, buf, 256 << 10), 256 << 10);
	check_pattern(buf, 64 << 10, 0);
	t_assert(t_is_zero(buf + (64 << 10), 192 << 10));
	t_assert_eq(read_bios(&fs) - bios0, 1);
	toy_destroy(&fs);
	free(buf);
}

/* Discontiguous blocks inside one folio: one bio per run, data right. */
static void test_sub_folio_runs(void)
{
	struct toyfs fs;
	char buf[4096];

	toy_init(&fs, 512, 1 << 20);
	/* blocks 0,1 at 64K; block 2 hole; blocks 3..5 at 8K; blocks 6,7 unwritten */
	toy_add(&fs, 0, 1024, IOMAP_MAPPED, 64 << 10, 0);
	toy_add(&fs, 1536, 1536, IOMAP_MAPPED, 8 << 10, 0);
	toy_add(&fs, 3072, 1024, IOMAP_UNWRITTEN, 32 << 10, 0);
	fill_dev(&fs, 64 << 10, 1024, 0);
	fill_dev(&fs, 8 << 10, 1536, 1536);
	fill_dev(&fs, 32 << 10, 1024, 3072);
	i_size_write(&fs.inode, 4096);
	t_assert_eq(toy_read(&fs, 0, buf, 4096), 4096);
	check_pattern(buf, 1024, 0);
	t_assert(t_is_zero(buf + 1024, 512));
	check_pattern(buf + 1536, 1536, 1536);
	t_assert(t_is_zero(buf + 3072, 1024));
	t_assert_eq(read_bios(&fs), 2);
	toy_destroy(&fs);
}

/* EOF inside a block: the block is read, blocks past it are zeroed. */
static void test_eof(void)
{
	struct toyfs fs;
	char buf[8192];

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 8192, IOMAP_MAPPED, 0, 0);
	fill_dev(&fs, 0, 8192, 0);
	i_size_write(&fs.inode, 1000);
	memset(buf, 0xaa, sizeof(buf));
	t_assert_eq(toy_read(&fs, 0, buf, sizeof(buf)), 1000);
	check_pattern(buf, 1000, 0);
	t_assert_eq(toy_read(&fs, 1000, buf, 10), 0);
	t_assert_eq(toy_read(&fs, 5000, buf, 10), 0);
	/* Grow the size without writing: blocks past the old EOF were zeroed in cache. */
	i_size_write(&fs.inode, 4096);
	t_assert_eq(toy_read(&fs, 0, buf, 4096), 4096);
	check_pattern(buf, 1024, 0); /* the whole EOF block came from disk */
	t_assert(t_is_zero(buf + 1024, 3072));
	toy_destroy(&fs);
}

/* INLINE data: copied, the rest of the folio zeroed. */
static void test_inline(void)
{
	struct toyfs fs;
	char buf[4096];

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 3000, IOMAP_INLINE, IOMAP_NULL_ADDR, 0);
	t_fill_pattern(fs.inline_buf, 300, 0, SEED);
	i_size_write(&fs.inode, 300);
	memset(buf, 0xaa, sizeof(buf));
	t_assert_eq(toy_read(&fs, 0, buf, sizeof(buf)), 300);
	check_pattern(buf, 300, 0);
	t_assert_eq(read_bios(&fs), 0);
	i_size_write(&fs.inode, 4096);
	t_assert_eq(toy_read(&fs, 0, buf, sizeof(buf)), 4096);
	t_assert(t_is_zero(buf + 300, 4096 - 300));
	toy_destroy(&fs);
}

/* A block written in full is valid; reading around it reads only the rest. */
static void test_partially_uptodate(void)
{
	struct toyfs fs;
	char data[512], buf[4096];
	uint64_t bios0;

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	fill_dev(&fs, 0, 4096, 0);
	i_size_write(&fs.inode, 4096);
	memset(data, 0x42, sizeof(data));
	bios0 = read_bios(&fs);
	t_assert_eq(toy_write(&fs, 512, data, 512), 512);
	t_assert_eq(read_bios(&fs), bios0); /* whole block: no read */
	t_assert_eq(toy_read(&fs, 512, buf, 512), 512);
	t_assert(memcmp(buf, data, 512) == 0);
	t_assert_eq(read_bios(&fs), bios0); /* valid block served without I/O */
	t_assert_eq(toy_read(&fs, 0, buf, 4096), 4096);
	check_pattern(buf, 512, 0);
	t_assert(memcmp(buf + 512, data, 512) == 0);
	check_pattern(buf + 1024, 3072, 1024);
	t_assert_eq(read_bios(&fs) - bios0, 2); /* block 0, then blocks 2..7 */
	toy_destroy(&fs);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++) {
		test_contiguous(sizes[i]);
		test_zero_types(sizes[i]);
	}
	test_sub_folio_runs();
	test_eof();
	test_inline();
	test_partially_uptodate();
	return T_EXIT_PASS;
}
