/* SPDX-License-Identifier: MIT */
/*
 * Writeback through iomap: one ->map_blocks per extent, large bios over
 * contiguous blocks, only dirty blocks of sub-page folios written, the EOF
 * folio zeroed past i_size, DELALLOC allocated at writeback, UNWRITTEN
 * converted before writeback ends, and clean folios afterwards.
 */
#include <string.h>

#include "helpers.h"
#include "iomap/internal.h"
#include "toyfs.h"

#define SEED 0x77bb

static struct bdev_stats dev_stats(const struct toyfs *fs)
{
	struct bdev_stats st;

	bdev_get_stats(fs->bdev, &st);
	return st;
}

static struct iomap_stats stats(void)
{
	struct iomap_stats st;

	iomap_get_stats(&st);
	return st;
}

static void check_disk(struct toyfs *fs, uint64_t addr, uint64_t len, uint64_t file_pos)
{
	char *buf = t_malloc(len);
	long bad;

	toy_dev_read(fs, addr, buf, len);
	bad = t_check_pattern(buf, len, file_pos, SEED);
	if (bad >= 0)
		t_fail("disk byte %llu (file %llu) wrong", (unsigned long long)(addr + (uint64_t)bad),
		       (unsigned long long)(file_pos + (uint64_t)bad));
	free(buf);
}

static void write_pattern(struct toyfs *fs, uint64_t pos, size_t len)
{
	char *buf = t_malloc(len);

	t_fill_pattern(buf, len, pos, SEED);
	t_assert_eq(toy_write(fs, pos, buf, len), len);
	free(buf);
}

/* 4 MiB in 64 KiB extents contiguous on disk: 64 lookups, 1 MiB bios. */
static void test_large_bios(unsigned int bs)
{
	struct toyfs fs;
	struct bdev_stats st;

	toy_init(&fs, bs, 16 << 20);
	for (uint64_t off = 0; off < (4 << 20); off += 64 << 10)
		toy_add(&fs, off, 64 << 10, IOMAP_DELALLOC, IOMAP_NULL_ADDR, 0);
	fs.next_addr = 1 << 20;
	write_pattern(&fs, 0, 4 << 20);
	iomap_reset_stats();
	t_assert_eq(toy_sync(&fs), 0);
	st = dev_stats(&fs);
	t_assert_eq(fs.map_calls, 64);
	t_assert_eq(stats().map_blocks_calls, 64);
	t_assert_eq(st.bytes_written, 4 << 20);
	t_assert_eq(st.bios_written, 4);
	t_assert_eq(stats().ioends, 1); /* contiguous in file and on disk */
	t_assert_eq(fs.disk_size, 4 << 20);
	check_disk(&fs, 1 << 20, 4 << 20, 0);
	t_assert(!mapping_range_tagged(fs.inode.i_mapping, 0, UINT64_MAX, MAPPING_TAG_DIRTY));
	t_assert(!mapping_range_tagged(fs.inode.i_mapping, 0, UINT64_MAX, MAPPING_TAG_WRITEBACK));
	/* Nothing dirty: a second sync writes nothing. */
	t_assert_eq(toy_sync(&fs), 0);
	t_assert_eq(dev_stats(&fs).bios_written, 4);
	toy_destroy(&fs);
}

/* Only the dirty block of a sub-page folio is written. */
static void test_dirty_blocks_only(void)
{
	struct toyfs fs;
	char data[512];

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 0, 0);
	i_size_write(&fs.inode, 4096);
	memset(data, 0x44, sizeof(data));
	t_assert_eq(toy_write(&fs, 1024, data, 512), 512);
	t_assert_eq(toy_write(&fs, 3072, data, 512), 512);
	t_assert_eq(toy_sync(&fs), 0);
	t_assert_eq(dev_stats(&fs).bytes_written, 1024);
	t_assert_eq(dev_stats(&fs).bios_written, 2); /* two runs, not contiguous */
	toy_destroy(&fs);
}

/* The EOF block is written whole with zeroes past i_size. */
static void test_eof_zeroing(void)
{
	struct toyfs fs;
	char buf[4096];

	toy_init(&fs, 512, 1 << 20);
	toy_add(&fs, 0, 4096, IOMAP_MAPPED, 8192, 0);
	memset(buf, 0xee, sizeof(buf));
	toy_dev_write(&fs, 8192, buf, sizeof(buf)); /* stale bytes on disk */
	write_pattern(&fs, 0, 1000);
	t_assert_eq(toy_sync(&fs), 0);
	t_assert_eq(dev_stats(&fs).bytes_written - 4096, 1024);
	toy_dev_read(&fs, 8192, buf, 1024);
	t_assert(t_check_pattern(buf, 1000, 0, SEED) == -1);
	t_assert(t_is_zero(buf + 1000, 24));
	t_assert_eq(fs.disk_size, 1000);
	toy_destroy(&fs);
}

/* UNWRITTEN: converted by ->ioend_done before writeback ends; reads back after a drop. */
static void test_unwritten(void)
{
	struct toyfs fs;
	char *buf = t_malloc(64 << 10);

	toy_init(&fs, 4096, 1 << 20);
	toy_add(&fs, 0, 64 << 10, IOMAP_UNWRITTEN, 128 << 10, 0);
	i_size_write(&fs.inode, 64 << 10);
	write_pattern(&fs, 0, 64 << 10);
	t_assert_eq(toy_sync(&fs), 0);
	t_assert(fs.ioend_flags_seen & IOMAP_IOEND_UNWRITTEN);
	t_assert_eq(fs.ext[0].type, IOMAP_MAPPED);
	t_assert_eq(invalidate_mapping_pages(fs.inode.i_mapping, 0, UINT64_MAX), 16);
	t_assert_eq(toy_read(&fs, 0, buf, 64 << 10), 64 << 10);
	t_assert(t_check_pattern(buf, 64 << 10, 0, SEED) == -1);
	toy_destroy(&fs);
	free(buf);
}

/* Holes inside dirty folios (a mapping the filesystem reports as HOLE) write nothing. */
static void test_round_trip_after_drop(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(1 << 20);

	toy_init(&fs, bs, 8 << 20);
	write_pattern(&fs, 777, (1 << 20) - 2000);
	t_assert_eq(toy_sync(&fs), 0);
	t_assert(invalidate_mapping_pages(fs.inode.i_mapping, 0, UINT64_MAX) > 0);
	t_assert_eq(mapping_nr_folios(fs.inode.i_mapping), 0);
	memset(buf, 0xcc, 1 << 20);
	t_assert_eq(toy_read(&fs, 0, buf, 1 << 20), (1 << 20) - 2000 + 777);
	t_assert(t_is_zero(buf, 777));
	t_assert(t_check_pattern(buf + 777, (1 << 20) - 2000, 777, SEED) == -1);
	toy_destroy(&fs);
	free(buf);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++) {
		test_large_bios(sizes[i]);
		test_round_trip_after_drop(sizes[i]);
	}
	test_dirty_blocks_only();
	test_eof_zeroing();
	test_unwritten();
	return T_EXIT_PASS;
}
