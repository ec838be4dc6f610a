/* SPDX-License-Identifier: MIT */
/*
 * testfs: the filesystem and file operations.  Each operation takes its
 * "upper" locks (i_rwsem, invalidate_lock; see testfs.h), then calls into
 * the page cache and iomap, which call back into iomap.c for mappings.
 * Extent-map changes that are not writes (punch, truncate, fallocate) are
 * made here directly under map_lock, after the page cache over the range
 * has been dealt with.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iomap/bdev.h"
#include "iomap/buffered-io.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/seek.h"
#include "iomap/uio.h"
#include "iomap/workqueue.h"
#include "internal.h"

/* ---- filesystem ---- */

/*
 * ->ioend_done workers: several, so that completions waiting for the
 * flush before their conversion share it (testfs_flush_before_convert).
 */
#define TESTFS_WQ_THREADS 4

static int check_opts(const struct testfs_opts *o, struct bdev *bdev)
{
	unsigned int bs = o->block_size;

	if (bs < 512 || bs > 4096 || (bs & (bs - 1)))
		return -EINVAL;
	if (bs < bdev_logical_block_size(bdev) || bdev_nr_bytes(bdev) < bs)
		return -EINVAL;
	if (o->max_extent % bs || o->inline_max >= bs || o->stale_every == 1)
		return -EINVAL;
	if ((o->buffer_heads || o->jdata) && o->inline_max)
		return -EINVAL;
	return 0;
}

int testfs_create(struct bdev *bdev, struct pagecache *cache, const struct testfs_opts *opts,
		  struct testfs **out)
{
	struct testfs *fs;
	int ret;

	if (!bdev || !cache || !opts || !out)
		return -EINVAL;
	ret = check_opts(opts, bdev);
	if (ret)
		return ret;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->bdev = bdev;
	fs->cache = cache;
	fs->opts = *opts;
	fs->blkbits = (unsigned int)__builtin_ctz(opts->block_size);
	fs->max_ext_blocks = opts->max_extent ? opts->max_extent >> fs->blkbits : UINT64_MAX;
	fs->next_ino = 1;
	ret = testfs_alloc_init(&fs->alloc, bdev_nr_bytes(bdev) >> fs->blkbits);
	if (ret) {
		free(fs);
		return ret;
	}
	ret = testfs_journal_init(fs);
	if (!ret)
		ret = workqueue_create(TESTFS_WQ_THREADS, &fs->wq);
	if (ret) {
		testfs_journal_destroy(fs);
		testfs_alloc_destroy(&fs->alloc);
		free(fs);
		return ret;
	}
	pthread_mutex_init(&fs->files_lock, NULL);
	pthread_mutex_init(&fs->convert_flush.lock, NULL);
	pthread_cond_init(&fs->convert_flush.cond, NULL);
	*out = fs;
	return 0;
}

void testfs_destroy(struct testfs *fs)
{
	if (!fs)
		return;
	while (fs->files)
		testfs_file_destroy(fs->files);
	/* Empty by now: destroying a file waits for its writeback, ioend_done included. */
	workqueue_destroy(fs->wq);
	testfs_journal_destroy(fs);
	pthread_cond_destroy(&fs->convert_flush.cond);
	pthread_mutex_destroy(&fs->convert_flush.lock);
	pthread_mutex_destroy(&fs->files_lock);
	testfs_alloc_destroy(&fs->alloc);
	free(fs);
}

/* ---- files ---- */

int testfs_file_create(struct testfs *fs, struct testfs_file **out)
{
	struct testfs_file *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return -ENOMEM;
	if (fs->opts.inline_max) {
		f->inl = testfs_inline_alloc(fs);
		if (!f->inl) {
			free(f);
			return -ENOMEM;
		}
	}
	f->fs = fs;
	ret = testfs_trans_init(f);
	if (!ret)
		ret = inode_init(&f->inode, fs->cache, fs->blkbits,
				 testfs_uses_bh(fs) ? &testfs_bh_aops : &testfs_aops);
	if (ret) {
		testfs_trans_free(f);
		testfs_inline_put(f->inl);
		free(f);
		return ret;
	}
	f->inode.i_private = f;
	testfs_ext_init(&f->map, fs->max_ext_blocks);
	pthread_mutex_init(&f->map_lock, NULL);
	pthread_mutex_init(&f->wb_mutex, NULL);

	pthread_mutex_lock(&fs->files_lock);
	f->inode.i_ino = fs->next_ino++;
	f->next = fs->files;
	if (fs->files)
		fs->files->prev = f;
	fs->files = f;
	pthread_mutex_unlock(&fs->files_lock);
	/* Different files get different short_extents streams; never zero. */
	f->rng = (fs->opts.seed ^ (f->inode.i_ino * 0x9e3779b97f4a7c15ULL)) | 1;
	*out = f;
	return 0;
}

void testfs_file_destroy(struct testfs_file *f)
{
	struct testfs *fs;

	if (!f)
		return;
	fs = f->fs;
	pthread_mutex_lock(&fs->files_lock);
	if (f->prev)
		f->prev->next = f->next;
	else
		fs->files = f->next;
	if (f->next)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&fs->files_lock);

	inode_destroy(&f->inode);
	testfs_ext_remove(&f->map, 0, UINT64_MAX, testfs_release_piece, fs);
	testfs_ext_free(&f->map);
	testfs_inline_put(f->inl);
	testfs_trans_free(f);
	pthread_mutex_destroy(&f->wb_mutex);
	pthread_mutex_destroy(&f->map_lock);
	free(f);
}

struct inode *testfs_inode(struct testfs_file *file)
{
	return &file->inode;
}

struct testfs_file *testfs_file(struct inode *inode)
{
	return TESTFS_F(inode);
}

uint64_t testfs_size(struct testfs_file *file)
{
	return i_size_read(&file->inode);
}

/* ---- lock helpers ---- */

static void lock_excl(struct testfs_file *f, bool invalidate)
{
	pthread_rwlock_wrlock(&f->inode.i_rwsem);
	if (invalidate)
		pthread_rwlock_wrlock(&f->inode.invalidate_lock);
}

static void unlock_excl(struct testfs_file *f, bool invalidate)
{
	if (invalidate)
		pthread_rwlock_unlock(&f->inode.invalidate_lock);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
}

/* Is [pos, pos + len) a valid non-empty range of a file? */
static int check_range(uint64_t pos, uint64_t len)
{
	if (pos > TESTFS_MAX_FILE_SIZE || len > TESTFS_MAX_FILE_SIZE - pos)
		return -EFBIG;
	return 0;
}

/* ---- read and write ---- */

/*
 * The file is about to be written at, or to grow to, @pos past its size:
 * zero the rest of the EOF block first, on disk too (through the cache),
 * as XFS's xfs_file_write_zero_eof() does.  Writeback keeps that tail
 * zero, but a power cut can take back the write that did (metadata here
 * survives it), and neither may show once the file grows over the tail.
 * Holes, unwritten blocks and inline data past EOF read as zeroes anyway.
 * Caller holds i_rwsem exclusive.
 */
int testfs_zero_eof(struct testfs_file *f, uint64_t pos)
{
	uint64_t isize = i_size_read(&f->inode), end;

	if (pos <= isize || f->inl || !(isize & (testfs_bsize(f->fs) - 1)))
		return 0;
	end = tfs_min(pos, testfs_round_up(f->fs, isize));
	testfs_flush_range(f, isize, end - 1);
	return iomap_zero_range(&f->inode, isize, end - isize, NULL, &testfs_iomap_ops);
}

/*
 * i_rwsem exclusive: one writer at a time, and no truncate or punch while
 * iomap works between ->begin and ->end (so ->end may give back space
 * without looking at the cache).  The file is handed to iomap as the
 * iterator's private data for the hooks.
 */
ssize_t testfs_write_iter(struct testfs_file *f, uint64_t pos, struct io_iter *from)
{
	int64_t ret;

	if (check_range(pos, from->count))
		return -EFBIG;
	if (!from->count)
		return 0;
	lock_excl(f, false);
	ret = testfs_write_locked(f, pos, from);
	unlock_excl(f, false);
	return (ssize_t)ret;
}

int64_t testfs_write_locked(struct testfs_file *f, uint64_t pos, struct io_iter *from)
{
	int64_t ret = testfs_zero_eof(f, pos);

	if (ret)
		return ret;
	if (f->fs->opts.buffer_heads && !f->fs->opts.jdata)
		return testfs_bh_write_iter(f, pos, from);
	return iomap_file_buffered_write(&f->inode, pos, from, &testfs_iomap_ops, f);
}

ssize_t testfs_write(struct testfs_file *f, uint64_t pos, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct io_iter from;

	io_iter_init(&from, &iov, 1, len);
	return testfs_write_iter(f, pos, &from);
}

/*
 * i_rwsem shared keeps writers, truncate and punch out; invalidate_lock
 * shared is the rule for instantiating folios for a read (inode.h rule 2).
 */
ssize_t testfs_read(struct testfs_file *f, uint64_t pos, void *buf, size_t len)
{
	ssize_t ret;

	pthread_rwlock_rdlock(&f->inode.i_rwsem);
	pthread_rwlock_rdlock(&f->inode.invalidate_lock);
	ret = filemap_read(&f->inode, pos, buf, len);
	pthread_rwlock_unlock(&f->inode.invalidate_lock);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return ret;
}

/* ---- zeroing ---- */

/*
 * A stuffed file has all its data in the inline buffer and folio 0: zero
 * both (truncate_pagecache_range zeroes the covered part of a folio it
 * cannot drop whole).  gfs2's punch hole does the same for stuffed files.
 * Caller holds i_rwsem and invalidate_lock exclusive.
 */
static void inline_zero(struct testfs_file *f, uint64_t pos, uint64_t end)
{
	pthread_mutex_lock(&f->map_lock);
	memset(f->inl->data + pos, 0, end - pos);
	pthread_mutex_unlock(&f->map_lock);
	truncate_pagecache_range(&f->inode, pos, end - 1);
}

/*
 * Zero [pos, end) of the file, clamped to i_size (past EOF the cache and
 * the blocks already read as zeroes).  Caller holds i_rwsem exclusive.
 */
static int zero_within_size(struct testfs_file *f, uint64_t pos, uint64_t end)
{
	end = tfs_min(end, i_size_read(&f->inode));
	if (pos >= end)
		return 0;
	if (f->inl) {
		inline_zero(f, pos, end);
		return 0;
	}
	testfs_flush_range(f, pos, end - 1);
	return iomap_zero_range(&f->inode, pos, end - pos, NULL, &testfs_iomap_ops);
}

int testfs_zero_range(struct testfs_file *f, uint64_t pos, uint64_t len)
{
	int ret = check_range(pos, len);

	if (ret)
		return ret;
	lock_excl(f, true);
	ret = zero_within_size(f, pos, pos + len);
	unlock_excl(f, true);
	return ret;
}

/* ---- extent-map changes ---- */

/* Free the blocks [first, first + nr), holes and all.  Caller holds map_lock. */
static int free_blocks_locked(struct testfs_file *f, uint64_t first, uint64_t nr)
{
	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	testfs_ext_remove(&f->map, first, nr, testfs_release_piece, f->fs);
	testfs_map_changed(f);
	return 0;
}

static int free_blocks(struct testfs_file *f, uint64_t first, uint64_t nr)
{
	int ret;

	pthread_mutex_lock(&f->map_lock);
	ret = free_blocks_locked(f, first, nr);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/*
 * Zero the partial blocks at both ends, drop the cache over the whole
 * blocks, then free them.  The cache goes first, under invalidate_lock
 * exclusive, so that no reader can bring back a folio from blocks that are
 * about to be freed (and maybe reused by another file).
 */
static int punch_blocks(struct testfs_file *f, uint64_t pos, uint64_t end)
{
	struct testfs *fs = f->fs;
	uint64_t first = testfs_round_up(fs, pos), last = testfs_round_down(fs, end);
	int ret;

	if (first >= last)
		return zero_within_size(f, pos, end);
	ret = zero_within_size(f, pos, first);
	if (!ret)
		ret = zero_within_size(f, last, end);
	if (ret)
		return ret;
	truncate_pagecache_range(&f->inode, first, last - 1);
	return free_blocks(f, first >> fs->blkbits, (last - first) >> fs->blkbits);
}

int testfs_punch_hole(struct testfs_file *f, uint64_t pos, uint64_t len)
{
	int ret = check_range(pos, len);

	if (ret || !len)
		return ret;
	lock_excl(f, true);
	if (f->inl)
		ret = zero_within_size(f, pos, pos + len);
	else
		ret = punch_blocks(f, pos, pos + len);
	unlock_excl(f, true);
	return ret;
}

/* ---- truncate ---- */

/*
 * Stuffed files past inline_max, and files that grew, need blocks from
 * then on: unstuff now rather than in some later ->begin.
 */
static int unstuff(struct testfs_file *f)
{
	int ret = 0;

	pthread_mutex_lock(&f->map_lock);
	if (f->inl)
		ret = testfs_unstuff_locked(f);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* Truncated to 0: go back to inline data, as gfs2 does.  Caller holds map_lock. */
static void restuff_locked(struct testfs_file *f)
{
	struct testfs *fs = f->fs;

	if (!fs->opts.inline_max || f->inl || f->map.nr)
		return;
	f->inl = testfs_inline_alloc(fs); /* on ENOMEM the file just stays unstuffed */
	testfs_map_changed(f);
}

/* Caller holds i_rwsem and invalidate_lock exclusive; size <= inline_max. */
static void truncate_inline(struct testfs_file *f, uint64_t size)
{
	uint64_t old = i_size_read(&f->inode);

	if (size < old) {
		pthread_mutex_lock(&f->map_lock);
		memset(f->inl->data + size, 0, old - size);
		f->disk_size = tfs_min(f->disk_size, size);
		pthread_mutex_unlock(&f->map_lock);
	}
	i_size_write(&f->inode, size);
	truncate_pagecache(&f->inode, size);
}

/*
 * Shrink: zero the rest of the new EOF block (it is no longer file data,
 * and would show if the file grew again), publish the size, drop the
 * cache past it, then free every block past it, preallocated ones too.
 */
static int truncate_down(struct testfs_file *f, uint64_t size)
{
	struct testfs *fs = f->fs;
	uint64_t first = testfs_round_up(fs, size) >> fs->blkbits;
	int ret;

	if (size & (testfs_bsize(fs) - 1)) {
		testfs_flush_range(f, size, testfs_round_up(fs, size) - 1);
		ret = iomap_truncate_page(&f->inode, size, NULL, &testfs_iomap_ops);
		if (ret)
			return ret;
	}
	i_size_write(&f->inode, size);
	truncate_pagecache(&f->inode, size);
	pthread_mutex_lock(&f->map_lock);
	f->disk_size = tfs_min(f->disk_size, size);
	ret = free_blocks_locked(f, first, UINT64_MAX - first);
	if (!ret && size == 0)
		restuff_locked(f);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

static int truncate_up(struct testfs_file *f, uint64_t size)
{
	int ret = testfs_zero_eof(f, size);

	if (ret)
		return ret;
	i_size_write(&f->inode, size);
	truncate_pagecache(&f->inode, size);
	return 0;
}

int testfs_truncate(struct testfs_file *f, uint64_t size)
{
	int ret = 0;

	if (size > TESTFS_MAX_FILE_SIZE)
		return -EFBIG;
	lock_excl(f, true);
	if (f->inl && size <= f->fs->opts.inline_max) {
		truncate_inline(f, size);
	} else {
		ret = unstuff(f);
		if (!ret && size > i_size_read(&f->inode))
			ret = truncate_up(f, size);
		else if (!ret)
			ret = truncate_down(f, size);
	}
	unlock_excl(f, true);
	return ret;
}

/* ---- fallocate ---- */

uint64_t testfs_count_holes_locked(const struct testfs_file *f, uint64_t first, uint64_t last)
{
	uint64_t holes = 0, cur = first;

	for (size_t i = testfs_ext_find(&f->map, first); cur < last; i++) {
		uint64_t next = i < f->map.nr ? tfs_min(f->map.ext[i].lblk, last) : last;

		if (next > cur)
			holes += next - cur;
		if (i >= f->map.nr)
			break;
		cur = testfs_ext_end(&f->map.ext[i]);
	}
	return holes;
}

/*
 * Fill the hole at @cur (ending at @hole_end) with UNWRITTEN extents out of
 * the caller's reservation.  Returns blocks filled or -ENOMEM.
 */
static int64_t falloc_hole(struct testfs_file *f, size_t next, uint64_t cur, uint64_t hole_end)
{
	struct testfs *fs = f->fs;
	uint64_t want = tfs_min(hole_end - cur, fs->max_ext_blocks), goal = 0;
	struct testfs_extent e = { .lblk = cur, .state = TESTFS_EXT_UNWRITTEN };

	if (testfs_ext_reserve(&f->map, 1))
		return -ENOMEM;
	if (next > 0 && f->map.ext[next - 1].state != TESTFS_EXT_DELALLOC)
		goal = f->map.ext[next - 1].pblk + f->map.ext[next - 1].len;
	e.len = testfs_alloc_claim(&fs->alloc, goal, want, &e.pblk);
	testfs_ext_insert(&f->map, &e);
	return (int64_t)e.len;
}

/*
 * All or nothing for space: the holes are counted and reserved up front,
 * so -ENOSPC changes nothing.  (-ENOMEM part way leaves what was done, as
 * a failed fallocate may in any filesystem.)  Caller holds map_lock.
 */
static int falloc_locked(struct testfs_file *f, uint64_t first, uint64_t last)
{
	uint64_t need = testfs_count_holes_locked(f, first, last), cur = first;
	int64_t got;

	if (!need)
		return 0;
	if (testfs_alloc_reserve(&f->fs->alloc, need, false) < 0)
		return -ENOSPC;
	while (cur < last && need) {
		size_t i = testfs_ext_find(&f->map, cur);

		if (i < f->map.nr && testfs_ext_contains(&f->map.ext[i], cur)) {
			cur = testfs_ext_end(&f->map.ext[i]);
			continue;
		}
		got = falloc_hole(f, i, cur, i < f->map.nr ? tfs_min(f->map.ext[i].lblk, last) : last);
		if (got < 0) {
			testfs_alloc_unreserve(&f->fs->alloc, need);
			testfs_map_changed(f);
			return (int)got;
		}
		cur += (uint64_t)got;
		need -= (uint64_t)got;
	}
	testfs_map_changed(f);
	return 0;
}

int testfs_fallocate(struct testfs_file *f, uint64_t pos, uint64_t len, bool keep_size)
{
	struct testfs *fs = f->fs;
	uint64_t end = pos + len;
	int ret = check_range(pos, len);

	if (ret)
		return ret;
	if (!len)
		return -EINVAL;
	lock_excl(f, true);
	pthread_mutex_lock(&f->map_lock);
	if (f->inl)
		ret = testfs_unstuff_locked(f);
	if (!ret)
		ret = falloc_locked(f, pos >> fs->blkbits, testfs_round_up(fs, end) >> fs->blkbits);
	pthread_mutex_unlock(&f->map_lock);
	if (!ret && !keep_size && end > i_size_read(&f->inode))
		ret = truncate_up(f, end);
	unlock_excl(f, true);
	return ret;
}

/* ---- seek, fiemap, cache ---- */

int64_t testfs_seek(struct testfs_file *f, int64_t pos, int whence)
{
	int64_t ret;

	switch (whence) {
	case SEEK_SET:
		return pos < 0 ? -EINVAL : pos;
	case SEEK_END:
		ret = (int64_t)testfs_size(f) + pos;
		return ret < 0 ? -EINVAL : ret;
	case SEEK_DATA:
	case SEEK_HOLE:
		break;
	default:
		return -EINVAL;
	}
	pthread_rwlock_rdlock(&f->inode.i_rwsem);
	if (whence == SEEK_DATA)
		ret = iomap_seek_data(&f->inode, pos, &testfs_iomap_ops);
	else
		ret = iomap_seek_hole(&f->inode, pos, &testfs_iomap_ops);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return ret;
}

int testfs_fiemap(struct testfs_file *f, struct fiemap *fi, uint64_t start, uint64_t len)
{
	int ret;

	if (start >= TESTFS_MAX_FILE_SIZE)
		return 0;
	len = tfs_min(len, TESTFS_MAX_FILE_SIZE - start);
	pthread_rwlock_rdlock(&f->inode.i_rwsem);
	ret = iomap_fiemap(&f->inode, fi, start, len, &testfs_iomap_ops);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return ret;
}

/*
 * invalidate_inode_pages2_range() rather than invalidate_mapping_pages():
 * the latter skips folios someone holds a reference to, and the end of
 * writeback holds one for a moment after it has woken fsync, so a drop
 * right after fsync would keep folios at random.  It removes clean folios
 * whoever references them (they keep their memory and find ->mapping
 * NULL), waits for writeback and folio locks, and leaves dirty folios and
 * those whose private state is busy.  No lock is needed: nothing is lost
 * by dropping clean data, and readers hold their own references.  The
 * count is approximate when other threads add folios meanwhile.
 */
unsigned long testfs_drop_cache(struct testfs_file *f)
{
	struct address_space *mapping = f->inode.i_mapping;
	uint64_t before = mapping_nr_folios(mapping), after;

	invalidate_inode_pages2_range(mapping, 0, UINT64_MAX >> PAGE_SHIFT);
	after = mapping_nr_folios(mapping);
	return before > after ? before - after : 0;
}

/* ---- stats ---- */

void testfs_get_stats(struct testfs *fs, struct testfs_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&fs->files_lock);
	for (struct testfs_file *f = fs->files; f; f = f->next) {
		st->files++;
		pthread_mutex_lock(&f->map_lock);
		st->extents += f->map.nr;
		pthread_mutex_unlock(&f->map_lock);
	}
	pthread_mutex_unlock(&fs->files_lock);
	st->blocks_total = fs->alloc.nr_blocks;
	testfs_alloc_counts(&fs->alloc, &st->blocks_allocated, &st->blocks_delalloc);
	st->blocks_free = st->blocks_total - st->blocks_allocated - st->blocks_delalloc;
	st->unstuffs = atomic_load(&fs->counters.unstuffs);
	st->size_changes = atomic_load(&fs->counters.size_changes);
	st->blocks_released = atomic_load(&fs->counters.blocks_released);
	st->blocks_converted = atomic_load(&fs->counters.blocks_converted);
	st->stale_injected = atomic_load(&fs->counters.stale_injected);
	st->ioends = atomic_load(&fs->counters.ioends);
	st->ioend_errors = atomic_load(&fs->counters.ioend_errors);
	st->blocks_written = atomic_load(&fs->counters.blocks_written);
	st->blocks_discarded = atomic_load(&fs->counters.blocks_discarded);
	st->fsyncs = atomic_load(&fs->counters.fsyncs);
	st->dio_fallbacks = atomic_load(&fs->counters.dio_fallbacks);
	st->trans_begun = atomic_load(&fs->counters.trans_begun);
	st->trans_committed = atomic_load(&fs->counters.trans_committed);
	st->trans_max_open = atomic_load(&fs->counters.trans_max_open);
	st->trans_nested = atomic_load(&fs->counters.trans_nested);
	st->journal_blocks = atomic_load(&fs->counters.journal_blocks);
	st->journal_size = fs->journal.nr_blocks;
	st->convert_flushes = atomic_load(&fs->counters.convert_flushes);
}
