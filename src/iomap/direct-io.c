/* SPDX-License-Identifier: MIT */
/*
 * Direct I/O: bios built straight from the caller's memory, one mapping at
 * a time.
 *
 * Invariants
 *  1. dio->ref = 1 (the submitter) + bios in flight.  The bios' completions
 *     only record errors and drop references; the request is completed
 *     (->end_io, post-write invalidation, DSYNC flush, result) once, by
 *     whoever runs dio_complete(): the waiting caller for synchronous
 *     requests, the workqueue or the last completion for asynchronous ones.
 *  2. dio->size counts bytes handed to I/O or copied; it only grows while
 *     the submitter walks the range.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "iomap/bdev.h"
#include "iomap/direct-io.h"
#include "iomap/inode.h"
#include "iomap/internal.h"
#include "iomap/iomap.h"
#include "iomap/mapping.h"
#include "iomap/uio.h"
#include "iomap/workqueue.h"
#include "lib/compiler.h"

/* Zeroes for sub-block padding; filesystem blocks are at most 4 KiB. */
static const char dio_zero_page[4096] __attribute__((aligned(4096)));

struct iomap_dio {
	struct iomap_dio_req *req;
	const struct iomap_dio_ops *dops;
	uint64_t pos;
	uint64_t isize; /* i_size when a read started */
	int64_t size;
	unsigned int end_flags; /* IOMAP_DIO_UNWRITTEN / _NEW for ->end_io */
	struct bdev *bdev; /* last device written, for DSYNC */
	_Atomic int ref;
	_Atomic int error;
	struct work_item work;
	/* Synchronous waiting. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static bool dio_is_write(const struct iomap_dio *dio)
{
	return dio->req->flags & IOMAP_DIO_WRITE;
}

static void dio_set_error(struct iomap_dio *dio, int error)
{
	int expected = 0;

	atomic_compare_exchange_strong_explicit(&dio->error, &expected, error,
						memory_order_relaxed, memory_order_relaxed);
}

/* Finish the request: invariant 1, run exactly once. */
static int64_t dio_complete(struct iomap_dio *dio)
{
	struct iomap_dio_req *req = dio->req;
	struct inode *inode = req->inode;
	int error = atomic_load_explicit(&dio->error, memory_order_acquire);
	int64_t result;

	if (dio->dops && dio->dops->end_io) {
		int ret = dio->dops->end_io(inode, dio->pos, error ? 0 : dio->size, error,
					    dio->end_flags);

		if (ret < 0 && !error)
			error = ret;
	}
	if (dio_is_write(dio)) {
		if (!error && (req->flags & IOMAP_DIO_DSYNC) && dio->bdev)
			error = bdev_flush(dio->bdev);
		/* After ->end_io: nothing cached from before the conversion survives. */
		if (dio->size)
			invalidate_inode_pages2_range(inode->i_mapping, dio->pos >> PAGE_SHIFT,
						      (dio->pos + (uint64_t)dio->size - 1) >>
							      PAGE_SHIFT);
	}
	result = error ? error : dio->size;
	if (!error && !dio_is_write(dio) && dio->pos + (uint64_t)result > dio->isize)
		result = dio->isize > dio->pos ? (int64_t)(dio->isize - dio->pos) : 0;
	return result;
}

static void dio_free(struct iomap_dio *dio)
{
	pthread_cond_destroy(&dio->cond);
	pthread_mutex_destroy(&dio->lock);
	free(dio);
}

static void dio_complete_async(struct iomap_dio *dio)
{
	struct iomap_dio_req *req = dio->req;
	int64_t result = dio_complete(dio);

	dio_free(dio);
	req->complete(req, result);
}

static void dio_work(struct work_item *work)
{
	dio_complete_async(container_of(work, struct iomap_dio, work));
}

/* The last reference: wake the waiter, or complete an async request. */
static void dio_last_ref(struct iomap_dio *dio)
{
	if (!dio->req->complete) {
		pthread_mutex_lock(&dio->lock);
		dio->done = true;
		pthread_cond_signal(&dio->cond);
		pthread_mutex_unlock(&dio->lock);
	} else if (dio->req->wq) {
		dio->work.fn = dio_work;
		workqueue_queue(dio->req->wq, &dio->work);
	} else {
		dio_complete_async(dio);
	}
}

static void dio_put(struct iomap_dio *dio)
{
	/* acq_rel: the last one sees every bio's error and the final size. */
	if (atomic_fetch_sub_explicit(&dio->ref, 1, memory_order_acq_rel) == 1)
		dio_last_ref(dio);
}

static void dio_bio_end_io(struct bio *bio)
{
	struct iomap_dio *dio = bio->bi_private;

	if (bio->bi_status)
		dio_set_error(dio, bio->bi_status);
	bio_put(bio);
	dio_put(dio);
}

static struct bio *dio_bio_alloc(struct iomap_dio *dio, const struct iomap *iomap,
				 uint64_t pos, unsigned int nr_vecs)
{
	struct bio *bio = bio_alloc(iomap->bdev, nr_vecs,
				    dio_is_write(dio) ? BIO_OP_WRITE : BIO_OP_READ, 0);

	if (!bio)
		return NULL;
	bio->bi_sector = iomap_sector(iomap, pos);
	bio->bi_end_io = dio_bio_end_io;
	bio->bi_private = dio;
	return bio;
}

static void dio_submit_bio(struct iomap_dio *dio, struct bio *bio)
{
	atomic_fetch_add_explicit(&dio->ref, 1, memory_order_relaxed);
	iomap_count(dio_bios, 1);
	bio_submit(bio);
}

/* Write zeroes over [pos, pos + len) of a block being written in part. */
static int dio_zero_pad(struct iomap_dio *dio, const struct iomap *iomap, uint64_t pos,
			size_t len)
{
	struct bio *bio = dio_bio_alloc(dio, iomap, pos, 1);

	if (!bio)
		return -ENOMEM;
	if (!bio_add(bio, (void *)dio_zero_page, (uint32_t)len, NULL)) {
		bio_put(bio);
		return -EIO;
	}
	iomap_count(bytes_zeroed, len);
	dio_submit_bio(dio, bio);
	return 0;
}

/* Bios over the caller's memory for [pos, pos + length) of a mapping. */
static int dio_data_bios(struct iomap_dio *dio, const struct iomap *iomap, uint64_t pos,
			 uint64_t length, struct io_iter *mem)
{
	while (length) {
		struct bio *bio = dio_bio_alloc(dio, iomap, pos, BIO_MAX_VECS);
		uint64_t in_bio = 0;

		if (!bio)
			return -ENOMEM;
		while (length && bio->bi_vcnt < BIO_MAX_VECS) {
			char *base = (char *)mem->iov->iov_base + mem->iov_offset;
			size_t n = min((uint64_t)(mem->iov->iov_len - mem->iov_offset), length);

			n = min(n, (size_t)(UINT32_MAX / 2));
			if (!bio_add(bio, base, (uint32_t)n, NULL))
				break;
			io_iter_advance(mem, n);
			length -= n;
			in_bio += n;
		}
		dio_submit_bio(dio, bio);
		pos += in_bio;
		dio->size += (int64_t)in_bio;
	}
	return 0;
}

static int dio_bio_iter(struct iomap_iter *iter, struct iomap_dio *dio, struct io_iter *mem)
{
	const struct iomap *iomap = &iter->iomap;
	uint64_t pos = iter->pos, length = iomap_length(iter);
	uint64_t bs = i_blocksize(iter->inode), end = pos + length;
	bool zeroout = dio_is_write(dio) &&
		       (iomap->type == IOMAP_UNWRITTEN || (iomap->flags & IOMAP_F_NEW));
	int ret;

	if ((pos | length) & (bdev_logical_block_size(iomap->bdev) - 1))
		return -EINVAL;
	if (dio_is_write(dio)) {
		dio->bdev = iomap->bdev;
		if (iomap->type == IOMAP_UNWRITTEN)
			dio->end_flags |= IOMAP_DIO_UNWRITTEN;
		if (iomap->flags & IOMAP_F_NEW)
			dio->end_flags |= IOMAP_DIO_NEW;
	}
	if (zeroout && (pos & (bs - 1))) {
		ret = dio_zero_pad(dio, iomap, round_down_pow2(pos, bs), pos & (bs - 1));
		if (ret)
			return ret;
	}
	ret = dio_data_bios(dio, iomap, pos, length, mem);
	if (ret)
		return ret;
	/* A tail past EOF would otherwise expose old block contents when the file grows. */
	if ((zeroout || (dio_is_write(dio) && end >= i_size_read(iter->inode))) &&
	    (end & (bs - 1)) && end <= iomap->offset + iomap->length) {
		ret = dio_zero_pad(dio, iomap, end, round_up_pow2(end, bs) - end);
		if (ret)
			return ret;
	}
	return iomap_iter_advance(iter, length);
}

/* HOLE and UNWRITTEN read as zeroes; no I/O. */
static int dio_zero_iter(struct iomap_iter *iter, struct iomap_dio *dio, struct io_iter *mem)
{
	uint64_t length = iomap_length(iter);

	io_iter_zero(mem, length);
	dio->size += (int64_t)length;
	return iomap_iter_advance(iter, length);
}

static int dio_inline_iter(struct iomap_iter *iter, struct iomap_dio *dio, struct io_iter *mem)
{
	const struct iomap *iomap = &iter->iomap;
	uint64_t pos = iter->pos, length = iomap_length(iter);
	uint64_t isize = i_size_read(iter->inode);
	char *data = iomap_inline_data(iomap, pos);

	if (dio_is_write(dio)) {
		if (pos > isize)
			memset(iomap_inline_data(iomap, isize), 0, pos - isize);
		io_iter_copy_from(mem, data, length);
		if (pos + length > isize) {
			i_size_write(iter->inode, pos + length);
			iter->iomap.flags |= IOMAP_F_SIZE_CHANGED;
		}
	} else {
		length = pos < isize ? min(length, isize - pos) : 0;
		io_iter_copy_to(mem, data, length);
		if (!length)
			return 0; /* past EOF: done */
	}
	dio->size += (int64_t)length;
	return iomap_iter_advance(iter, length);
}

static int dio_iter(struct iomap_iter *iter, struct iomap_dio *dio, struct io_iter *mem)
{
	switch (iter->iomap.type) {
	case IOMAP_HOLE:
		if (dio_is_write(dio))
			return -EIO; /* the filesystem must allocate for writes */
		return dio_zero_iter(iter, dio, mem);
	case IOMAP_UNWRITTEN:
		if (!dio_is_write(dio))
			return dio_zero_iter(iter, dio, mem);
		return dio_bio_iter(iter, dio, mem);
	case IOMAP_MAPPED:
		return dio_bio_iter(iter, dio, mem);
	case IOMAP_INLINE:
		return dio_inline_iter(iter, dio, mem);
	default:
		return -EIO; /* DELALLOC: buffered data not yet written back */
	}
}

/* Position, length and every segment aligned to the device block size? */
static bool dio_aligned(const struct iomap_dio_req *req, uint64_t align)
{
	const struct io_iter *mem = req->iter;
	size_t left = mem->count, off = mem->iov_offset;

	if ((req->pos | left) & (align - 1))
		return false;
	for (const struct iovec *iov = mem->iov; left; iov++, off = 0) {
		size_t n = min(iov->iov_len - off, left);

		if (((uintptr_t)iov->iov_base + off) & (align - 1) || n & (align - 1))
			return false;
		left -= n;
	}
	return true;
}

/* Write back and, for writes, drop cached folios over the range. */
static int dio_sync_cache(struct iomap_dio_req *req, uint64_t len)
{
	struct address_space *mapping = req->inode->i_mapping;
	uint64_t first = req->pos >> PAGE_SHIFT, last = (req->pos + len - 1) >> PAGE_SHIFT;
	int ret;

	if (req->flags & IOMAP_DIO_NOWAIT) {
		uint64_t index = first;
		struct folio *f;

		if (filemap_get_folios(mapping, &index, last, &f, 1)) {
			folio_put(f);
			return -EAGAIN;
		}
		return 0;
	}
	ret = filemap_write_and_wait_range(mapping, req->pos, req->pos + len - 1);
	if (ret)
		return ret;
	if ((req->flags & IOMAP_DIO_WRITE) && invalidate_inode_pages2_range(mapping, first, last))
		return -ENOTBLK;
	return 0;
}

static struct iomap_dio *dio_alloc(struct iomap_dio_req *req, const struct iomap_dio_ops *dops)
{
	struct iomap_dio *dio = calloc(1, sizeof(*dio));

	if (!dio)
		return NULL;
	dio->req = req;
	dio->dops = dops;
	dio->pos = req->pos;
	dio->isize = i_size_read(req->inode);
	atomic_init(&dio->ref, 1);
	pthread_mutex_init(&dio->lock, NULL);
	pthread_cond_init(&dio->cond, NULL);
	return dio;
}

static int64_t dio_wait(struct iomap_dio *dio)
{
	int64_t result;

	dio_put(dio);
	pthread_mutex_lock(&dio->lock);
	while (!dio->done)
		pthread_cond_wait(&dio->cond, &dio->lock);
	pthread_mutex_unlock(&dio->lock);
	result = dio_complete(dio);
	dio_free(dio);
	return result;
}

/* Bytes to walk: a read stops at EOF rounded up to the device block. */
static uint64_t dio_length(const struct iomap_dio_req *req, uint64_t align)
{
	uint64_t count = req->iter->count, isize;

	if (req->flags & IOMAP_DIO_WRITE)
		return count;
	isize = round_up_pow2(i_size_read(req->inode), align);
	return req->pos >= isize ? 0 : min(count, isize - req->pos);
}

static unsigned int dio_iomap_flags(const struct iomap_dio_req *req)
{
	unsigned int flags = IOMAP_DIRECT;

	if (req->flags & IOMAP_DIO_WRITE)
		flags |= IOMAP_WRITE;
	if (req->flags & IOMAP_DIO_NOWAIT)
		flags |= IOMAP_NOWAIT;
	return flags;
}

int64_t iomap_dio_rw(struct iomap_dio_req *req, const struct iomap_ops *ops,
		     const struct iomap_dio_ops *dops)
{
	struct iomap_iter iter = { 0 };
	struct iomap_dio *dio;
	uint64_t align, len;
	int ret;

	if (!req || !req->inode || !req->iter || !ops || !ops->begin)
		return -EINVAL;
	/* The device's own block size is checked per mapping (dio_bio_iter). */
	align = SECTOR_SIZE;
	if (!dio_aligned(req, align))
		return -EINVAL;
	if (req->pos > (uint64_t)INT64_MAX || req->iter->count > (uint64_t)INT64_MAX - req->pos)
		return -EFBIG;
	len = dio_length(req, align);
	if (!len)
		return 0;
	ret = dio_sync_cache(req, len);
	if (ret)
		return ret;
	dio = dio_alloc(req, dops);
	if (!dio)
		return -ENOMEM;
	iomap_count(dio_requests, 1);
	iter = (struct iomap_iter){ .inode = req->inode, .pos = req->pos, .len = len,
				    .flags = dio_iomap_flags(req), .private = dio };
	while ((ret = iomap_iter(&iter, ops)) > 0)
		iter.status = dio_iter(&iter, dio, req->iter);
	if (ret < 0)
		dio_set_error(dio, ret);
	if (!req->complete)
		return dio_wait(dio);
	dio_put(dio);
	return -EIOCBQUEUED;
}
