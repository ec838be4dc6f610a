/* SPDX-License-Identifier: MIT */
/*
 * Bios: allocation, building, and the submission checks every engine
 * relies on.  After bio_check() passes, an engine may assume the op is
 * valid, the request lies inside the device and is aligned to its logical
 * block size, and a data request has at least one byte.
 *
 * Counters are plain uint64_t updated with relaxed atomics: each is an
 * independent tally that orders no other memory, and readers accept a
 * snapshot that is not taken at one instant.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/internal.h"
#include "lib/compiler.h"

#define BIO_KNOWN_FLAGS (BIO_FUA | BIO_PREFLUSH)

struct bio *bio_alloc(struct bdev *bdev, unsigned int nr_vecs, enum bio_op op, unsigned int flags)
{
	struct bio *bio;
	size_t size;

	if (nr_vecs > BIO_MAX_VECS || (nr_vecs == 0 && op != BIO_OP_FLUSH))
		return NULL;
	/* One block: the bio, then its segments, then their owners. */
	size = sizeof(*bio) + nr_vecs * (sizeof(struct iovec) + sizeof(void *));
	bio = calloc(1, size);
	if (!bio)
		return NULL;
	bio->bi_bdev = bdev;
	bio->bi_op = op;
	bio->bi_flags = flags;
	bio->bi_max_vecs = (uint16_t)nr_vecs;
	bio->bi_iov = nr_vecs ? (struct iovec *)(bio + 1) : NULL;
	bio->bi_owner = nr_vecs ? (void **)(bio->bi_iov + nr_vecs) : NULL;
	return bio;
}

void bio_put(struct bio *bio)
{
	free(bio);
}

bool bio_add(struct bio *bio, void *base, uint32_t len, void *owner)
{
	struct iovec *last;

	if (len == 0)
		return true;
	if ((uint64_t)bio->bi_size + len > UINT32_MAX)
		return false;
	last = bio->bi_vcnt ? &bio->bi_iov[bio->bi_vcnt - 1] : NULL;
	if (last && (char *)last->iov_base + last->iov_len == (char *)base &&
	    bio->bi_owner[bio->bi_vcnt - 1] == owner) {
		last->iov_len += len;
	} else {
		if (bio->bi_vcnt >= bio->bi_max_vecs)
			return false;
		bio->bi_iov[bio->bi_vcnt] = (struct iovec){ .iov_base = base, .iov_len = len };
		bio->bi_owner[bio->bi_vcnt] = owner;
		bio->bi_vcnt++;
	}
	bio->bi_size += len;
	return true;
}

/* Is the bio internally consistent: op, flags, segments against bi_size? */
static bool bio_well_formed(const struct bio *bio)
{
	uint64_t sum = 0;

	if (bio->bi_flags & ~BIO_KNOWN_FLAGS)
		return false;
	if (bio->bi_op == BIO_OP_FLUSH)
		return bio->bi_size == 0 && bio->bi_vcnt == 0;
	if (bio->bi_op != BIO_OP_READ && bio->bi_op != BIO_OP_WRITE)
		return false;
	if (bio->bi_op == BIO_OP_READ && bio->bi_flags)
		return false;
	if (bio->bi_size == 0 || bio->bi_vcnt == 0 || bio->bi_vcnt > bio->bi_max_vecs)
		return false;
	for (unsigned int i = 0; i < bio->bi_vcnt; i++)
		sum += bio->bi_iov[i].iov_len;
	return sum == bio->bi_size;
}

/* 0, or the errno bio_submit() documents, in the documented order. */
static int bio_check(const struct bdev *bdev, const struct bio *bio)
{
	uint64_t lbs_sectors = bdev->lbs >> SECTOR_SHIFT;
	uint64_t nr_sectors = bdev->nr_bytes >> SECTOR_SHIFT;

	if (!bio_well_formed(bio))
		return -EINVAL;
	if (bio->bi_op == BIO_OP_FLUSH)
		return 0;
	if (bio->bi_op == BIO_OP_WRITE && (bdev->flags & BDEV_O_RDONLY))
		return -EROFS;
	if ((bio->bi_sector & (lbs_sectors - 1)) || (bio->bi_size & (bdev->lbs - 1)))
		return -EINVAL;
	/* Written so that nothing overflows for any bi_sector. */
	if (bio->bi_sector > nr_sectors ||
	    (bio->bi_size >> SECTOR_SHIFT) > nr_sectors - bio->bi_sector)
		return -EIO;
	return 0;
}

static unsigned int bio_hist_bucket(uint32_t size)
{
	int b = ilog2_u64(size) - SECTOR_SHIFT;

	return min((unsigned int)b, BDEV_HIST_BUCKETS - 1U);
}

/* Count a checked bio against @bdev; see the counters in bdev.h. */
static void bio_account(struct bdev *bdev, const struct bio *bio)
{
	struct bdev_stats *st = &bdev->stats;
	unsigned int b;

	if (bio->bi_op == BIO_OP_FLUSH) {
		bd_count(&st->flushes, 1);
		return;
	}
	b = bio_hist_bucket(bio->bi_size);
	if (bio->bi_op == BIO_OP_READ) {
		bd_count(&st->bios_read, 1);
		bd_count(&st->bytes_read, bio->bi_size);
		bd_count(&st->read_hist[b], 1);
		return;
	}
	bd_count(&st->bios_written, 1);
	bd_count(&st->bytes_written, bio->bi_size);
	bd_count(&st->write_hist[b], 1);
	if (bio->bi_flags & BIO_PREFLUSH)
		bd_count(&st->flushes, 1);
	if (bio->bi_flags & BIO_FUA)
		bd_count(&st->fua_writes, 1);
}

void bd_end_bio(struct bio *bio, int status)
{
	bio->bi_status = status;
	if (status && bio->bi_bdev)
		bd_count(&bio->bi_bdev->stats.errors, 1);
	/* From here on the bio belongs to its owner's handler. */
	if (bio->bi_end_io)
		bio->bi_end_io(bio);
}

void bio_submit(struct bio *bio)
{
	struct bdev *bdev = bio->bi_bdev;
	int err;

	if (unlikely(!bdev)) {
		bd_end_bio(bio, -EINVAL);
		return;
	}
	err = bio_check(bdev, bio);
	if (err) {
		bd_end_bio(bio, err);
		return;
	}
	bio_account(bdev, bio);
	bdev->ops->submit(bdev, bio);
}

/*
 * A waiter on the submitter's stack.  The completion side signals while
 * holding the lock, so once the waiter has seen done under the lock no
 * other thread touches the waiter again and it may go out of scope.
 */
struct bio_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void bio_wake(struct bio *bio)
{
	struct bio_waiter *w = bio->bi_private;

	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int bio_submit_wait(struct bio *bio)
{
	struct bio_waiter w = { .done = false };

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	bio->bi_end_io = bio_wake;
	bio->bi_private = &w;
	bio_submit(bio);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return bio->bi_status;
}
