/* SPDX-License-Identifier: MIT */
/*
 * testfs writeback, fsync and sync.
 *
 * Writeback is iomap's (iomap_writepages); testfs answers its questions:
 *   ->map_blocks     the extent under a dirty range; DELALLOC is allocated
 *                    there, as UNWRITTEN blocks (testfs_map_blocks_locked)
 *   ->map_valid      is writeback's cached mapping still right? (wb_seq)
 *   ->ioend_done     an ioend's data is on disk: its UNWRITTEN blocks
 *                    become MAPPED, the on-disk size grows
 *   ->discard_folio  mapping a folio failed: give back its reservations
 *
 * Locking: iomap calls the ops with a folio locked, or (ioend_done) from
 * fs->wq with none; each takes map_lock inside and nothing else.  Nothing
 * here takes i_rwsem or invalidate_lock, so the page cache's flusher and
 * throttled writers may write back at any time (pagecache.h), and
 * truncate, punch and zeroing, which hold both, may write back too.
 * ->ioend_done runs on fs->wq and never in the device's completion thread:
 * unstuffing and loading wait for synchronous bios while holding map_lock.
 *
 * Errors: writeback errors are recorded on the mapping's error sequence
 * (errseq) by iomap, and by ->ioend_done when a conversion fails.  Each
 * handle (testfs_open) samples it when opened and reports in fsync each
 * error recorded since it last looked, once, as the kernel's
 * file_check_and_advance_wb_err() does for each struct file
 * (xfstests generic/441 and 487).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iomap/bdev.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/workqueue.h"
#include "iomap/writeback.h"
#include "internal.h"

/* ---- writeback ops ---- */

static int wb_map_blocks(struct iomap_writepage_ctx *wpc, struct inode *inode, uint64_t pos,
			 uint64_t len)
{
	struct testfs_file *f = TESTFS_F(inode);
	int ret;

	if (pos >= TESTFS_MAX_FILE_SIZE)
		return -EIO;
	len = tfs_min(len, TESTFS_MAX_FILE_SIZE - pos);
	memset(&wpc->iomap, 0, sizeof(wpc->iomap));
	pthread_mutex_lock(&f->map_lock);
	ret = testfs_map_blocks_locked(f, pos, len, &wpc->iomap);
	wpc->iomap.validity_cookie = atomic_load_explicit(&f->wb_seq, memory_order_relaxed);
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* Without map_lock: the folio lock keeps this range's extents from being freed. */
static bool wb_map_valid(struct iomap_writepage_ctx *wpc, struct inode *inode)
{
	struct testfs_file *f = TESTFS_F(inode);

	return wpc->iomap.validity_cookie == atomic_load_explicit(&f->wb_seq, memory_order_acquire);
}

/* Run one flush for every caller waiting for it.  Caller holds cf->lock. */
static void convert_flush_run(struct testfs *fs, struct testfs_convert_flush *cf)
{
	uint64_t gen = ++cf->started;
	int ret;

	cf->running = true;
	pthread_mutex_unlock(&cf->lock);
	testfs_count(fs, convert_flushes, 1);
	ret = bdev_flush(fs->bdev);
	pthread_mutex_lock(&cf->lock);
	cf->running = false;
	cf->done = gen;
	cf->error = ret;
	pthread_cond_broadcast(&cf->cond);
}

/*
 * The data just written must be durable before the blocks stop reading as
 * zeroes: metadata lives in memory and survives a power cut, so MAPPED
 * over data the cut took back would show the blocks' old contents.  XFS
 * gets the same order from the cache flush its log writes carry.
 *
 * Group commit, as a log does: the caller's I/O has completed, so any
 * flush that starts from now on covers it.  A flush already running
 * started too early; callers arriving meanwhile share the next one.
 */
int testfs_flush_before_convert(struct testfs *fs)
{
	struct testfs_convert_flush *cf = &fs->convert_flush;
	uint64_t want;
	int ret;

	pthread_mutex_lock(&cf->lock);
	want = cf->started + 1;
	while (cf->done < want) {
		if (cf->running)
			pthread_cond_wait(&cf->cond, &cf->lock);
		else
			convert_flush_run(fs, cf);
	}
	ret = cf->error;
	pthread_mutex_unlock(&cf->lock);
	return ret;
}

void testfs_disk_size_grow_locked(struct testfs_file *f, uint64_t end)
{
	f->disk_size = tfs_max(f->disk_size, tfs_min(end, i_size_read(&f->inode)));
}

int testfs_written_locked(struct testfs_file *f, uint64_t first, uint64_t last)
{
	int64_t ret;

	if (first >= last)
		return 0;
	ret = testfs_ext_convert_state(&f->map, first, last - first, TESTFS_EXT_UNWRITTEN,
				       TESTFS_EXT_MAPPED);
	testfs_map_written(f);
	if (ret < 0)
		return (int)ret;
	testfs_count(f->fs, blocks_written, (uint64_t)ret);
	return 0;
}

/*
 * Runs on fs->wq (see the top of the file), before writeback ends on the
 * ioend's folios, so fsync never returns before the conversion.  A failed
 * write converts nothing: the blocks keep reading as zeroes rather than as
 * what they held before, and so does one whose data could not be made
 * durable first.  ioend ranges are block aligned (iomap writes
 * whole dirty blocks, the EOF block zero padded).  Blocks past EOF stay
 * as they are: a truncate that raced with the I/O is about to free them.
 */
static void wb_ioend_done(struct inode *inode, uint64_t offset, uint64_t size, unsigned int flags,
			  int error)
{
	struct testfs_file *f = TESTFS_F(inode);
	struct testfs *fs = f->fs;
	uint64_t last;
	int ret = 0;

	testfs_count(fs, ioends, 1);
	if (error) {
		testfs_count(fs, ioend_errors, 1);
		return;
	}
	if (flags & IOMAP_IOEND_UNWRITTEN)
		ret = testfs_flush_before_convert(fs);
	pthread_mutex_lock(&f->map_lock);
	last = tfs_min(testfs_round_down(fs, offset + size),
		       testfs_round_up(fs, i_size_read(inode))) >> fs->blkbits;
	if (!ret && (flags & IOMAP_IOEND_UNWRITTEN))
		ret = testfs_written_locked(f, testfs_round_up(fs, offset) >> fs->blkbits, last);
	if (!ret)
		testfs_disk_size_grow_locked(f, offset + size);
	pthread_mutex_unlock(&f->map_lock);
	if (ret)
		mapping_set_error(inode->i_mapping, ret);
}

/*
 * Mapping [pos, folio end) failed, so its dirty data is dropped from this
 * writeback (iomap records the error): give back the delalloc reservations
 * under it, which no writeback would ever turn into blocks now.  Called
 * with the folio locked, which keeps it in its mapping.
 */
static void wb_discard_folio(struct folio *folio, uint64_t pos)
{
	struct testfs_file *f = TESTFS_F(mapping_host(folio->mapping));
	struct testfs *fs = f->fs;
	uint64_t first = pos >> fs->blkbits;
	uint64_t last = testfs_round_up(fs, folio_pos(folio) + folio_size(folio)) >> fs->blkbits;
	uint64_t n = 0;

	pthread_mutex_lock(&f->map_lock);
	if (!testfs_ext_reserve(&f->map, 1))
		n = testfs_ext_remove_state(&f->map, first, last - first, TESTFS_EXT_DELALLOC,
					    testfs_release_piece, fs);
	if (n)
		testfs_map_changed(f);
	pthread_mutex_unlock(&f->map_lock);
	testfs_count(fs, blocks_discarded, n);
}

static const struct iomap_writeback_ops testfs_writeback_ops = {
	.map_blocks = wb_map_blocks,
	.map_valid = wb_map_valid,
	.ioend_done = wb_ioend_done,
	.discard_folio = wb_discard_folio,
};

int testfs_writepages(struct address_space *mapping, struct writeback_control *wbc)
{
	struct testfs_file *f = TESTFS_F(mapping_host(mapping));
	struct iomap_writepage_ctx wpc = { .wq = f->fs->wq, .private = f };
	int ret;

	pthread_mutex_lock(&f->wb_mutex);
	ret = iomap_writepages(mapping, wbc, &wpc, &testfs_writeback_ops);
	pthread_mutex_unlock(&f->wb_mutex);
	return ret;
}

void testfs_flush_range(struct testfs_file *f, uint64_t start, uint64_t end)
{
	struct address_space *mapping = f->inode.i_mapping;

	filemap_fdatawrite_range(mapping, start, end);
	filemap_fdatawait_range(mapping, start, end);
}

/* ---- handles, fsync, sync ---- */

int testfs_open(struct testfs_file *file, struct testfs_handle **out)
{
	struct testfs_handle *h = malloc(sizeof(*h));

	if (!h)
		return -ENOMEM;
	h->file = file;
	h->wb_err = filemap_sample_wb_err(file->inode.i_mapping);
	*out = h;
	return 0;
}

void testfs_close(struct testfs_handle *h)
{
	free(h);
}

struct testfs_file *testfs_handle_file(struct testfs_handle *h)
{
	return h->file;
}

/*
 * The kernel's file_write_and_wait_range() plus the cache flush: write
 * back, wait, then report through the handle's errseq.  The wait's own
 * return (the mapping's sticky flags, one per mapping, cleared by whoever
 * reads them first) is not what a handle reports: errseq is.  The device
 * cache is flushed even after an error, so that whatever did reach the
 * device is durable.
 */
/*
 * Buffer-head writeback has no completion hook to record the on-disk size
 * with: once all of a file was written back without error, everything
 * below the size it had when that started is on disk.
 */
static void bh_disk_size(struct testfs_file *f, uint64_t isize, int err)
{
	if (err || !testfs_uses_bh(f->fs))
		return;
	pthread_mutex_lock(&f->map_lock);
	testfs_disk_size_grow_locked(f, isize);
	pthread_mutex_unlock(&f->map_lock);
}

int testfs_fsync(struct testfs_handle *h, bool datasync, uint64_t start, uint64_t end)
{
	struct testfs_file *f = h->file;
	struct address_space *mapping = f->inode.i_mapping;
	uint64_t isize = i_size_read(&f->inode);
	int ret, err;

	if (start > end)
		return -EINVAL;
	testfs_count(f->fs, fsyncs, 1);
	ret = filemap_fdatawrite_range(mapping, start, end);
	filemap_fdatawait_range(mapping, start, end);
	err = file_check_and_advance_wb_err(mapping, &h->wb_err);
	if (!ret)
		ret = err;
	if (start == 0 && end == UINT64_MAX)
		bh_disk_size(f, isize, ret);
	err = bdev_flush(f->fs->bdev);
	return ret ? ret : err;
}

/*
 * files_lock is held across the writeback so that no file goes away under
 * it; file creation and destruction wait.  Lock order: files_lock, folio
 * locks (writeback), map_lock.
 */
int testfs_sync(struct testfs *fs)
{
	int ret = 0, err;

	pthread_mutex_lock(&fs->files_lock);
	for (struct testfs_file *f = fs->files; f; f = f->next) {
		err = filemap_fdatawrite_range(f->inode.i_mapping, 0, UINT64_MAX);
		if (err && !ret)
			ret = err;
	}
	for (struct testfs_file *f = fs->files; f; f = f->next)
		filemap_fdatawait_range(f->inode.i_mapping, 0, UINT64_MAX);
	pthread_mutex_unlock(&fs->files_lock);
	err = bdev_flush(fs->bdev);
	return ret ? ret : err;
}

uint64_t testfs_disk_size(struct testfs_file *file)
{
	uint64_t size;

	pthread_mutex_lock(&file->map_lock);
	size = file->disk_size;
	pthread_mutex_unlock(&file->map_lock);
	return size;
}
