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
	unsigned int queue_depth; /* io_uring ring entries; 0 = default (128) */
};

/*
 * Open @path.  Returns 0 and stores the device in @out, or a negative errno:
 * -EINVAL for a bad logical block size or option, -ENOENT for a missing file
 * without BDEV_O_CREATE, the open/stat error otherwise.  A regular file's
 * size is rounded down to the logical block size.
 */
int bdev_open(const char *path, const struct bdev_open_opts *opts, struct bdev **out);

/*
 * A device of @size bytes in memory, zero-filled, with logical block size
 * @lbs (512..4096, power of two).  @size is rounded down to @lbs and must
 * leave at least one block.  Returns 0 or -EINVAL / -ENOMEM.
 */
int bdev_open_ram(uint64_t size, unsigned int lbs, struct bdev **out);

/* Wait for all I/O in flight, then release the device.  NULL is ignored. */
void bdev_close(struct bdev *bdev);

uint64_t bdev_nr_bytes(const struct bdev *bdev);
unsigned int bdev_logical_block_size(const struct bdev *bdev);

/* "io_uring", "sync" or "ram". */
const char *bdev_engine_name(const struct bdev *bdev);

/* Make every completed write durable.  Returns 0 or the device's -errno. */
int bdev_flush(struct bdev *bdev);

/*
 * Counters.  The size histogram has one bucket per power of two:
 * bucket i counts bios of size [512 << i, 512 << (i + 1)), the last bucket
 * everything larger.  Flushes (explicit or BIO_PREFLUSH) are counted apart
 * and carry no bytes.  Counters are updated at submission; errors at
 * completion.
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

void bdev_get_stats(const struct bdev *bdev, struct bdev_stats *stats);
void bdev_reset_stats(struct bdev *bdev);

#endif /* IOMAP_BDEV_H */
