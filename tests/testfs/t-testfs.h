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
#include "iomap/iomap.h"
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

#endif /* T_TESTFS_H */
