/* SPDX-License-Identifier: MIT */
/*
 * Test a real block device node: a loop device with 4096-byte sectors over
 * a temporary 4 MiB file.
 *  - the size comes from BLKGETSIZE64;
 *  - a logical block size below the device's sector (BLKSSZGET) is
 *    refused with -EINVAL, equal to it is fine;
 *  - round trips, FUA, flushes and out-of-range requests on both engines,
 *    buffered and direct; the data reaches the backing file.
 * Skipped unless loop devices can be attached (root, loop driver, kernel
 * 5.8 or later for LOOP_CONFIGURE).  The loop device is set to detach
 * itself when the last user closes it, so a crashed test leaves nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define DEV_BYTES (4U * 1024 * 1024)

static char backing[256];
static char loop_path[64];
static int loop_fd = -1;

/* Attach @file_fd to a free loop device with 4096-byte sectors; false to skip. */
static bool attach_loop(int file_fd)
{
	struct loop_config cfg = { .fd = (uint32_t)file_fd, .block_size = 4096 };
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);

	if (ctl < 0)
		return false;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	/* Another process may take the free device first: try again. */
	for (int tries = 0; tries < 20 && loop_fd < 0; tries++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (nr < 0)
			break;
		snprintf(loop_path, sizeof(loop_path), "/dev/loop%d", nr);
		loop_fd = open(loop_path, O_RDWR | O_CLOEXEC);
		if (loop_fd >= 0 && ioctl(loop_fd, LOOP_CONFIGURE, &cfg) < 0) {
			int err = errno;

			close(loop_fd);
			loop_fd = -1;
			if (err != EBUSY)
				break;
		}
	}
	close(ctl);
	return loop_fd >= 0;
}

static void detach_loop(void)
{
	if (loop_fd >= 0) {
		ioctl(loop_fd, LOOP_CLR_FD, 0);
		close(loop_fd);
		loop_fd = -1;
	}
	unlink(backing);
}

static int rw(struct bdev *bd, enum bio_op op, unsigned int flags, uint64_t pos, void *buf,
	      uint32_t len)
{
	struct bio *bio = bio_alloc(bd, 1, op, flags);
	int ret;

	t_assert(bio_add(bio, buf, len, NULL));
	bio->bi_sector = pos >> SECTOR_SHIFT;
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

static void test_engine(unsigned int flags, uint64_t seed)
{
	struct bdev_open_opts opts = { .flags = flags, .logical_block_size = 512 };
	uint8_t *buf = t_aligned_alloc(4096, 65536), *back = t_aligned_alloc(4096, 65536);
	struct bdev *bd;
	int fd;

	t_assert_eq(bdev_open(loop_path, &opts, &bd), -EINVAL);
	opts.logical_block_size = 4096;
	t_assert_eq(bdev_open(loop_path, &opts, &bd), 0);
	printf("%s flags %#x: engine %s direct %d\n", loop_path, flags, bdev_engine_name(bd),
	       bdev_is_direct(bd));
	t_assert_eq(bdev_nr_bytes(bd), DEV_BYTES);
	t_assert_eq(bdev_logical_block_size(bd), 4096);

	t_fill_pattern(buf, 65536, 1024 * 1024, seed);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_FUA, 1024 * 1024, buf, 65536), 0);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 1024 * 1024, back, 65536), 0);
	t_assert_eq(t_check_pattern(back, 65536, 1024 * 1024, seed), -1);
	t_assert_eq(rw(bd, BIO_OP_WRITE, BIO_PREFLUSH, DEV_BYTES - 4096, buf, 4096), 0);
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, DEV_BYTES - 4096, buf, 8192), -EIO);
	t_assert_eq(rw(bd, BIO_OP_READ, 0, 512, back, 4096), -EINVAL);
	t_assert_eq(bdev_flush(bd), 0);
	bdev_close(bd);

	/* The loop device wrote through to its backing file. */
	fd = open(backing, O_RDONLY);
	t_assert(fd >= 0);
	t_assert_eq(pread(fd, back, 65536, 1024 * 1024), 65536);
	t_assert_eq(t_check_pattern(back, 65536, 1024 * 1024, seed), -1);
	close(fd);
	free(buf);
	free(back);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	int fd;

	snprintf(backing, sizeof(backing), "%s/bdev-blkdev-XXXXXX", base ? base : "/tmp");
	fd = mkstemp(backing);
	t_assert(fd >= 0);
	t_assert_eq(ftruncate(fd, DEV_BYTES), 0);
	if (!attach_loop(fd)) {
		printf("cannot attach a loop device: skipped\n");
		close(fd);
		unlink(backing);
		return T_EXIT_SKIP;
	}
	close(fd);
	atexit(detach_loop);
	test_engine(0, 1);
	test_engine(BDEV_O_DIRECT, 2);
	test_engine(BDEV_O_NO_URING, 3);
	test_engine(BDEV_O_NO_URING | BDEV_O_DIRECT, 4);
	return T_EXIT_PASS;
}
