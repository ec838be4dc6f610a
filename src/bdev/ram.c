/* SPDX-License-Identifier: MIT */
/*
 * The RAM backend: sectors in anonymous memory, copied in the submitting
 * thread.  Anonymous mappings read as zeros and cost nothing until
 * written, so a large sparse device is cheap.  Like a real disk it does
 * not order overlapping requests in flight at once: two threads writing
 * the same sectors concurrently get one or the other, or a mixture.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bdev/internal.h"
#include "lib/compiler.h"

struct ram_bdev {
	struct bdev bdev;
	char *mem; /* bdev.nr_bytes bytes */
};

static struct ram_bdev *to_ram(struct bdev *bdev)
{
	return container_of(bdev, struct ram_bdev, bdev);
}

static void ram_copy(struct ram_bdev *rb, const struct bio *bio)
{
	char *dev = rb->mem + (bio->bi_sector << SECTOR_SHIFT);

	for (unsigned int i = 0; i < bio->bi_vcnt; i++) {
		const struct iovec *v = &bio->bi_iov[i];

		if (bio->bi_op == BIO_OP_READ)
			memcpy(v->iov_base, dev, v->iov_len);
		else
			memcpy(dev, v->iov_base, v->iov_len);
		dev += v->iov_len;
	}
}

/* Flushes have nothing to do: memory is as durable as this device gets. */
static void ram_submit(struct bdev *bdev, struct bio *bio)
{
	if (bio->bi_op != BIO_OP_FLUSH)
		ram_copy(to_ram(bdev), bio);
	bd_end_bio(bio, 0);
}

static int ram_flush(struct bdev *bdev)
{
	return 0;
}

static void ram_close(struct bdev *bdev)
{
	struct ram_bdev *rb = to_ram(bdev);

	munmap(rb->mem, rb->bdev.nr_bytes);
	free(rb);
}

static const struct bdev_ops ram_ops = {
	.submit = ram_submit,
	.flush = ram_flush,
	.close = ram_close,
};

int bdev_open_ram(uint64_t size, unsigned int lbs, struct bdev **out)
{
	struct ram_bdev *rb;
	void *mem;

	if (!bd_lbs_valid(lbs))
		return -EINVAL;
	size = round_down_pow2(size, (uint64_t)lbs);
	if (size == 0 || size > SIZE_MAX)
		return -EINVAL;
	rb = malloc(sizeof(*rb));
	if (!rb)
		return -ENOMEM;
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		free(rb);
		return -ENOMEM;
	}
	bd_init(&rb->bdev, &ram_ops, "ram", size, lbs);
	rb->mem = mem;
	*out = &rb->bdev;
	return 0;
}
