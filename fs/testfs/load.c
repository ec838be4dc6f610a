/* SPDX-License-Identifier: MIT */
/*
 * testfs_file_load(): put a file's contents straight on disk, as if it
 * had been written back and the filesystem mounted again: a quick way for
 * tests to give iomap's read path (bios, readahead, read-modify-write of
 * partial blocks) MAPPED blocks with data behind them, without going
 * through the page cache and writeback.
 *
 * It is safe only because the file is empty and has no folios: nothing in
 * the page cache can disagree with what is written to the blocks.
 */
#include <errno.h>
#include <string.h>

#include "iomap/mapping.h"
#include "internal.h"

static bool block_is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Bytes of block @blk of a @size-byte buffer. */
static size_t block_bytes(const struct testfs *fs, uint64_t blk, uint64_t size)
{
	return (size_t)tfs_min(testfs_bsize(fs), size - (blk << fs->blkbits));
}

/* Blocks of @buf that hold something other than zeroes: they get blocks, the rest stays holes. */
static uint64_t count_data_blocks(const struct testfs *fs, const uint8_t *buf, uint64_t size)
{
	uint64_t n = 0;

	for (uint64_t b = 0; b << fs->blkbits < size; b++)
		n += !block_is_zero(buf + (b << fs->blkbits), block_bytes(fs, b, size));
	return n;
}

/* Right after the last extent: runs are loaded front to back. */
static uint64_t load_goal(const struct testfs_file *f)
{
	const struct testfs_extent *last = f->map.nr ? &f->map.ext[f->map.nr - 1] : NULL;

	return last ? last->pblk + last->len : 0;
}

/*
 * Allocate, write and map the run of data blocks starting at @blk, at most
 * max_extent long, out of the caller's reservation of *@need blocks (less
 * what was claimed on return).  Returns the blocks done or a negative
 * errno (the run's blocks are then freed).
 */
static int64_t load_run(struct testfs_file *f, const uint8_t *buf, uint64_t size, uint64_t blk,
			uint64_t *need)
{
	struct testfs *fs = f->fs;
	uint64_t len = 0, pblk, got;
	int ret;

	while ((blk + len) << fs->blkbits < size && len < fs->max_ext_blocks &&
	       !block_is_zero(buf + ((blk + len) << fs->blkbits), block_bytes(fs, blk + len, size)))
		len++;
	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	got = testfs_alloc_claim(&fs->alloc, load_goal(f), len, &pblk);
	*need -= got;
	ret = testfs_write_sync(fs, pblk, buf + (blk << fs->blkbits),
				(size_t)tfs_min(got << fs->blkbits, size - (blk << fs->blkbits)), 0);
	if (ret) {
		testfs_alloc_free(&fs->alloc, pblk, got);
		return ret;
	}
	testfs_ext_insert(&f->map, &(struct testfs_extent){ .lblk = blk, .len = got, .pblk = pblk,
			  .state = TESTFS_EXT_MAPPED });
	return (int64_t)got;
}

/*
 * All or nothing: the data blocks are reserved up front, and a failure
 * part way frees what was loaded.  Caller holds i_rwsem and
 * invalidate_lock exclusive, and map_lock.
 */
static int load_blocks(struct testfs_file *f, const uint8_t *buf, uint64_t size)
{
	struct testfs *fs = f->fs;
	uint64_t need = count_data_blocks(fs, buf, size), blk = 0;
	int64_t got;

	if (need && testfs_alloc_reserve(&fs->alloc, need, false) < 0)
		return -ENOSPC;
	while (need) {
		if (block_is_zero(buf + (blk << fs->blkbits), block_bytes(fs, blk, size))) {
			blk++;
			continue;
		}
		got = load_run(f, buf, size, blk, &need);
		if (got < 0) {
			testfs_alloc_unreserve(&fs->alloc, need);
			testfs_ext_remove(&f->map, 0, UINT64_MAX, testfs_release_piece, fs);
			return (int)got;
		}
		blk += (uint64_t)got;
	}
	return 0;
}

static int load_locked(struct testfs_file *f, const uint8_t *buf, uint64_t size)
{
	int ret;

	if (i_size_read(&f->inode) || f->map.nr || mapping_nr_folios(f->inode.i_mapping))
		return -EBUSY;
	if (f->inl && size <= f->fs->opts.inline_max) {
		memcpy(f->inl->data, buf, size);
	} else {
		ret = f->inl ? testfs_unstuff_locked(f) : 0;
		if (!ret)
			ret = load_blocks(f, buf, size);
		if (ret)
			return ret;
	}
	i_size_write(&f->inode, size);
	f->disk_size = size;
	testfs_map_changed(f);
	return 0;
}

int testfs_file_load(struct testfs_file *f, const void *buf, uint64_t size)
{
	int ret;

	if (size > TESTFS_MAX_FILE_SIZE)
		return -EFBIG;
	pthread_rwlock_wrlock(&f->inode.i_rwsem);
	pthread_rwlock_wrlock(&f->inode.invalidate_lock);
	pthread_mutex_lock(&f->map_lock);
	ret = load_locked(f, buf, size);
	pthread_mutex_unlock(&f->map_lock);
	pthread_rwlock_unlock(&f->inode.invalidate_lock);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return ret;
}
