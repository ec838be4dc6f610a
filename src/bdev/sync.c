/* SPDX-License-Identifier: MIT */
/*
 * The sync engine: preadv/pwritev/fdatasync in the submitting thread.
 * Used when BDEV_O_NO_URING is given or io_uring cannot be set up.  Every
 * bio completes before bio_submit() returns, so nothing is ever in flight
 * between calls and the engine needs no lock: concurrent submitters only
 * share the fd, and positioned I/O on one fd is thread safe.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "bdev/internal.h"
#include "lib/compiler.h"

struct sync_bdev {
	struct bdev bdev;
	int fd;
};

static struct sync_bdev *to_sync(struct bdev *bdev)
{
	return container_of(bdev, struct sync_bdev, bdev);
}

/* Issue the request's current stage once: bytes moved or -errno. */
static long sync_issue(int fd, const struct bd_req *req)
{
	const struct iovec *iov = req->iov + req->idx;
	int cnt = (int)(req->nr - req->idx);
	ssize_t n;

	if (!bd_req_is_data(req))
		return fdatasync(fd) ? -errno : 0;
	if (req->bio->bi_op == BIO_OP_READ)
		n = preadv(fd, iov, cnt, (off_t)req->pos);
	else
		n = pwritev(fd, iov, cnt, (off_t)req->pos);
	return n < 0 ? -errno : n;
}

static void sync_submit(struct bdev *bdev, struct bio *bio)
{
	struct bd_req *req = bd_req_new(bdev, bio);
	int ret;

	if (!req) {
		bd_end_bio(bio, -ENOMEM);
		return;
	}
	do
		ret = bd_req_step(req, sync_issue(to_sync(bdev)->fd, req));
	while (ret > 0);
	bd_req_end(req, ret);
}

static int sync_flush(struct bdev *bdev)
{
	return fdatasync(to_sync(bdev)->fd) ? -errno : 0;
}

static void sync_close(struct bdev *bdev)
{
	struct sync_bdev *sb = to_sync(bdev);

	close(sb->fd);
	free(sb);
}

static const struct bdev_ops sync_ops = {
	.submit = sync_submit,
	.flush = sync_flush,
	.close = sync_close,
};

int bd_sync_open(const struct bd_file *file, struct bdev **out)
{
	struct sync_bdev *sb = malloc(sizeof(*sb));

	if (!sb)
		return -ENOMEM;
	bd_init_file(&sb->bdev, &sync_ops, "sync", file);
	sb->fd = file->fd;
	*out = &sb->bdev;
	return 0;
}
