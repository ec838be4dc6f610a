/* SPDX-License-Identifier: MIT */
/*
 * Description: writeback through iomap_writepages at block sizes 512 to
 * 4096.  Data written, fsynced, dropped from the cache and read back from
 * the device; delayed allocation turned into one contiguous extent per
 * max_extent with one ->map_blocks call each; UNWRITTEN blocks converted
 * over exactly the blocks written; the EOF block zeroed past EOF on disk;
 * the on-disk size; testfs_sync over several files.  The device starts
 * full of 0xee, so any stale block that shows through is caught.
 */
#include "t-testfs.h"

#include "iomap/stats.h"

#define DEV_SIZE (32U << 20)
#define STALE 0xee

static void setup(struct t_fs *t, unsigned int bs, bool delalloc, uint64_t max_extent)
{
	struct testfs_opts o = { .block_size = bs, .delalloc = delalloc,
				 .max_extent = max_extent };

	t_fs_setup(t, DEV_SIZE, &o);
	t_dev_fill(t->bdev, STALE);
}

/* A write mirrored in @model. */
static void model_write(struct testfs_file *f, uint8_t *model, uint64_t pos, size_t len,
			uint64_t seed)
{
	t_fill_pattern(model + pos, len, pos, seed);
	t_assert_eq(testfs_write(f, pos, model + pos, len), (long long)len);
}

static void check_model(struct testfs_file *f, const uint8_t *model, uint64_t size)
{
	uint8_t *buf = t_malloc(size + 1);

	t_assert_eq(testfs_read(f, 0, buf, size + 1), (long long)size);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != model[i])
			t_fail("offset %llu: 0x%02x, expected 0x%02x", (unsigned long long)i,
			       buf[i], model[i]);
	free(buf);
}

/* Unaligned writes, a sparse tail and overwrites survive fsync and a cache drop. */
static void test_round_trip(unsigned int bs, bool delalloc)
{
	uint64_t size = 40ULL * bs + 7 + 2 * bs;
	uint8_t *model = t_calloc(1, size);
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, delalloc, 0);
	f = t_file(&t);
	model_write(f, model, 0, 3 * bs + 100, 1);
	model_write(f, model, 40ULL * bs + 7, 2 * bs, 2);
	model_write(f, model, bs / 2, 100, 3);
	t_fsync(f);
	t_assert_eq(t_stats(&t).blocks_delalloc, 0);
	t_assert_eq(testfs_disk_size(f), size);
	t_drop_all(f);
	check_model(f, model, size);
	/* Overwrites of written blocks: MAPPED ioends, nothing to convert. */
	model_write(f, model, bs - 3, 2 * bs, 4);
	model_write(f, model, 41ULL * bs, 10, 5);
	t_fsync(f);
	t_drop_all(f);
	check_model(f, model, size);
	t_fsck(&t);
	free(model);
	t_fs_teardown(&t);
}

/*
 * Written in 4 KiB calls, 1 MiB of delayed allocation with max_extent
 * 256 KiB: writeback asks ->map_blocks once per extent and allocates each
 * in one contiguous run, right after the one before.
 */
static void test_contiguous(unsigned int bs)
{
	uint64_t ext = 256 * 1024, total = 4 * ext;
	struct iomap_stats st;
	struct testfs_file *f;
	struct fiemap *fi;
	struct t_fs t;

	setup(&t, bs, true, ext);
	f = t_file(&t);
	for (uint64_t pos = 0; pos < total; pos += 4096)
		t_write_pattern(f, pos, 4096, 6);
	t_assert_eq(t_stats(&t).extents, 4);
	iomap_reset_stats();
	t_fsync(f);
	iomap_get_stats(&st);
	t_assert_eq(st.map_blocks_calls, 4);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 4);
	for (unsigned int i = 0; i < 4; i++) {
		const struct fiemap_extent *e = &fi->fm_extents[i];

		t_assert_eq(e->fe_logical, i * ext);
		t_assert_eq(e->fe_length, ext);
		t_assert(!(e->fe_flags & (FIEMAP_EXTENT_UNWRITTEN | FIEMAP_EXTENT_DELALLOC)));
		t_assert_eq(e->fe_physical, fi->fm_extents[0].fe_physical + i * ext);
	}
	free(fi);
	t_drop_all(f);
	t_check_pattern_at(f, 0, total, 6);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* fiemap extent @i must be [start, start + len) with UNWRITTEN as given. */
static void check_extent(const struct fiemap *fi, unsigned int i, uint64_t start, uint64_t len,
			 bool unwritten)
{
	const struct fiemap_extent *e = &fi->fm_extents[i];

	t_assert(i < fi->fm_mapped_extents);
	t_assert_eq(e->fe_logical, start);
	t_assert_eq(e->fe_length, len);
	t_assert_eq(!!(e->fe_flags & FIEMAP_EXTENT_UNWRITTEN), unwritten);
}

/* Writes into preallocated space: exactly the blocks written become MAPPED. */
static void test_unwritten(unsigned int bs)
{
	uint64_t before;
	struct testfs_file *f;
	struct fiemap *fi;
	struct t_fs t;

	setup(&t, bs, true, 0);
	f = t_file(&t);
	t_assert_eq(testfs_fallocate(f, 0, 16ULL * bs, false), 0);
	t_write_pattern(f, 2ULL * bs + 10, 3ULL * bs + 10, 7);
	before = t_stats(&t).blocks_written;
	t_fsync(f);
	t_assert_eq(t_stats(&t).blocks_written - before, 4);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 3);
	check_extent(fi, 0, 0, 2ULL * bs, true);
	check_extent(fi, 1, 2ULL * bs, 4ULL * bs, false);
	check_extent(fi, 2, 6ULL * bs, 10ULL * bs, true);
	free(fi);
	t_drop_all(f);
	t_check_zero_at(f, 0, 2ULL * bs + 10);
	t_check_pattern_at(f, 2ULL * bs + 10, 3ULL * bs + 10, 7);
	t_check_zero_at(f, 5ULL * bs + 20, 11ULL * bs - 20);
	/* The rest written too: one MAPPED extent again. */
	t_write_pattern(f, 0, 16ULL * bs, 8);
	t_fsync(f);
	fi = t_fiemap(f, 8);
	t_assert_eq(fi->fm_mapped_extents, 1);
	check_extent(fi, 0, 0, 16ULL * bs, false);
	free(fi);
	t_drop_all(f);
	t_check_pattern_at(f, 0, 16ULL * bs, 8);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* Device bytes of file offset @pos (a block start), through fiemap. */
static uint64_t disk_addr(struct testfs_file *f, uint64_t pos)
{
	struct fiemap *fi = t_fiemap(f, 64);
	uint64_t addr = UINT64_MAX;

	for (unsigned int i = 0; i < fi->fm_mapped_extents; i++) {
		const struct fiemap_extent *e = &fi->fm_extents[i];

		if (pos >= e->fe_logical && pos < e->fe_logical + e->fe_length)
			addr = e->fe_physical + (pos - e->fe_logical);
	}
	free(fi);
	if (addr == UINT64_MAX)
		t_fail("no extent at %llu", (unsigned long long)pos);
	return addr;
}

/* The EOF block on disk holds zeroes past EOF (the device held 0xee there). */
static void check_eof_block(struct t_fs *t, struct testfs_file *f, unsigned int bs)
{
	uint64_t size = testfs_size(f), blk = size / bs * bs;
	uint8_t *buf = t_malloc(bs);

	t_assert_eq(t_dev_io(t->bdev, BIO_OP_READ, disk_addr(f, blk), buf, bs), 0);
	t_assert_eq(t_check_pattern(buf, size - blk, blk, 9), -1);
	t_assert(t_is_zero(buf + (size - blk), bs - (size - blk)));
	free(buf);
}

static void test_eof(unsigned int bs)
{
	struct testfs_file *f;
	struct t_fs t;

	setup(&t, bs, true, 0);
	f = t_file(&t);
	t_write_pattern(f, 0, 3ULL * bs + 100, 9);
	t_fsync(f);
	t_assert_eq(testfs_disk_size(f), 3ULL * bs + 100);
	check_eof_block(&t, f, bs);
	/* Growing zeroes the EOF block's tail again, through the cache. */
	t_assert_eq(testfs_truncate(f, 5ULL * bs), 0);
	t_fsync(f);
	t_drop_all(f);
	t_check_zero_at(f, 3ULL * bs + 100, 2ULL * bs - 100);
	/* Truncate down into a written block: its tail is zeroed on disk too. */
	t_assert_eq(testfs_truncate(f, 2ULL * bs + 50), 0);
	t_assert_eq(testfs_disk_size(f), 2ULL * bs + 50);
	t_fsync(f);
	check_eof_block(&t, f, bs);
	t_assert_eq(testfs_truncate(f, 4ULL * bs), 0);
	t_fsync(f);
	t_drop_all(f);
	t_check_pattern_at(f, 0, 2ULL * bs + 50, 9);
	t_check_zero_at(f, 2ULL * bs + 50, 2ULL * bs - 50);
	t_fsck(&t);
	t_fs_teardown(&t);
}

/* testfs_sync writes back every file. */
static void test_sync(unsigned int bs)
{
	struct testfs_file *f[3];
	struct t_fs t;

	setup(&t, bs, true, 0);
	for (int i = 0; i < 3; i++) {
		f[i] = t_file(&t);
		t_write_pattern(f[i], (uint64_t)i * bs, 5ULL * bs + (uint64_t)i, 10 + (uint64_t)i);
	}
	t_assert_eq(testfs_sync(t.fs), 0);
	t_assert_eq(t_stats(&t).blocks_delalloc, 0);
	for (int i = 0; i < 3; i++) {
		t_drop_all(f[i]);
		t_check_zero_at(f[i], 0, (uint64_t)i * bs);
		t_check_pattern_at(f[i], (uint64_t)i * bs, 5ULL * bs + (uint64_t)i,
				   10 + (uint64_t)i);
	}
	t_fsck(&t);
	t_fs_teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		unsigned int bs = t_block_sizes[i];

		test_round_trip(bs, true);
		test_round_trip(bs, false);
		test_contiguous(bs);
		test_unwritten(bs);
		test_eof(bs);
		test_sync(bs);
	}
	return T_EXIT_PASS;
}
