/* SPDX-License-Identifier: MIT */
/*
 * Description: data that lives on disk, not in dirty folios.  Files are
 * given their contents with testfs_file_load() (what writeback plus a
 * remount would leave), then read through iomap: readahead must build bios
 * over contiguous blocks, zero the holes, stop at EOF; partial writes into
 * blocks that are not cached must read the rest of the block first
 * (read-modify-write); and an unstuffed inline file's block must hold its
 * bytes.
 */
#include "t-testfs.h"

#include "iomap/stats.h"

#define DEV_SIZE (16U << 20)

/* A pattern with holes: blocks 3, 4 and 9 are all zero.  @size >= 10 blocks. */
static uint8_t *make_image(uint64_t bs, uint64_t size)
{
	uint8_t *buf = t_malloc(size);

	t_assert(size >= 10 * bs);
	t_fill_pattern(buf, size, 0, 1);
	memset(buf + 3 * bs, 0, 2 * bs);
	memset(buf + 9 * bs, 0, bs);
	return buf;
}

static void check_image(struct testfs_file *f, const uint8_t *img, uint64_t size)
{
	uint8_t *buf = t_malloc(size + 100);

	t_assert_eq(testfs_read(f, 0, buf, size + 100), (long long)size);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != img[i])
			t_fail("offset %llu: 0x%02x, expected 0x%02x", (unsigned long long)i,
			       buf[i], img[i]);
	free(buf);
}

static void test_read(struct t_fs *t, uint64_t bs, bool unlimited)
{
	struct testfs_file *f = t_file(t);
	uint64_t size = 40 * bs + 123;
	uint8_t *img = make_image(bs, size);
	struct bdev_stats ds;
	struct fiemap *fi;

	t_assert_eq(testfs_file_load(f, img, size), 0);
	t_assert_eq(testfs_size(f), size);
	t_assert_eq(t_stats(t).blocks_allocated, 41 - 3);
	t_assert_eq(testfs_file_load(f, img, size), -EBUSY);
	fi = t_fiemap(f, 64);
	if (unlimited)
		t_assert_eq(fi->fm_mapped_extents, 3);
	free(fi);
	bdev_reset_stats(t->bdev);
	check_image(f, img, size);
	bdev_get_stats(t->bdev, &ds);
	t_assert(ds.bytes_read >= (41 - 3) * bs);
	t_assert(ds.bios_read < 41 - 3); /* bios span blocks */
	t_assert_eq(testfs_seek(f, 0, SEEK_HOLE), 3 * bs);
	t_assert_eq(testfs_seek(f, 3 * bs, SEEK_DATA), 5 * bs);
	/* Clean folios drop; the data comes back from disk. */
	t_assert(testfs_drop_cache(f) > 0);
	check_image(f, img, size);
	t_fsck(t);
	testfs_file_destroy(f);
	free(img);
}

/* Partial-block writes into blocks that are only on disk read them first. */
static void test_rmw(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t size = 16 * bs;
	uint8_t *img = make_image(bs, size);
	struct iomap_stats st;
	uint8_t patch[7];

	t_assert_eq(testfs_file_load(f, img, size), 0);
	iomap_reset_stats();
	t_fill_pattern(patch, sizeof(patch), 2 * bs + 5, 9);
	t_assert_eq(testfs_write(f, 2 * bs + 5, patch, sizeof(patch)), (long long)sizeof(patch));
	memcpy(img + 2 * bs + 5, patch, sizeof(patch));
	t_fill_pattern(patch, sizeof(patch), 11 * bs - 3, 9);
	t_assert_eq(testfs_write(f, 11 * bs - 3, patch, sizeof(patch)), (long long)sizeof(patch));
	memcpy(img + 11 * bs - 3, patch, sizeof(patch));
	iomap_get_stats(&st);
	t_assert(st.rmw_reads >= 2); /* one per write at least */
	check_image(f, img, size);
	t_fsck(t);
	testfs_file_destroy(f);
	free(img);
}

/* Truncating a loaded file mid-block zeroes the on-disk tail as seen through the cache. */
static void test_truncate_loaded(struct t_fs *t, uint64_t bs)
{
	struct testfs_file *f = t_file(t);
	uint64_t size = 12 * bs;
	uint8_t *img = make_image(bs, size);

	t_assert_eq(testfs_file_load(f, img, size), 0);
	t_assert_eq(testfs_truncate(f, 2 * bs + 10), 0);
	t_assert_eq(testfs_truncate(f, size), 0);
	memset(img + 2 * bs + 10, 0, size - 2 * bs - 10);
	check_image(f, img, size);
	testfs_drop_cache(f);
	check_image(f, img, size);
	t_fsck(t);
	testfs_file_destroy(f);
	free(img);
}

static void test_inline_load(uint64_t bs)
{
	struct testfs_opts o = { .block_size = (unsigned int)bs, .inline_max = (unsigned int)bs - 1,
				 .delalloc = true };
	struct testfs_file *f;
	uint8_t img[4096];
	struct t_fs t;

	t_fs_setup(&t, DEV_SIZE, &o);
	f = t_file(&t);
	t_fill_pattern(img, bs - 1, 0, 3);
	t_assert_eq(testfs_file_load(f, img, bs - 1), 0);
	t_assert_eq(t_stats(&t).extents, 0);
	check_image(f, img, bs - 1);
	/* Grow it: unstuffed into a block that must hold the inline bytes. */
	t_write_pattern(f, bs - 1, 2, 3);
	testfs_drop_cache(f);
	t_check_pattern_at(f, 0, bs + 1, 3);
	t_fsck(&t);
	t_fs_teardown(&t);
}

int main(void)
{
	for (size_t i = 0; i < T_NR_BLOCK_SIZES; i++) {
		uint64_t bs = t_block_sizes[i];
		uint64_t extents[] = { 0, 4 * bs };

		for (size_t e = 0; e < 2; e++) {
			struct testfs_opts o = { .block_size = (unsigned int)bs,
						 .max_extent = extents[e] };
			struct t_fs t;

			t_fs_setup(&t, DEV_SIZE, &o);
			test_read(&t, bs, !extents[e]);
			test_rmw(&t, bs);
			test_truncate_loaded(&t, bs);
			t_fs_teardown(&t);
		}
		test_inline_load(bs);
	}
	return T_EXIT_PASS;
}
