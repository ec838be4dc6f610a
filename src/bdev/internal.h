/* SPDX-License-Identifier: MIT */
/*
 * Inside the block-device layer: the device object, the engine ops table
 * and the request state shared by the file engines.
 *
 * Submission path: bio_submit() (bio.c) checks and counts a bio, then calls
 * bdev->ops->submit().  The engine moves the data and finishes the bio with
 * bd_end_bio() exactly once, from any thread.
 *
 * Stacking: a wrapper device (fault injection, say) embeds its own struct
 * bdev and, in its ->submit, either ends the bio itself or hands it to the
 * lower device with lower->ops->submit(lower, bio).  Engines therefore
 * take their state from the @bdev argument, never from bio->bi_bdev, and
 * bd_end_bio() counts errors on bio->bi_bdev, the device the caller used.
 *
 * Names here start with bd_ rather than bdev_ so that the version script,
 * which exports bdev_*, keeps them out of the ABI.
 */
#ifndef IOMAP_BDEV_INTERNAL_H
#define IOMAP_BDEV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "iomap/bdev.h"
#include "iomap/bio.h"

/*
 * An engine.  Every member is required.  None is called with a lock of
 * this layer held.
 */
struct bdev_ops {
	/*
	 * Start @bio, which bio_submit() has checked and counted: its op is
	 * READ, WRITE or FLUSH, it lies inside the device and is aligned to
	 * the logical block size.  The engine owns the bio until it passes it
	 * to bd_end_bio(), which it must do exactly once, in this call or
	 * later from another thread.  Called concurrently from any thread,
	 * including from a bi_end_io running in the engine's own completion
	 * thread, so it must not wait for completions.
	 */
	void (*submit)(struct bdev *bdev, struct bio *bio);
	/*
	 * Make every write that has completed durable; synchronous.  Returns
	 * 0 or -errno.  The caller (bdev_flush) counts it.
	 */
	int (*flush)(struct bdev *bdev);
	/*
	 * Wait until nothing is in flight, then free everything, including the
	 * memory holding @bdev.  No submission races with it (bdev_close's
	 * contract), except from bi_end_io handlers of I/O still in flight.
	 */
	void (*close)(struct bdev *bdev);
};

/*
 * The device.  Every field but stats is written once by the engine's
 * open function and read-only afterwards, so readers take no lock.  Each
 * engine embeds this struct and finds its own with container_of().
 */
struct bdev {
	const struct bdev_ops *ops;
	const char *engine; /* bdev_engine_name() */
	uint64_t nr_bytes; /* multiple of lbs */
	unsigned int lbs; /* logical block size: power of two, 512..4096 */
	unsigned int flags; /* BDEV_O_* given at open */
	/*
	 * 0 when the host page cache is used.  Otherwise O_DIRECT is in
	 * effect and every segment's address and length must be a multiple
	 * of this (a power of two >= lbs) or the bio is bounced.
	 */
	unsigned int dio_align;
	/* Only touched through __atomic builtins, relaxed: see bio.c. */
	struct bdev_stats stats;
};

/* Valid logical block size for every kind of device. */
static inline bool bd_lbs_valid(unsigned int lbs)
{
	return lbs >= 512 && lbs <= 4096 && (lbs & (lbs - 1)) == 0;
}

/* Relaxed atomic counter update: the counters order nothing. */
static inline void bd_count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/*
 * Finish @bio with @status (0 or -errno): count an error on bio->bi_bdev,
 * then call bi_end_io, which owns the bio from then on.  The caller must
 * not touch the bio afterwards.  (bio.c)
 */
void bd_end_bio(struct bio *bio, int status);

/*
 * An open regular file or block device, handed to a file engine's open
 * function.  On success the engine owns @fd and closes it in ->close; on
 * failure the caller still owns it.
 */
struct bd_file {
	int fd;
	uint64_t nr_bytes;
	unsigned int lbs;
	unsigned int flags; /* BDEV_O_* */
	unsigned int dio_align; /* as struct bdev */
	unsigned int queue_depth; /* resolved: 1..BD_MAX_QUEUE_DEPTH */
};

#define BD_MAX_QUEUE_DEPTH 32768U

/* Engines' open functions: 0 and the device in @out, or -errno. */
int bd_sync_open(const struct bd_file *file, struct bdev **out); /* sync.c */
int bd_uring_open(const struct bd_file *file, struct bdev **out); /* uring.c */

/*
 * Fill the common part of an engine's device: zero counters, no flags,
 * not direct.  bd_init_file() also takes flags and dio_align from @file.
 * (bdev.c)
 */
void bd_init(struct bdev *bdev, const struct bdev_ops *ops, const char *engine, uint64_t nr_bytes,
	     unsigned int lbs);
void bd_init_file(struct bdev *bdev, const struct bdev_ops *ops, const char *engine,
		  const struct bd_file *file);

/*
 * A bio's progress through a file engine (request.c).  A request goes
 * through up to three stages, each one system call or SQE, repeated while
 * it comes up short:
 *
 *   BD_STAGE_PREFLUSH --> BD_STAGE_DATA --> BD_STAGE_POSTFLUSH --> end
 *   (write with            (read/write)     (write with BIO_FUA)
 *    BIO_PREFLUSH)
 *
 * A BIO_OP_FLUSH request has the single stage BD_STAGE_FLUSH.
 *
 * Invariants during BD_STAGE_DATA: iov[idx..nr) is exactly what remains
 * to move, iov[idx] trimmed at its front by what has already moved, and
 * pos is the device offset of iov[idx].  Owned by one thread at a time:
 * the submitter, then whoever handles its completion.
 */
enum bd_stage {
	BD_STAGE_PREFLUSH,
	BD_STAGE_DATA,
	BD_STAGE_POSTFLUSH,
	BD_STAGE_FLUSH,
};

struct bd_req {
	struct bio *bio;
	struct bd_req *next; /* engine's list link */
	enum bd_stage stage;
	uint64_t pos;
	uint64_t direct_mask; /* lbs - 1 when direct, else 0 */
	void *bounce; /* aligned copy of the data, or NULL */
	unsigned int idx, nr;
	struct iovec iov[]; /* nr entries */
};

/*
 * Allocate the request for @bio on @bdev.  Returns NULL when out of
 * memory.  When @bdev is direct and a segment is misaligned, the request
 * moves the data through a bounce buffer (filled now for a write).
 */
struct bd_req *bd_req_new(const struct bdev *bdev, struct bio *bio);

/* Is the request in a stage that moves data (and so uses iov)? */
static inline bool bd_req_is_data(const struct bd_req *req)
{
	return req->stage == BD_STAGE_DATA;
}

/*
 * Account for the result @res of the current stage (bytes moved or
 * -errno) and move to the next stage.  Returns more than 0 to run the
 * (possibly same) stage again, 0 when the request is done, less than 0 on
 * error.  EINTR and EAGAIN are retried.  A transfer of 0 bytes is -EIO:
 * the device size was fixed at open and the file has shrunk since.  So is
 * a short direct transfer that stops inside a block, which only the end
 * of a shrunk file causes and which O_DIRECT could not resume.
 */
int bd_req_step(struct bd_req *req, long res);

/* Copy a read's bounce buffer back, free the request, end the bio. */
void bd_req_end(struct bd_req *req, int status);

#endif /* IOMAP_BDEV_INTERNAL_H */
