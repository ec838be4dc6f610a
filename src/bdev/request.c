/* SPDX-License-Identifier: MIT */
/*
 * Request state shared by the file engines (sync.c, uring.c): the stage
 * machine of internal.h, resumption after short transfers, and bouncing
 * of segments that O_DIRECT cannot take.  Nothing here does I/O; the
 * engine issues each stage and feeds the result to bd_req_step().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/internal.h"
#include "lib/compiler.h"

/* Would O_DIRECT refuse one of the bio's segments? */
static bool req_needs_bounce(const struct bdev *bdev, const struct bio *bio)
{
	uintptr_t mask;

	if (!bdev->dio_align || bio->bi_op == BIO_OP_FLUSH)
		return false;
	mask = bdev->dio_align - 1;
	for (unsigned int i = 0; i < bio->bi_vcnt; i++)
		if (((uintptr_t)bio->bi_iov[i].iov_base | bio->bi_iov[i].iov_len) & mask)
			return true;
	return false;
}

static enum bd_stage req_first_stage(const struct bio *bio)
{
	if (bio->bi_op == BIO_OP_FLUSH)
		return BD_STAGE_FLUSH;
	if (bio->bi_op == BIO_OP_WRITE && (bio->bi_flags & BIO_PREFLUSH))
		return BD_STAGE_PREFLUSH;
	return BD_STAGE_DATA;
}

static void req_bounce_in(const struct bd_req *req)
{
	const struct bio *bio = req->bio;
	char *p = req->bounce;

	for (unsigned int i = 0; i < bio->bi_vcnt; i++) {
		memcpy(p, bio->bi_iov[i].iov_base, bio->bi_iov[i].iov_len);
		p += bio->bi_iov[i].iov_len;
	}
}

/*
 * One aligned buffer instead of the segments.  A read's buffer is copied
 * out only once the whole read has succeeded (bd_req_end).
 */
static int req_setup_bounce(struct bd_req *req, const struct bdev *bdev)
{
	const struct bio *bio = req->bio;

	if (posix_memalign(&req->bounce, bdev->dio_align, bio->bi_size))
		return -ENOMEM;
	if (bio->bi_op == BIO_OP_WRITE)
		req_bounce_in(req);
	req->iov[0] = (struct iovec){ .iov_base = req->bounce, .iov_len = bio->bi_size };
	req->nr = 1;
	return 0;
}

/* Copy the segments, leaving out empty ones so that idx never stalls. */
static void req_setup_iov(struct bd_req *req)
{
	const struct bio *bio = req->bio;

	req->nr = 0;
	for (unsigned int i = 0; i < bio->bi_vcnt; i++)
		if (bio->bi_iov[i].iov_len)
			req->iov[req->nr++] = bio->bi_iov[i];
}

struct bd_req *bd_req_new(const struct bdev *bdev, struct bio *bio)
{
	bool bounce = req_needs_bounce(bdev, bio);
	unsigned int nr = bounce ? 1 : bio->bi_vcnt;
	struct bd_req *req = malloc(sizeof(*req) + nr * sizeof(struct iovec));

	if (!req)
		return NULL;
	req->bio = bio;
	req->next = NULL;
	req->stage = req_first_stage(bio);
	req->pos = bio->bi_sector << SECTOR_SHIFT;
	req->direct_mask = bdev->dio_align ? bdev->lbs - 1 : 0;
	req->bounce = NULL;
	req->idx = 0;
	if (!bounce) {
		req_setup_iov(req);
		return req;
	}
	if (req_setup_bounce(req, bdev)) {
		free(req);
		return NULL;
	}
	return req;
}

/*
 * Consume @n bytes from the front of the remaining segments.  The kernel
 * never moves more than it was given; if it claims to, fail the request
 * rather than run off the array.
 */
static int req_advance(struct bd_req *req, size_t n)
{
	req->pos += n;
	while (n) {
		struct iovec *v;
		size_t take;

		if (req->idx >= req->nr)
			return -EIO;
		v = &req->iov[req->idx];
		take = min(n, v->iov_len);
		v->iov_base = (char *)v->iov_base + take;
		v->iov_len -= take;
		n -= take;
		if (v->iov_len == 0)
			req->idx++;
	}
	return 0;
}

static int req_step_data(struct bd_req *req, size_t n)
{
	const struct bio *bio = req->bio;

	if (n == 0 || req_advance(req, n))
		return -EIO;
	if (req->idx < req->nr)
		return (req->pos & req->direct_mask) ? -EIO : 1;
	if (bio->bi_op == BIO_OP_WRITE && (bio->bi_flags & BIO_FUA)) {
		req->stage = BD_STAGE_POSTFLUSH;
		return 1;
	}
	return 0;
}

int bd_req_step(struct bd_req *req, long res)
{
	if (res == -EINTR || res == -EAGAIN)
		return 1;
	if (res < 0)
		return (int)res;
	switch (req->stage) {
	case BD_STAGE_PREFLUSH:
		req->stage = BD_STAGE_DATA;
		return 1;
	case BD_STAGE_DATA:
		return req_step_data(req, (size_t)res);
	case BD_STAGE_POSTFLUSH:
	case BD_STAGE_FLUSH:
		return 0;
	}
	return -EIO;
}

static void req_bounce_out(const struct bd_req *req)
{
	const struct bio *bio = req->bio;
	const char *p = req->bounce;

	for (unsigned int i = 0; i < bio->bi_vcnt; i++) {
		memcpy(bio->bi_iov[i].iov_base, p, bio->bi_iov[i].iov_len);
		p += bio->bi_iov[i].iov_len;
	}
}

void bd_req_end(struct bd_req *req, int status)
{
	struct bio *bio = req->bio;

	if (req->bounce) {
		if (status == 0 && bio->bi_op == BIO_OP_READ)
			req_bounce_out(req);
		free(req->bounce);
	}
	free(req);
	bd_end_bio(bio, status);
}
