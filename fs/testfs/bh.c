/* SPDX-License-Identifier: MIT */
/*
 * Buffer-head mode (testfs_opts.buffer_heads): the file's page cache goes
 * through libiomap's buffer-head module instead of iomap's per-folio
 * state, as a filesystem from before iomap (ext2) would.  Every folio
 * carries a ring of buffer heads, and the module asks testfs about one
 * block at a time through testfs_get_block().  iomap is still used where
 * it is the only way (zeroing, seek, fiemap, direct I/O): those mappings
 * carry IOMAP_F_BUFFER_HEAD, so any folio work iomap does on them goes
 * through the buffers too.
 *
 * Blocks are allocated when a write first maps them (no delayed
 * allocation: the buffer-head writeback has no completion hook to convert
 * anything after the I/O).  For the same reason UNWRITTEN blocks become
 * MAPPED when writeback maps them, before their data is written: a
 * failed write leaves whatever the block held before.  Inline data is not
 * supported in this mode.
 *
 * Locking: get_block runs with the buffer's folio locked and takes
 * map_lock inside (lock order: folio, map_lock), like ->begin.  Writes
 * hold i_rwsem exclusive, as for iomap.
 */
#include <errno.h>

#include "iomap/buffer_head.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/pagecache.h"
#include "iomap/uio.h"
#include "internal.h"

/* Map @bh on the block of extent @e holding file block @iblock. */
static void map_from_extent(struct testfs_file *f, const struct testfs_extent *e,
			    uint64_t iblock, struct buffer_head *bh)
{
	map_bh(bh, f->fs->bdev, e->pblk + (iblock - e->lblk));
}

/*
 * Reads: a hole stays unmapped (read as zeroes), UNWRITTEN is mapped but
 * flagged (read as zeroes, written as writeback converts it).  Caller
 * holds map_lock.
 */
static int get_block_read_locked(struct testfs_file *f, uint64_t iblock, struct buffer_head *bh)
{
	size_t i = testfs_ext_find(&f->map, iblock);
	const struct testfs_extent *e;

	if (i == f->map.nr || !testfs_ext_contains(&f->map.ext[i], iblock))
		return 0;
	e = &f->map.ext[i];
	if (e->state == TESTFS_EXT_DELALLOC)
		return -EIO; /* never in this mode */
	map_from_extent(f, e, iblock, bh);
	if (e->state == TESTFS_EXT_UNWRITTEN)
		set_buffer_unwritten(bh);
	return 0;
}

/* A hole under a write: one new block, right after the extent before it. */
static int get_block_alloc_locked(struct testfs_file *f, size_t next, uint64_t iblock,
				  struct buffer_head *bh)
{
	struct testfs *fs = f->fs;
	struct testfs_extent e = { .lblk = iblock, .len = 1, .state = TESTFS_EXT_MAPPED };

	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	if (testfs_alloc_reserve(&fs->alloc, 1, false) < 0)
		return -ENOSPC;
	testfs_alloc_claim(&fs->alloc, testfs_alloc_goal(f, next), 1, &e.pblk);
	testfs_ext_insert(&f->map, &e);
	testfs_map_changed(f);
	map_bh(bh, fs->bdev, e.pblk);
	set_buffer_new(bh);
	return 0;
}

/*
 * Writeback of a dirty Unwritten buffer: its data is about to be written,
 * so the block becomes MAPPED now (see the top of the file).
 */
static int get_block_convert_locked(struct testfs_file *f, uint64_t iblock,
				    struct buffer_head *bh)
{
	int64_t n = testfs_ext_convert_state(&f->map, iblock, 1, TESTFS_EXT_UNWRITTEN,
					     TESTFS_EXT_MAPPED);

	if (n < 0)
		return (int)n;
	testfs_map_written(f);
	testfs_count(f->fs, blocks_written, (uint64_t)n);
	return get_block_read_locked(f, iblock, bh);
}

/*
 * Writes (block_write_begin: the buffer is unmapped) and writeback (the
 * buffer is dirty and Unwritten, or unmapped).  An UNWRITTEN block under
 * a write is mapped New, so the write zeroes what it does not cover.
 */
static int get_block_write_locked(struct testfs_file *f, uint64_t iblock, struct buffer_head *bh)
{
	size_t i = testfs_ext_find(&f->map, iblock);
	bool unwritten;

	if (f->inl)
		return -EIO;
	if (i == f->map.nr || !testfs_ext_contains(&f->map.ext[i], iblock))
		return get_block_alloc_locked(f, i, iblock, bh);
	unwritten = f->map.ext[i].state == TESTFS_EXT_UNWRITTEN;
	if (unwritten && buffer_unwritten(bh))
		return get_block_convert_locked(f, iblock, bh);
	if (unwritten)
		set_buffer_new(bh);
	return get_block_read_locked(f, iblock, bh);
}

int testfs_get_block(struct inode *inode, uint64_t iblock, struct buffer_head *bh, int create)
{
	struct testfs_file *f = TESTFS_F(inode);
	int ret;

	if (iblock >= TESTFS_MAX_FILE_SIZE >> inode->i_blkbits)
		return -EFBIG;
	pthread_mutex_lock(&f->map_lock);
	if (create)
		ret = get_block_write_locked(f, iblock, bh);
	else
		ret = get_block_read_locked(f, iblock, bh);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* ---- writes ---- */

/* The next copy: to the end of the page, and what the source can give now. */
static size_t bh_chunk(const struct io_iter *from, uint64_t pos)
{
	size_t n = tfs_min((size_t)(PAGE_SIZE - (pos & (PAGE_SIZE - 1))), from->count);

	if (from->readable && n)
		n = tfs_min(n, from->readable(from, n, from->readable_arg));
	return n;
}

/* One page: map and prepare its blocks, copy, commit.  Returns bytes or -errno. */
static ssize_t bh_write_one(struct testfs_file *f, uint64_t pos, size_t n, struct io_iter *from)
{
	struct address_space *mapping = f->inode.i_mapping;
	struct folio *folio;
	size_t copied, written;
	int ret = block_write_begin(mapping, pos, n, &folio, testfs_get_block);

	if (ret)
		return ret;
	copied = io_iter_copy_from(from, folio_address(folio, (size_t)(pos - folio_pos(folio))), n);
	written = generic_write_end(mapping, pos, n, copied, folio);
	if (written < copied)
		io_iter_revert(from, copied - written);
	return written ? (ssize_t)written : -EFAULT;
}

/*
 * A failed write may have allocated blocks past EOF (block_write_begin
 * leaves them to the caller, as the kernel's does): drop the cache past
 * EOF first, so that no buffer still names them, then free the MAPPED
 * ones (preallocated UNWRITTEN blocks stay).
 */
static void bh_write_failed(struct testfs_file *f)
{
	uint64_t isize = i_size_read(&f->inode);
	uint64_t first = testfs_round_up(f->fs, isize) >> f->fs->blkbits;

	truncate_pagecache(&f->inode, isize);
	pthread_mutex_lock(&f->map_lock);
	if (!testfs_ext_reserve(&f->map, 1) &&
	    testfs_ext_remove_state(&f->map, first, UINT64_MAX - first, TESTFS_EXT_MAPPED,
				    testfs_release_piece, f->fs))
		testfs_map_changed(f);
	pthread_mutex_unlock(&f->map_lock);
}

ssize_t testfs_bh_write_iter(struct testfs_file *f, uint64_t pos, struct io_iter *from)
{
	uint64_t start = pos;
	ssize_t ret = 0;

	while (from->count) {
		size_t n = bh_chunk(from, pos);

		ret = n ? bh_write_one(f, pos, n, from) : -EFAULT;
		if (ret < 0)
			break;
		pos += (uint64_t)ret;
		balance_dirty_pages_ratelimited(f->inode.i_mapping);
	}
	if (ret < 0)
		bh_write_failed(f);
	return pos > start ? (ssize_t)(pos - start) : ret;
}

/* ---- address_space_ops ---- */

static int bh_read_folio(struct folio *folio)
{
	return block_read_full_folio(folio, testfs_get_block);
}

/* Serialised per file by wb_mutex, as testfs_writepages() (see internal.h). */
static int bh_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct testfs_file *f = TESTFS_F(mapping_host(mapping));
	int ret;

	pthread_mutex_lock(&f->wb_mutex);
	ret = block_writepages(mapping, wbc, testfs_get_block);
	pthread_mutex_unlock(&f->wb_mutex);
	return ret;
}

const struct address_space_ops testfs_bh_aops = {
	.read_folio = bh_read_folio,
	.writepages = bh_writepages,
	.release_folio = try_to_free_buffers,
	.invalidate_folio = block_invalidate_folio,
	.is_partially_uptodate = block_is_partially_uptodate,
};
