/* SPDX-License-Identifier: MIT */
/*
 * Opening a file or block device, choosing its engine, and everything that
 * does not depend on the engine: accessors, flush accounting, counters.
 *
 * bdev_open() runs in three steps: check the options, open and size the
 * file (bdo_*), then hand the open file to an engine.  Engine choice:
 * io_uring unless BDEV_O_NO_URING, and the sync engine whenever io_uring
 * cannot be set up, so that a kernel or sandbox refusing io_uring only
 * costs speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev/internal.h"
#include "lib/compiler.h"

#define BDEV_KNOWN_FLAGS (BDEV_O_RDONLY | BDEV_O_CREATE | BDEV_O_DIRECT | BDEV_O_NO_URING)
#define BDEV_DEFAULT_QUEUE_DEPTH 128U

void bd_init(struct bdev *bdev, const struct bdev_ops *ops, const char *engine, uint64_t nr_bytes,
	     unsigned int lbs)
{
	memset(bdev, 0, sizeof(*bdev));
	bdev->ops = ops;
	bdev->engine = engine;
	bdev->nr_bytes = nr_bytes;
	bdev->lbs = lbs;
}

void bd_init_file(struct bdev *bdev, const struct bdev_ops *ops, const char *engine,
		  const struct bd_file *file)
{
	bd_init(bdev, ops, engine, file->nr_bytes, file->lbs);
	bdev->flags = file->flags;
	bdev->dio_align = file->dio_align;
}

/* Check @opts and resolve its defaults into @file (fd not yet set). */
static int bdo_check_opts(const struct bdev_open_opts *opts, struct bd_file *file)
{
	unsigned int lbs = opts->logical_block_size ? opts->logical_block_size : 512;
	unsigned int qd = opts->queue_depth ? opts->queue_depth : BDEV_DEFAULT_QUEUE_DEPTH;

	if (!bd_lbs_valid(lbs) || qd > BD_MAX_QUEUE_DEPTH)
		return -EINVAL;
	if (opts->flags & ~BDEV_KNOWN_FLAGS)
		return -EINVAL;
	if (opts->size && !(opts->flags & BDEV_O_CREATE))
		return -EINVAL;
	if ((opts->flags & BDEV_O_CREATE) && (opts->flags & BDEV_O_RDONLY))
		return -EINVAL;
	*file = (struct bd_file){ .fd = -1, .lbs = lbs, .flags = opts->flags, .queue_depth = qd };
	return 0;
}

/*
 * Open @path, with O_DIRECT when asked and the file system accepts it at
 * open time.  Returns the fd or -errno.
 */
static int bdo_open_fd(const char *path, unsigned int flags)
{
	int oflags = O_CLOEXEC | ((flags & BDEV_O_RDONLY) ? O_RDONLY : O_RDWR);
	int fd;

	if (flags & BDEV_O_CREATE)
		oflags |= O_CREAT;
	if (flags & BDEV_O_DIRECT) {
		fd = open(path, oflags | O_DIRECT, 0644);
		if (fd >= 0 || errno != EINVAL)
			return fd >= 0 ? fd : -errno;
	}
	fd = open(path, oflags, 0644);
	return fd >= 0 ? fd : -errno;
}

/*
 * The alignment direct I/O needs on @fd at logical block size @lbs, or 0
 * when it cannot work there (the file system needs larger offsets).  When
 * the kernel does not say (old kernels, block devices before 6.11, tmpfs),
 * assume the logical block size is enough: bdo_size_blkdev() has checked
 * it against the device's sector.
 */
static unsigned int bdo_dio_align(int fd, unsigned int lbs)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (stx.stx_dio_offset_align == 0 || stx.stx_dio_offset_align > lbs)
			return 0;
		return max(lbs, (unsigned int)stx.stx_dio_mem_align);
	}
#endif
	return lbs;
}

/* Find out whether O_DIRECT is in effect, dropping it when unusable. */
static int bdo_setup_direct(struct bd_file *file)
{
	int fl = fcntl(file->fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (!(fl & O_DIRECT))
		return 0;
	file->dio_align = bdo_dio_align(file->fd, file->lbs);
	if (file->dio_align)
		return 0;
	if (fcntl(file->fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	return 0;
}

static int bdo_size_regular(struct bd_file *file, const struct stat *st, uint64_t want)
{
	uint64_t size = (uint64_t)st->st_size;

	if ((file->flags & BDEV_O_CREATE) && want > size) {
		if (ftruncate(file->fd, (off_t)want) < 0)
			return -errno;
		size = want;
	}
	file->nr_bytes = round_down_pow2(size, (uint64_t)file->lbs);
	return 0;
}

static int bdo_size_blkdev(struct bd_file *file)
{
	uint64_t size;
	int sector;

	if (ioctl(file->fd, BLKGETSIZE64, &size) < 0 || ioctl(file->fd, BLKSSZGET, &sector) < 0)
		return -errno;
	if (sector <= 0 || (unsigned int)sector > file->lbs)
		return -EINVAL;
	file->nr_bytes = round_down_pow2(size, (uint64_t)file->lbs);
	return 0;
}

/* Size the open file in @file; then settle O_DIRECT. */
static int bdo_probe(struct bd_file *file, uint64_t want)
{
	struct stat st;
	int err;

	if (fstat(file->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		err = bdo_size_regular(file, &st, want);
	else if (S_ISBLK(st.st_mode))
		err = bdo_size_blkdev(file);
	else
		err = -ENOTBLK;
	return err ? err : bdo_setup_direct(file);
}

/* Hand @file to an engine; io_uring failures fall back to sync. */
static int bdo_start_engine(const struct bd_file *file, struct bdev **out)
{
	if (!(file->flags & BDEV_O_NO_URING) && bd_uring_open(file, out) == 0)
		return 0;
	return bd_sync_open(file, out);
}

int bdev_open(const char *path, const struct bdev_open_opts *opts, struct bdev **out)
{
	static const struct bdev_open_opts defaults;
	struct bd_file file;
	int err;

	if (!opts)
		opts = &defaults;
	err = bdo_check_opts(opts, &file);
	if (err)
		return err;
	file.fd = bdo_open_fd(path, file.flags);
	if (file.fd < 0)
		return file.fd;
	err = bdo_probe(&file, opts->size);
	if (!err)
		err = bdo_start_engine(&file, out);
	if (err)
		close(file.fd);
	return err;
}

void bdev_close(struct bdev *bdev)
{
	if (bdev)
		bdev->ops->close(bdev);
}

uint64_t bdev_nr_bytes(const struct bdev *bdev)
{
	return bdev->nr_bytes;
}

unsigned int bdev_logical_block_size(const struct bdev *bdev)
{
	return bdev->lbs;
}

const char *bdev_engine_name(const struct bdev *bdev)
{
	return bdev->engine;
}

bool bdev_is_direct(const struct bdev *bdev)
{
	return bdev->dio_align != 0;
}

int bdev_flush(struct bdev *bdev)
{
	int err;

	bd_count(&bdev->stats.flushes, 1);
	err = bdev->ops->flush(bdev);
	if (err)
		bd_count(&bdev->stats.errors, 1);
	return err;
}

/* The counters are walked as an array: every field is a uint64_t. */
_Static_assert(sizeof(struct bdev_stats) == (7 + 2 * BDEV_HIST_BUCKETS) * sizeof(uint64_t),
	       "struct bdev_stats must hold only uint64_t counters");

/* Relaxed loads pair with the relaxed updates: see bio.c. */
void bdev_get_stats(const struct bdev *bdev, struct bdev_stats *stats)
{
	const uint64_t *src = (const uint64_t *)&bdev->stats;
	uint64_t *dst = (uint64_t *)stats;

	for (size_t i = 0; i < sizeof(*stats) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void bdev_reset_stats(struct bdev *bdev)
{
	uint64_t *dst = (uint64_t *)&bdev->stats;

	for (size_t i = 0; i < sizeof(bdev->stats) / sizeof(uint64_t); i++)
		__atomic_store_n(&dst[i], 0, __ATOMIC_RELAXED);
}
