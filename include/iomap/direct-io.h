/* SPDX-License-Identifier: MIT */
/*
 * Direct I/O through iomap: data moves between the caller's memory and the
 * device without the page cache.  Cached data over the range is written
 * back first; a write also removes the cached folios before the I/O and
 * again after completion (so a racing buffered read cannot keep zeroes it
 * read from a still-unwritten extent).
 *
 * Alignment: file position, length, and every memory segment's address and
 * length must be multiples of the device's logical block size, else
 * -EINVAL.  Sub-block zeroing around new and unwritten blocks is iomap's
 * job (the filesystem block may be larger than the device block).
 */
#ifndef IOMAP_DIRECT_IO_H
#define IOMAP_DIRECT_IO_H

#include <stdbool.h>
#include <stdint.h>

/* Returned (negated) when an asynchronous request was queued; the kernel's value. */
#ifndef EIOCBQUEUED
#define EIOCBQUEUED 529
#endif

struct inode;
struct io_iter;
struct iomap_ops;
struct workqueue;

/* Flags handed to ->end_io. */
#define IOMAP_DIO_UNWRITTEN (1U << 0) /* some blocks were UNWRITTEN: convert them */
#define IOMAP_DIO_NEW (1U << 1) /* some blocks were newly allocated */

/* Request flags. */
#define IOMAP_DIO_WRITE (1U << 0)
#define IOMAP_DIO_DSYNC (1U << 1) /* flush the device cache before completing a write */
#define IOMAP_DIO_NOWAIT (1U << 2) /* IOMAP_NOWAIT: never block, -EAGAIN instead */

struct iomap_dio_ops {
	/*
	 * Optional.  The whole request's I/O ended: @size bytes from @pos were
	 * transferred (@error 0 or negative errno).  For writes: convert
	 * UNWRITTEN extents (flags), grow i_size and the on-disk size when the
	 * write went past them.  Returns 0 or a negative errno that becomes the
	 * request's result.  Runs on the request's workqueue if it has one,
	 * else in the I/O completion context (then it must not block on locks
	 * held while waiting for I/O).
	 */
	int (*end_io)(struct inode *inode, uint64_t pos, int64_t size, int error,
		      unsigned int flags);
};

/* One direct I/O request (the kernel's kiocb + iov_iter). */
struct iomap_dio_req {
	struct inode *inode;
	uint64_t pos;
	struct io_iter *iter; /* memory to read into or write from */
	unsigned int flags; /* IOMAP_DIO_WRITE, _DSYNC, _NOWAIT */
	/*
	 * Asynchronous completion: if set, iomap_dio_rw() returns -EIOCBQUEUED
	 * once the I/O is submitted and this is called with the result (bytes or
	 * negative errno) when it ends; the request and its memory must stay
	 * valid until then.  NULL: iomap_dio_rw() waits.
	 */
	void (*complete)(struct iomap_dio_req *req, int64_t result);
	struct workqueue *wq; /* where ->end_io and ->complete run; may be NULL */
	void *private; /* the caller's */
};

/*
 * Start (and with no ->complete, finish) a direct read or write.  Returns
 * the bytes transferred (a read stops short at EOF; 0 at or past it),
 * -EIOCBQUEUED when queued asynchronously, or a negative errno: -EINVAL
 * (misaligned), -ENOTBLK (cached folios could not be invalidated: the caller
 * may fall back to buffered I/O), -EIO, -EAGAIN (NOWAIT), or what ->begin or
 * the device returned.  The caller holds the filesystem's I/O lock as it
 * requires (XFS: shared for aligned writes and reads).
 */
int64_t iomap_dio_rw(struct iomap_dio_req *req, const struct iomap_ops *ops,
		     const struct iomap_dio_ops *dops);

#endif /* IOMAP_DIRECT_IO_H */
