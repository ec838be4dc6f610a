/* SPDX-License-Identifier: MIT */
/*
 * Direct I/O: iomap_dio_rw() over the same ->begin / ->end as buffered
 * I/O (iomap.c), with IOMAP_DIRECT set.  iomap writes back and drops the
 * cached folios over the range first, so a direct write meets no DELALLOC
 * and a direct read sees what buffered writes left.
 *
 * Writes into holes get real blocks at ->begin, UNWRITTEN (never DELALLOC:
 * there is no folio for writeback to write).  iomap zeroes the rest of each
 * partial block around the data, and ->end_io, once the data is on disk,
 * makes the blocks MAPPED and grows i_size and the on-disk size; until
 * then a reader sees zeroes and the old size, and a failed write leaves
 * zeroes, never old disk contents.
 *
 * Space: a write reserves every block its range lacks before any I/O
 * (testfs_file.dio_reserved), so it fails with -ENOSPC before it has
 * written anything, never after a part of it went to disk.
 *
 * Locking: writes hold i_rwsem exclusive (they allocate, may unstuff, and
 * grow i_size at completion, which runs in the caller's thread as the
 * requests are synchronous); reads hold it shared, as buffered reads do.
 * ->end_io takes map_lock.  The invalidate_lock is not needed: while a
 * write holds i_rwsem exclusive no buffered read instantiates folios, and
 * iomap drops the range's folios itself.
 */
#include <errno.h>
#include <stdint.h>

#include "iomap/bdev.h"
#include "iomap/direct-io.h"
#include "iomap/folio.h"
#include "iomap/mapping.h"
#include "iomap/uio.h"
#include "internal.h"

/*
 * The write's data is on disk: made durable, UNWRITTEN blocks under it
 * (all its blocks: iomap wrote whole blocks there, zero padded) become
 * MAPPED, then the size grows, so that the new size never exposes
 * unconverted blocks.  Runs in the caller's thread, which holds i_rwsem
 * exclusive.
 */
static int dio_write_end_io(struct inode *inode, uint64_t pos, int64_t size, int error,
			    unsigned int flags)
{
	struct testfs_file *f = TESTFS_F(inode);
	struct testfs *fs = f->fs;
	uint64_t end = pos + (uint64_t)size;
	int ret = 0;

	if (error || size <= 0)
		return 0;
	if (flags & IOMAP_DIO_UNWRITTEN)
		ret = testfs_flush_before_convert(fs);
	pthread_mutex_lock(&f->map_lock);
	if (!ret && (flags & IOMAP_DIO_UNWRITTEN))
		ret = testfs_written_locked(f, testfs_round_down(fs, pos) >> fs->blkbits,
					    testfs_round_up(fs, end) >> fs->blkbits);
	if (!ret) {
		if (end > i_size_read(inode))
			i_size_write(inode, end);
		testfs_disk_size_grow_locked(f, end);
	}
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

static const struct iomap_dio_ops testfs_dio_write_ops = {
	.end_io = dio_write_end_io,
};

/* Position, length and memory aligned to the device's logical block? */
static int dio_check(struct testfs_file *f, uint64_t pos, const void *buf, size_t len)
{
	uint64_t align = bdev_logical_block_size(f->fs->bdev);

	if (pos > TESTFS_MAX_FILE_SIZE || len > TESTFS_MAX_FILE_SIZE - pos)
		return -EFBIG;
	align = tfs_max(align, (uint64_t)SECTOR_SIZE);
	if ((pos | len | (uintptr_t)buf) & (align - 1))
		return -EINVAL;
	return 0;
}

/*
 * Before a write: unstuff a file the write does not fit in, and reserve a
 * block for every hole of the range (all or nothing).  Caller holds
 * i_rwsem exclusive.  Returns 0, -ENOSPC, -ENOMEM, -EIO.
 */
static int dio_reserve(struct testfs_file *f, uint64_t pos, size_t len)
{
	struct testfs *fs = f->fs;
	uint64_t need;
	int ret = 0;

	pthread_mutex_lock(&f->map_lock);
	if (f->inl && pos + len > fs->opts.inline_max)
		ret = testfs_unstuff_locked(f);
	if (!ret && !f->inl) {
		need = testfs_count_holes_locked(f, pos >> fs->blkbits,
						 testfs_round_up(fs, pos + len) >> fs->blkbits);
		if (need && testfs_alloc_reserve(&fs->alloc, need, false) < 0)
			ret = -ENOSPC;
		else
			f->dio_reserved = need;
	}
	pthread_mutex_unlock(&f->map_lock);
	return ret;
}

/* Give back what the write's ->begin calls did not take. */
static void dio_unreserve(struct testfs_file *f)
{
	pthread_mutex_lock(&f->map_lock);
	testfs_alloc_unreserve(&f->fs->alloc, f->dio_reserved);
	f->dio_reserved = 0;
	pthread_mutex_unlock(&f->map_lock);
}

static int64_t dio_rw(struct testfs_file *f, uint64_t pos, struct io_iter *iter,
		      unsigned int flags)
{
	struct iomap_dio_req req = { .inode = &f->inode, .pos = pos, .iter = iter,
				     .flags = flags, .wq = f->fs->wq, .private = f };

	return iomap_dio_rw(&req, &testfs_iomap_ops,
			    (flags & IOMAP_DIO_WRITE) ? &testfs_dio_write_ops : NULL);
}

/*
 * iomap could not drop the cached folios (-ENOTBLK): write through the
 * page cache instead, then write back, wait and drop, as the kernel's
 * direct_write_fallback() does.  Caller holds i_rwsem exclusive.
 */
static int64_t dio_fallback_write(struct testfs_file *f, uint64_t pos, struct io_iter *from)
{
	struct address_space *mapping = f->inode.i_mapping;
	int64_t ret = testfs_write_locked(f, pos, from);
	int err;

	if (ret <= 0)
		return ret;
	testfs_count(f->fs, dio_fallbacks, 1);
	err = filemap_write_and_wait_range(mapping, pos, pos + (uint64_t)ret - 1);
	if (err)
		return err;
	invalidate_inode_pages2_range(mapping, pos >> PAGE_SHIFT,
				      (pos + (uint64_t)ret - 1) >> PAGE_SHIFT);
	return ret;
}

ssize_t testfs_direct_write(struct testfs_file *f, uint64_t pos, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct io_iter from;
	int64_t ret = dio_check(f, pos, buf, len);

	if (ret || !len)
		return ret;
	io_iter_init(&from, &iov, 1, len);
	pthread_rwlock_wrlock(&f->inode.i_rwsem);
	ret = testfs_zero_eof(f, pos);
	if (!ret)
		ret = dio_reserve(f, pos, len);
	if (!ret) {
		ret = dio_rw(f, pos, &from, IOMAP_DIO_WRITE);
		dio_unreserve(f);
	}
	if (ret == -ENOTBLK)
		ret = dio_fallback_write(f, pos, &from);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return (ssize_t)ret;
}

ssize_t testfs_direct_read(struct testfs_file *f, uint64_t pos, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct io_iter to;
	int64_t ret = dio_check(f, pos, buf, len);

	if (ret || !len)
		return ret;
	io_iter_init(&to, &iov, 1, len);
	pthread_rwlock_rdlock(&f->inode.i_rwsem);
	ret = dio_rw(f, pos, &to, 0);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	return (ssize_t)ret;
}
