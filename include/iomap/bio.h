/* SPDX-License-Identifier: MIT */
/*
 * A block I/O request: a list of memory segments moved to or from one run
 * of sectors on a block device, with a completion callback.
 *
 * Ownership: the caller allocates a bio, fills it and hands it to
 * bio_submit().  From then on the bio belongs to the device until its
 * bi_end_io runs; bi_end_io owns it afterwards and normally calls bio_put().
 */
#ifndef IOMAP_BIO_H
#define IOMAP_BIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1U << SECTOR_SHIFT)

/* Largest number of segments in one bio, as in the kernel (1 MiB of 4 KiB folios). */
#define BIO_MAX_VECS 256U

struct bdev;
struct bio;

typedef void (*bio_end_io_t)(struct bio *bio);

enum bio_op {
	BIO_OP_READ = 0,
	BIO_OP_WRITE = 1,
	BIO_OP_FLUSH = 2, /* no data: make completed writes durable */
};

/*
 * Request flags.
 * BIO_FUA: the write is durable when it completes (forced unit access).
 * BIO_PREFLUSH: flush the device's volatile cache before the write runs,
 * so that everything that completed earlier is durable first.
 */
#define BIO_FUA (1U << 0)
#define BIO_PREFLUSH (1U << 1)

struct bio {
	struct bdev *bi_bdev;
	enum bio_op bi_op;
	unsigned int bi_flags;
	uint64_t bi_sector; /* first sector, in 512-byte units */
	uint32_t bi_size; /* bytes over all segments */
	uint16_t bi_vcnt; /* segments in use */
	uint16_t bi_max_vecs; /* segments allocated */
	int bi_status; /* 0 or -errno, valid in bi_end_io */
	bio_end_io_t bi_end_io;
	void *bi_private; /* owner's, untouched by the device */
	struct bio *bi_next; /* owner's list link, untouched by the device */
	struct iovec *bi_iov; /* bi_max_vecs segments */
	void **bi_owner; /* one opaque owner word per segment (e.g. a folio) */
};

/*
 * Allocate a bio with room for @nr_vecs segments (at most BIO_MAX_VECS;
 * 0 is allowed for BIO_OP_FLUSH).  Returns NULL when out of memory or when
 * nr_vecs is out of range.  The bio starts with bi_status 0, no segments
 * and no completion callback.
 */
struct bio *bio_alloc(struct bdev *bdev, unsigned int nr_vecs, enum bio_op op,
		      unsigned int flags);

/* Free a bio.  Only its owner calls this, never while it is in flight. */
void bio_put(struct bio *bio);

/*
 * Append a segment.  A segment that continues the previous one in memory
 * and has the same @owner is merged into it, so every segment keeps exactly
 * one owner.  Returns false when the bio has no segment left or bi_size
 * would overflow; the bio is then unchanged and the caller submits it and
 * starts another.  @owner is stored with the segment for the completion
 * handler.  A zero-length segment is ignored and returns true.
 */
bool bio_add(struct bio *bio, void *base, uint32_t len, void *owner);

/* Sector just past the end of the bio. */
static inline uint64_t bio_end_sector(const struct bio *bio)
{
	return bio->bi_sector + (bio->bi_size >> SECTOR_SHIFT);
}

/*
 * Start the I/O.  Never fails synchronously: every error (misaligned or
 * out-of-range request, device error) is reported through bi_status and
 * bi_end_io.  bi_end_io may run before bio_submit() returns, in the caller's
 * thread, or later in a completion thread; it must not sleep for long and
 * must not call bio_submit_wait() or bdev_close().  It may call
 * bio_submit().  A NULL bi_end_io is allowed: nobody is told.
 *
 * Requests refused before they reach the device, checked in this order:
 *  -EINVAL  unknown op or flag, BIO_FUA/BIO_PREFLUSH on a read, a read or
 *           write without data, a flush with data, or bi_size not the sum
 *           of the segments;
 *  -EROFS   a write to a BDEV_O_RDONLY device;
 *  -EINVAL  bi_sector or bi_size not a multiple of the logical block size;
 *  -EIO     any part of the request beyond the end of the device.
 * The flags of a BIO_OP_FLUSH request are ignored.
 */
void bio_submit(struct bio *bio);

/*
 * Submit and wait for completion.  Replaces bi_end_io and bi_private.
 * Returns bi_status.  The caller still owns the bio afterwards.
 */
int bio_submit_wait(struct bio *bio);

#endif /* IOMAP_BIO_H */
