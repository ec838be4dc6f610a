/* SPDX-License-Identifier: MIT */
/*
 * Setup and checks shared by the testfs tests: a RAM device, a page cache
 * and a testfs on them, and assertions over file contents.  Everything
 * fails the test on error (t_fail).
 */
#ifndef T_TESTFS_H
#define T_TESTFS_H

#include <errno.h>
#include <linux/fiemap.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"
#include "iomap/inode.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "testfs.h"

struct t_fs {
	struct bdev *bdev;
	struct pagecache *cache;
	struct testfs *fs;
};

static const unsigned int t_block_sizes[] = { 512, 1024, 2048, 4096 };
#define T_NR_BLOCK_SIZES (sizeof(t_block_sizes) / sizeof(t_block_sizes[0]))

static inline void t_fs_setup(struct t_fs *t, uint64_t dev_size, const struct testfs_opts *o)
{
	int ret;

	memset(t, 0, sizeof(*t));
	ret = bdev_open_ram(dev_size, 512, &t->bdev);
	if (ret)
		t_fail("bdev_open_ram: %d", ret);
	ret = pagecache_create(&(struct pagecache_opts){ 0 }, &t->cache);
	if (ret)
		t_fail("pagecache_create: %d", ret);
	ret = testfs_create(t->bdev, t->cache, o, &t->fs);
	if (ret)
		t_fail("testfs_create: %d", ret);
}

static inline void t_fs_teardown(struct t_fs *t)
{
	testfs_destroy(t->fs);
	pagecache_destroy(t->cache);
	bdev_close(t->bdev);
}

static inline struct testfs_file *t_file(struct t_fs *t)
{
	struct testfs_file *f;

	if (testfs_file_create(t->fs, &f))
		t_fail("testfs_file_create");
	return f;
}

/* testfs_check() must pass. */
static inline void t_fsck(struct t_fs *t)
{
	char msg[256];
	int ret = testfs_check(t->fs, msg, sizeof(msg));

	if (ret)
		t_fail("testfs_check: %d: %s", ret, msg);
}

static inline struct testfs_stats t_stats(struct t_fs *t)
{
	struct testfs_stats st;

	testfs_get_stats(t->fs, &st);
	return st;
}

/* Write @len pattern bytes (pattern of the file offset, @seed) at @pos. */
static inline void t_write_pattern(struct testfs_file *f, uint64_t pos, size_t len,
				   uint64_t seed)
{
	uint8_t *buf = t_malloc(len);
	ssize_t ret;

	t_fill_pattern(buf, len, pos, seed);
	ret = testfs_write(f, pos, buf, len);
	if (ret != (ssize_t)len)
		t_fail("write %zu at %llu returned %zd", len, (unsigned long long)pos, ret);
	free(buf);
}

/* [pos, pos + len) must read as the pattern. */
static inline void t_check_pattern_at(struct testfs_file *f, uint64_t pos, size_t len,
				      uint64_t seed)
{
	uint8_t *buf = t_malloc(len);
	ssize_t ret = testfs_read(f, pos, buf, len);
	long bad;

	if (ret != (ssize_t)len)
		t_fail("read %zu at %llu returned %zd", len, (unsigned long long)pos, ret);
	bad = t_check_pattern(buf, len, pos, seed);
	if (bad >= 0)
		t_fail("pattern differs at offset %llu: 0x%02x",
		       (unsigned long long)(pos + (uint64_t)bad), buf[bad]);
	free(buf);
}

/* [pos, pos + len) must read as zeroes. */
static inline void t_check_zero_at(struct testfs_file *f, uint64_t pos, size_t len)
{
	uint8_t *buf = t_malloc(len);
	ssize_t ret = testfs_read(f, pos, buf, len);

	if (ret != (ssize_t)len)
		t_fail("read %zu at %llu returned %zd", len, (unsigned long long)pos, ret);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			t_fail("offset %llu should be zero, is 0x%02x",
			       (unsigned long long)(pos + i), buf[i]);
	free(buf);
}

/* fiemap over the whole file into a freshly allocated struct (free() it). */
static inline struct fiemap *t_fiemap(struct testfs_file *f, unsigned int max)
{
	struct fiemap *fi = t_calloc(1, sizeof(*fi) + max * sizeof(struct fiemap_extent));
	int ret;

	fi->fm_extent_count = max;
	ret = testfs_fiemap(f, fi, 0, UINT64_MAX);
	if (ret)
		t_fail("fiemap: %d", ret);
	return fi;
}

/* Read or write @len bytes (sector multiples) at device byte @off, synchronously. */
static inline int t_dev_io(struct bdev *bdev, enum bio_op op, uint64_t off, void *buf,
			   size_t len)
{
	void *bounce = t_aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
	struct bio *bio = bio_alloc(bdev, 1, op, 0);
	int ret;

	if (!bio)
		t_fail("bio_alloc");
	bio->bi_sector = off >> SECTOR_SHIFT;
	if (op == BIO_OP_WRITE)
		memcpy(bounce, buf, len);
	t_assert(bio_add(bio, bounce, (uint32_t)len, NULL));
	ret = bio_submit_wait(bio);
	bio_put(bio);
	if (!ret && op == BIO_OP_READ)
		memcpy(buf, bounce, len);
	free(bounce);
	return ret;
}

/* Fill the whole device with @byte: stale contents a filesystem must never show. */
static inline void t_dev_fill(struct bdev *bdev, uint8_t byte)
{
	size_t chunk = 1U << 20;
	uint8_t *buf = t_malloc(chunk);

	memset(buf, byte, chunk);
	for (uint64_t off = 0; off < bdev_nr_bytes(bdev); off += chunk) {
		size_t n = bdev_nr_bytes(bdev) - off < chunk ? bdev_nr_bytes(bdev) - off : chunk;

		t_assert_eq(t_dev_io(bdev, BIO_OP_WRITE, off, buf, n), 0);
	}
	free(buf);
}

/* Open a handle or fail. */
static inline struct testfs_handle *t_open(struct testfs_file *f)
{
	struct testfs_handle *h;

	if (testfs_open(f, &h))
		t_fail("testfs_open");
	return h;
}

/* fsync the whole file through a new handle; must succeed. */
static inline void t_fsync(struct testfs_file *f)
{
	struct testfs_handle *h = t_open(f);

	t_assert_eq(testfs_fsync(h, false, 0, UINT64_MAX), 0);
	testfs_close(h);
}

/* Drop the file's cache; after a sync nothing may stay. */
static inline void t_drop_all(struct testfs_file *f)
{
	testfs_drop_cache(f);
	if (mapping_nr_folios(testfs_inode(f)->i_mapping))
		t_fail("%llu folios stayed in the cache after a drop",
		       (unsigned long long)mapping_nr_folios(testfs_inode(f)->i_mapping));
}

#endif /* T_TESTFS_H */
