/* SPDX-License-Identifier: MIT */
/*
 * Block devices: the bottom layer.  A bdev is an array of sectors backed by
 * a regular file, a block device node, or memory.  Requests are bios
 * (iomap/bio.h).
 *
 * Engines: a file or device is driven through io_uring when the kernel
 * offers it, otherwise through preadv/pwritev in the submitting thread.
 * The RAM backend copies in the submitting thread.
 *
 * Thread safety: every function here may be called from any thread
 * concurrently, except bdev_close(), which must not race with anything
 * else on the same device.
 */
#ifndef IOMAP_BDEV_H
#define IOMAP_BDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "iomap/bio.h"

struct bdev;

/* Open flags. */
#define BDEV_O_RDONLY (1U << 0) /* refuse writes with -EROFS */
#define BDEV_O_CREATE (1U << 1) /* create the file if missing */
#define BDEV_O_DIRECT (1U << 2) /* bypass the host page cache when it allows */
#define BDEV_O_NO_URING (1U << 3) /* force the preadv/pwritev engine */

struct bdev_open_opts {
	unsigned int flags; /* BDEV_O_* */
	unsigned int logical_block_size; /* 512..4096, power of two; 0 = 512 */
	uint64_t size; /* with BDEV_O_CREATE: grow a regular file to this size */
	unsigned int queue_depth; /* io_uring ring entries, 1..32768; 0 = default (128) */
};

/*
 * Open @path.  Returns 0 and stores the device in @out, or a negative errno:
 * -EINVAL for a bad logical block size or option (an unknown flag, a queue
 * depth out of range, a size without BDEV_O_CREATE, BDEV_O_CREATE with
 * BDEV_O_RDONLY, a block device whose sector is larger than the logical
 * block size), -ENOENT for a missing file without BDEV_O_CREATE, -ENOTBLK
 * for something neither a regular file nor a block device, the
 * open/stat error otherwise.  A regular file's size is rounded down to the
 * logical block size; BDEV_O_CREATE never shrinks a file.  @opts may be
 * NULL for all defaults.  The caller owns the device and releases it with
 * bdev_close().
 *
 * BDEV_O_DIRECT is dropped silently when the file system refuses O_DIRECT
 * or needs a larger alignment than the logical block size; see
 * bdev_is_direct().  The io_uring engine falls back to the sync engine
 * silently when the kernel refuses io_uring.
 */
int bdev_open(const char *path, const struct bdev_open_opts *opts, struct bdev **out);

/*
 * A device of @size bytes in memory, zero-filled, with logical block size
 * @lbs (512..4096, power of two).  @size is rounded down to @lbs and must
 * leave at least one block.  Returns 0 or -EINVAL / -ENOMEM.
 */
int bdev_open_ram(uint64_t size, unsigned int lbs, struct bdev **out);

/*
 * Wait for all I/O in flight, including bios that completion handlers
 * submit meanwhile, then release the device.  NULL is ignored.  Must not
 * be called from a bi_end_io.
 */
void bdev_close(struct bdev *bdev);

/* Size in bytes, a multiple of the logical block size; fixed at open. */
uint64_t bdev_nr_bytes(const struct bdev *bdev);
unsigned int bdev_logical_block_size(const struct bdev *bdev);

/* "io_uring", "sync" or "ram": the engine actually in use. */
const char *bdev_engine_name(const struct bdev *bdev);

/*
 * Whether the host page cache is bypassed (O_DIRECT in effect).  False for
 * RAM devices and whenever BDEV_O_DIRECT was not given or was dropped.
 * Segments of direct bios that are not aligned to the logical block size
 * are bounced through an aligned buffer, which costs a copy.
 */
bool bdev_is_direct(const struct bdev *bdev);

/* Make every completed write durable.  Returns 0 or the device's -errno. */
int bdev_flush(struct bdev *bdev);

/*
 * Counters.  The size histogram has one bucket per power of two:
 * bucket i counts bios of size [512 << i, 512 << (i + 1)), the last bucket
 * everything larger.  Flushes (explicit or BIO_PREFLUSH) are counted apart
 * and carry no bytes.  Counters are updated at submission; errors at
 * completion, before bi_end_io runs.  A request refused by bio_submit()'s
 * checks counts only as an error.  bdev_flush() counts a flush, and an
 * error when it fails.
 */
#define BDEV_HIST_BUCKETS 16

struct bdev_stats {
	uint64_t bios_read;
	uint64_t bios_written;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t flushes;
	uint64_t fua_writes;
	uint64_t errors;
	uint64_t read_hist[BDEV_HIST_BUCKETS];
	uint64_t write_hist[BDEV_HIST_BUCKETS];
};

/* A snapshot; each counter is read atomically, the set is not. */
void bdev_get_stats(const struct bdev *bdev, struct bdev_stats *stats);
/* Zero every counter; I/O still in flight may count its errors after. */
void bdev_reset_stats(struct bdev *bdev);

#endif /* IOMAP_BDEV_H */
