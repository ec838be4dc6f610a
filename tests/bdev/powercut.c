/* SPDX-License-Identifier: MIT */
/*
 * Test the power-cut simulation of the fault device (iomap/bdev-fault.h),
 * over RAM devices (logical block size 512 and 4096) and a file device
 * (io_uring engine, or sync where the kernel refuses io_uring):
 *  - write A, flush, write B over part of A, cut (DROP_ALL): A exactly;
 *    undo-log counters;
 *  - BIO_FUA writes survive, also between lost writes over the same
 *    blocks; BIO_PREFLUSH makes earlier writes durable, not its own;
 *    flush bios and bdev_flush() do; turning volatile mode off does;
 *  - failures: a write failed by a rule is not logged; a capture read
 *    failed below fails the write and leaves nothing; a write failed below
 *    after its capture rolls back; a failed flush makes nothing durable;
 *  - -EBUSY from bdev_fault_power_cut() and bdev_fault_set_volatile()
 *    while a write is held in flight (io_uring only);
 *  - RANDOM cuts keep each write whole or lose it whole, RANDOM|TORN cuts
 *    leave each block old or new, both checked by working out from the
 *    image which writes survived; the same seed gives the same image;
 *  - an fsx-style exerciser: random writes (FUA, PREFLUSH), flush bios,
 *    bdev_flush(), mode switches, reads and cuts of every mode, checked
 *    against a model; the last operations are printed on failure;
 *  - 8 threads writing overlapping blocks at once: DROP_ALL restores the
 *    image from before exactly, RANDOM leaves each block as one of its
 *    writes or the image from before; a reader racing with cuts sees only
 *    success or -EIO.
 *
 * Usage: bdev-powercut [-s seed] [-n steps]   (exerciser seed and length)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bdev/internal.h"
#include "helpers.h"
#include "lib/compiler.h"
#include "iomap/bdev-fault.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define KiB 1024U
#define DEV_BYTES (256 * KiB)
#define MAX_WRITE_BLOCKS 16
#define RANDOM_ROUNDS 200
#define NTHREADS 8
#define THREAD_WRITES 64
#define HOT_BLOCKS 32 /* the threads' overlapping area */

static char tmpdir[256];
static char devpath[512];
static uint64_t opt_seed = 1;
static unsigned int opt_steps = 3000;

/*
 * A pattern that differs for every (seed, byte offset): pat_fill()
 * only has 128 distinct patterns, too few to tell hundreds of writes apart.
 */
static uint64_t pat_word(uint64_t word, uint64_t seed)
{
	uint64_t z = word * 0x9e3779b97f4a7c15ULL ^ (seed + 1) * 0xd1b54a32d192ed03ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint8_t pat_byte(uint64_t pos, uint64_t seed)
{
	return (uint8_t)(pat_word(pos >> 3, seed) >> ((pos & 7) * 8));
}

static void pat_fill(void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pat_byte(pos + i, seed);
}

static bool pat_check(const void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pat_byte(pos + i, seed))
			return false;
	return true;
}

/* ---- I/O helpers ---- */

static int rw(struct bdev *bd, enum bio_op op, unsigned int flags, uint64_t off, void *buf,
	      uint32_t len)
{
	struct bio *bio = bio_alloc(bd, 1, op, flags);
	int ret;

	t_assert(bio);
	t_assert(bio_add(bio, buf, len, NULL));
	bio->bi_sector = off >> SECTOR_SHIFT;
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

static int flush_bio(struct bdev *bd)
{
	struct bio *bio = bio_alloc(bd, 0, BIO_OP_FLUSH, 0);
	int ret;

	t_assert(bio);
	ret = bio_submit_wait(bio);
	bio_put(bio);
	return ret;
}

/* Write the pattern of @seed over [off, off + len); returns bi_status. */
static int put(struct bdev *bd, unsigned int flags, uint64_t off, uint32_t len, uint64_t seed)
{
	uint8_t *buf = t_aligned_alloc(4096, len);
	int ret;

	pat_fill(buf, len, off, seed);
	ret = rw(bd, BIO_OP_WRITE, flags, off, buf, len);
	free(buf);
	return ret;
}

static bool holds(struct bdev *bd, uint64_t off, uint32_t len, uint64_t seed)
{
	uint8_t *buf = t_aligned_alloc(4096, len);
	bool ok;

	t_assert_eq(rw(bd, BIO_OP_READ, 0, off, buf, len), 0);
	ok = pat_check(buf, len, off, seed);
	free(buf);
	return ok;
}

static uint8_t *read_all(struct bdev *bd)
{
	uint8_t *img = t_aligned_alloc(4096, DEV_BYTES);

	t_assert_eq(rw(bd, BIO_OP_READ, 0, 0, img, DEV_BYTES), 0);
	return img;
}

static struct bdev *wrap(struct bdev *lower)
{
	struct bdev *fd = NULL;

	t_assert_eq(bdev_fault_create(lower, &fd), 0);
	return fd;
}

static struct bdev_fault_stats fstats(struct bdev *fd)
{
	struct bdev_fault_stats st;

	t_assert_eq(bdev_fault_get_stats(fd, &st), 0);
	return st;
}

static void add_rule(struct bdev *fd, unsigned int ops, uint64_t skip, uint64_t count, int error)
{
	struct bdev_fault_rule r = {
		.ops = ops, .nr_sectors = UINT64_MAX, .skip = skip, .count = count, .error = error,
	};

	t_assert_eq(bdev_fault_add_rule(fd, &r), 0);
}

/* Put a known image on the whole device, durably, and start volatile mode. */
static struct bdev *start(struct bdev *lower, uint64_t seed)
{
	struct bdev *fd = wrap(lower);

	t_assert_eq(put(fd, 0, 0, DEV_BYTES, seed), 0);
	t_assert_eq(bdev_fault_set_volatile(fd, true), 0);
	return fd;
}

/* ---- Fixed scenarios ---- */

static void test_basic(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	struct bdev *fd = start(lower, 100);
	struct bdev_fault_stats st;

	t_assert_eq(put(fd, 0, 0, 64 * KiB, 1), 0); /* A */
	t_assert_eq(flush_bio(fd), 0);
	t_assert_eq(put(fd, 0, 16 * KiB, 32 * KiB, 2), 0); /* B */
	t_assert(holds(fd, 16 * KiB, 32 * KiB, 2));
	st = fstats(fd);
	t_assert_eq(st.pending_writes, 1);
	t_assert_eq(st.pending_bytes, 32 * KiB);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 64 * KiB, 1));
	t_assert(holds(lower, 0, 64 * KiB, 1));
	t_assert(holds(fd, 64 * KiB, DEV_BYTES - 64 * KiB, 100));
	st = fstats(fd);
	t_assert_eq(st.pending_writes, 0);
	t_assert_eq(st.pending_bytes, 0);
	t_assert_eq(st.power_cuts, 1);
	t_assert_eq(st.writes_lost, 1);
	/* Still volatile after the "reboot". */
	t_assert_eq(put(fd, 0, 0, lbs, 3), 0);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 64 * KiB, 1));
	/* An empty log: nothing to do. */
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN, 9), 0);
	t_assert(holds(fd, 0, 64 * KiB, 1));
	bdev_close(fd);
}

/*
 * B (lost) under C (FUA) under D (lost): C survives whole, the parts of B
 * and D outside C fall back to A.
 */
static void test_fua(struct bdev *lower)
{
	struct bdev *fd = start(lower, 110);

	t_assert_eq(put(fd, 0, 0, 64 * KiB, 1), 0); /* A */
	t_assert_eq(bdev_flush(fd), 0);
	t_assert_eq(put(fd, 0, 0, 16 * KiB, 2), 0); /* B */
	t_assert_eq(put(fd, BIO_FUA, 8 * KiB, 16 * KiB, 3), 0); /* C */
	t_assert_eq(put(fd, 0, 20 * KiB, 8 * KiB, 4), 0); /* D */
	t_assert_eq(fstats(fd).pending_writes, 2);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 8 * KiB, 1));
	t_assert(holds(fd, 8 * KiB, 16 * KiB, 3));
	t_assert(holds(fd, 24 * KiB, 40 * KiB, 1));
	t_assert_eq(fstats(fd).writes_lost, 2);
	bdev_close(fd);
}

static void test_preflush(struct bdev *lower)
{
	struct bdev *fd = start(lower, 120);

	t_assert_eq(put(fd, 0, 0, 16 * KiB, 1), 0);
	t_assert_eq(put(fd, BIO_PREFLUSH, 8 * KiB, 16 * KiB, 2), 0);
	t_assert_eq(fstats(fd).pending_writes, 1);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 16 * KiB, 1));
	t_assert(holds(fd, 16 * KiB, 16 * KiB, 120));

	t_assert_eq(put(fd, 0, 0, 16 * KiB, 3), 0);
	t_assert_eq(put(fd, BIO_PREFLUSH | BIO_FUA, 8 * KiB, 16 * KiB, 4), 0);
	t_assert_eq(fstats(fd).pending_writes, 0);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 8 * KiB, 3));
	t_assert(holds(fd, 8 * KiB, 16 * KiB, 4));
	bdev_close(fd);
}

/* Turning volatile mode off makes everything durable; writes then are too. */
static void test_volatile_off(struct bdev *lower)
{
	struct bdev *fd = start(lower, 130);

	t_assert_eq(put(fd, 0, 0, 32 * KiB, 1), 0);
	t_assert_eq(bdev_fault_set_volatile(fd, false), 0);
	t_assert_eq(fstats(fd).pending_writes, 0);
	t_assert_eq(put(fd, 0, 16 * KiB, 32 * KiB, 2), 0);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 16 * KiB, 1));
	t_assert(holds(fd, 16 * KiB, 32 * KiB, 2));
	bdev_close(fd);
}

/*
 * Failures around the undo log.  top (volatile) stacks on bot (rules),
 * which stacks on the lower device, so rules on bot hit top's capture
 * reads and writes.
 */
static void test_failures(struct bdev *lower)
{
	struct bdev *bot = wrap(lower);
	struct bdev *top = start(bot, 140);

	/* Failed by a rule on top: never logged, never written. */
	add_rule(top, BDEV_FAULT_OP_WRITE, 0, 1, -EIO);
	t_assert_eq(put(top, 0, 0, 16 * KiB, 1), -EIO);
	t_assert_eq(fstats(top).pending_writes, 0);
	t_assert(holds(lower, 0, 16 * KiB, 140));
	t_assert_eq(bdev_fault_clear_rules(top), 0);

	/* The capture read fails: so does the write, and it left nothing. */
	add_rule(bot, BDEV_FAULT_OP_READ, 0, 1, -ENOSPC);
	t_assert_eq(put(top, 0, 0, 16 * KiB, 2), -ENOSPC);
	t_assert_eq(fstats(top).pending_writes, 0);
	t_assert(holds(lower, 0, 16 * KiB, 140));
	t_assert_eq(bdev_fault_clear_rules(bot), 0);

	/* The write fails below after its capture: logged, rolled back. */
	add_rule(bot, BDEV_FAULT_OP_WRITE, 0, 1, -EIO);
	t_assert_eq(put(top, 0, 0, 16 * KiB, 3), -EIO);
	t_assert_eq(fstats(top).pending_writes, 1);
	t_assert_eq(bdev_fault_power_cut(top, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(top, 0, DEV_BYTES, 140));
	t_assert_eq(bdev_fault_clear_rules(bot), 0);

	/* A flush that fails makes nothing durable. */
	t_assert_eq(put(top, 0, 0, 16 * KiB, 4), 0);
	add_rule(top, BDEV_FAULT_OP_FLUSH, 0, 0, -EIO);
	t_assert_eq(flush_bio(top), -EIO);
	t_assert_eq(bdev_flush(top), -EIO);
	t_assert_eq(put(top, BIO_PREFLUSH, 32 * KiB, 16 * KiB, 5), -EIO);
	t_assert_eq(fstats(top).pending_writes, 1);
	t_assert_eq(bdev_fault_clear_rules(top), 0);
	add_rule(bot, BDEV_FAULT_OP_FLUSH, 0, 0, -EIO); /* fails top's flush below */
	t_assert_eq(flush_bio(top), -EIO);
	t_assert_eq(bdev_flush(top), -EIO);
	t_assert_eq(bdev_fault_clear_rules(bot), 0);
	t_assert_eq(bdev_fault_power_cut(top, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(top, 0, DEV_BYTES, 140));
	bdev_close(top);
	bdev_close(bot);
}

/* ---- Holding a write in flight (io_uring) ---- */

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, open, done;
};

static void gate_wait(struct gate *g, bool *flag)
{
	pthread_mutex_lock(&g->lock);
	while (!*flag)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

static void gate_set(struct gate *g, bool *flag)
{
	pthread_mutex_lock(&g->lock);
	*flag = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Blocks the io_uring completion thread until the gate opens. */
static void gate_end_io(struct bio *bio)
{
	struct gate *g = bio->bi_private;

	gate_set(g, &g->entered);
	gate_wait(g, &g->open);
}

static void done_end_io(struct bio *bio)
{
	struct gate *g = bio->bi_private;

	t_assert_eq(bio->bi_status, 0);
	gate_set(g, &g->done);
}

/*
 * With the completion thread of the lower device blocked, a write to the
 * wrapper stays in flight, so a cut and a mode switch must refuse.
 */
static void test_busy(struct bdev *lower)
{
	struct gate g = { .entered = false, .open = false, .done = false };
	uint32_t len = 16 * KiB;
	uint8_t *a = t_aligned_alloc(4096, len), *b = t_aligned_alloc(4096, len);
	struct bio *hold = bio_alloc(lower, 1, BIO_OP_READ, 0);
	struct bio *w;
	struct bdev *fd = start(lower, 150);

	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	t_assert(hold && bio_add(hold, a, len, NULL));
	hold->bi_end_io = gate_end_io;
	hold->bi_private = &g;
	bio_submit(hold);
	gate_wait(&g, &g.entered);

	w = bio_alloc(fd, 1, BIO_OP_WRITE, 0);
	pat_fill(b, len, 0, 1);
	t_assert(w && bio_add(w, b, len, NULL));
	w->bi_end_io = done_end_io;
	w->bi_private = &g;
	bio_submit(w);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), -EBUSY);
	t_assert_eq(bdev_fault_set_volatile(fd, false), -EBUSY);
	gate_set(&g, &g.open);
	gate_wait(&g, &g.done);
	t_assert(holds(fd, 0, len, 1));
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 150));
	bdev_close(fd);
	bio_put(w);
	bio_put(hold);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	free(a);
	free(b);
}

/* ---- A lower device that holds bios until the test releases them ---- */

/*
 * The "hold" engine, built on the internal engine interface: bios queue
 * up until hold_release() passes one on to a RAM device, which completes
 * it in the releasing thread.  In pass mode it forwards at once.  It
 * makes every interleaving of the wrapper's pipeline reproducible.
 */
struct hold_bdev {
	struct bdev bdev;
	struct bdev *ram;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the queue grew */
	bool pass; /* protected by lock */
	struct bio *q[64]; /* protected by lock */
	unsigned int n; /* protected by lock */
};

static struct hold_bdev *to_hold(struct bdev *bdev)
{
	return (struct hold_bdev *)((char *)bdev - offsetof(struct hold_bdev, bdev));
}

static void hold_forward(struct hold_bdev *h, struct bio *bio)
{
	h->ram->ops->submit(h->ram, bio);
}

static void hold_submit(struct bdev *bdev, struct bio *bio)
{
	struct hold_bdev *h = to_hold(bdev);

	pthread_mutex_lock(&h->lock);
	if (h->pass) {
		pthread_mutex_unlock(&h->lock);
		hold_forward(h, bio);
		return;
	}
	t_assert(h->n < 64);
	h->q[h->n++] = bio;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static int hold_flush(struct bdev *bdev)
{
	return 0;
}

static void hold_close(struct bdev *bdev)
{
	struct hold_bdev *h = to_hold(bdev);

	t_assert_eq(h->n, 0);
	bdev_close(h->ram);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static const struct bdev_ops hold_ops = {
	.submit = hold_submit,
	.flush = hold_flush,
	.close = hold_close,
};

static struct hold_bdev *hold_open(unsigned int lbs)
{
	struct hold_bdev *h = t_calloc(1, sizeof(*h));

	t_assert_eq(bdev_open_ram(DEV_BYTES, lbs, &h->ram), 0);
	bd_init(&h->bdev, &hold_ops, "hold", DEV_BYTES, lbs);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	h->pass = true;
	return h;
}

static void hold_set_pass(struct hold_bdev *h, bool pass)
{
	pthread_mutex_lock(&h->lock);
	h->pass = pass;
	pthread_mutex_unlock(&h->lock);
}

/* Wait until @n bios are held; returns the one at @idx. */
static struct bio *hold_wait(struct hold_bdev *h, unsigned int n, unsigned int idx)
{
	struct bio *bio;

	pthread_mutex_lock(&h->lock);
	while (h->n < n)
		pthread_cond_wait(&h->cond, &h->lock);
	bio = h->q[idx];
	pthread_mutex_unlock(&h->lock);
	return bio;
}

static unsigned int hold_count(struct hold_bdev *h)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->n;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* Pass held bio @idx on; it completes before this returns. */
static void hold_release(struct hold_bdev *h, unsigned int idx)
{
	struct bio *bio;

	pthread_mutex_lock(&h->lock);
	t_assert(idx < h->n);
	bio = h->q[idx];
	memmove(h->q + idx, h->q + idx + 1, (h->n - idx - 1) * sizeof(h->q[0]));
	h->n--;
	pthread_mutex_unlock(&h->lock);
	hold_forward(h, bio);
}

/* The one held bio must be @op over [off, off + len); release it. */
static void hold_expect(struct hold_bdev *h, enum bio_op op, uint64_t off, uint32_t len)
{
	struct bio *bio = hold_wait(h, 1, 0);

	t_assert_eq(hold_count(h), 1);
	t_assert_eq(bio->bi_op, op);
	t_assert_eq(bio->bi_sector, off >> SECTOR_SHIFT);
	t_assert_eq(bio->bi_size, len);
	hold_release(h, 0);
}

/* An asynchronous request and its outcome. */
struct areq {
	uint8_t *buf;
	int done; /* atomic: set after status */
	int status;
};

static void areq_end_io(struct bio *bio)
{
	struct areq *r = bio->bi_private;

	r->status = bio->bi_status;
	bio_put(bio);
	/* Publishes status to areq_done()'s acquire. */
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

static bool areq_done(struct areq *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);
}

static void areq_submit(struct areq *r, struct bdev *bd, enum bio_op op, uint64_t off,
			uint32_t len, uint64_t seed)
{
	struct bio *bio = bio_alloc(bd, len ? 1 : 0, op, 0);

	*r = (struct areq){ .buf = len ? t_aligned_alloc(4096, len) : NULL };
	t_assert(bio);
	if (len) {
		pat_fill(r->buf, len, off, seed);
		t_assert(bio_add(bio, r->buf, len, NULL));
	}
	bio->bi_sector = off >> SECTOR_SHIFT;
	bio->bi_end_io = areq_end_io;
	bio->bi_private = r;
	bio_submit(bio);
}

/* A wrapper on a hold device in pass mode, durable image @seed, volatile. */
static struct bdev *hold_start(struct hold_bdev *h, uint64_t seed)
{
	hold_set_pass(h, true);
	return start(&h->bdev, seed);
}

/*
 * Overlapping writes A and B and a separate C, submitted at once, run one
 * at a time in order: A's capture read, A's write, then B's, then C's.
 * Nothing of B reaches the device before A has completed.
 */
static void test_pipeline_order(struct hold_bdev *h)
{
	struct bdev *fd = hold_start(h, 300);
	uint32_t bl = 4 * KiB;
	struct areq a, b, c;

	hold_set_pass(h, false);
	areq_submit(&a, fd, BIO_OP_WRITE, 0, 2 * bl, 1);
	areq_submit(&b, fd, BIO_OP_WRITE, bl, 2 * bl, 2);
	areq_submit(&c, fd, BIO_OP_WRITE, 32 * bl, bl, 3);
	hold_expect(h, BIO_OP_READ, 0, 2 * bl);
	t_assert(!areq_done(&a));
	hold_expect(h, BIO_OP_WRITE, 0, 2 * bl);
	t_assert(areq_done(&a) && a.status == 0);
	hold_expect(h, BIO_OP_READ, bl, 2 * bl);
	hold_expect(h, BIO_OP_WRITE, bl, 2 * bl);
	hold_expect(h, BIO_OP_READ, 32 * bl, bl);
	hold_expect(h, BIO_OP_WRITE, 32 * bl, bl);
	t_assert(areq_done(&b) && areq_done(&c));
	t_assert_eq(hold_count(h), 0);
	hold_set_pass(h, true);
	t_assert(holds(fd, 0, bl, 1));
	t_assert(holds(fd, bl, 2 * bl, 2));
	t_assert_eq(fstats(fd).pending_writes, 3);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 300));
	bdev_close(fd);
	free(a.buf);
	free(b.buf);
	free(c.buf);
}

/*
 * A flush covers only the writes completed when it was submitted: one
 * that completes while the flush is in flight, even before the flush
 * completes, stays volatile.
 */
static void test_flush_inflight(struct hold_bdev *h)
{
	struct bdev *fd = hold_start(h, 310);
	struct areq a, f;

	hold_set_pass(h, false);
	areq_submit(&a, fd, BIO_OP_WRITE, 0, 8 * KiB, 1);
	hold_wait(h, 1, 0); /* A's capture */
	areq_submit(&f, fd, BIO_OP_FLUSH, 0, 0, 0);
	t_assert_eq(hold_wait(h, 2, 1)->bi_op, BIO_OP_FLUSH);
	hold_release(h, 0); /* capture; the flush moves to 0 */
	t_assert_eq(hold_wait(h, 2, 1)->bi_op, BIO_OP_WRITE);
	hold_release(h, 1);
	t_assert(areq_done(&a) && !areq_done(&f));
	hold_expect(h, BIO_OP_FLUSH, 0, 0);
	t_assert(areq_done(&f) && f.status == 0);
	t_assert_eq(fstats(fd).pending_writes, 1);
	hold_set_pass(h, true);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 310));

	/* Completed first, then flushed: durable. */
	t_assert_eq(put(fd, 0, 0, 8 * KiB, 2), 0);
	hold_set_pass(h, false);
	areq_submit(&f, fd, BIO_OP_FLUSH, 0, 0, 0);
	hold_expect(h, BIO_OP_FLUSH, 0, 0);
	t_assert(areq_done(&f) && f.status == 0);
	t_assert_eq(fstats(fd).pending_writes, 0);
	hold_set_pass(h, true);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, 8 * KiB, 2));
	bdev_close(fd);
	free(a.buf);
}

/* A write in flight: cuts and mode switches refuse; afterwards they work. */
static void test_busy_hold(struct hold_bdev *h)
{
	struct bdev *fd = hold_start(h, 320);
	struct areq a;

	hold_set_pass(h, false);
	areq_submit(&a, fd, BIO_OP_WRITE, 0, 4 * KiB, 1);
	hold_wait(h, 1, 0);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), -EBUSY);
	t_assert_eq(bdev_fault_set_volatile(fd, false), -EBUSY);
	hold_release(h, 0);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), -EBUSY);
	hold_expect(h, BIO_OP_WRITE, 0, 4 * KiB);
	t_assert(areq_done(&a));
	hold_set_pass(h, true);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 320));
	bdev_close(fd);
	free(a.buf);
}

struct cutter {
	struct bdev *fd;
	int ret;
};

static void *cutter_main(void *arg)
{
	struct cutter *c = arg;

	c->ret = bdev_fault_power_cut(c->fd, BDEV_FAULT_CUT_DROP_ALL, 0);
	return NULL;
}

/* While a cut runs (its rollback write held), the device refuses everything. */
static void test_cut_refuses(struct hold_bdev *h)
{
	struct cutter c = { .fd = hold_start(h, 330), .ret = 1 };
	struct areq r;
	pthread_t tid;

	t_assert_eq(put(c.fd, 0, 0, 4 * KiB, 1), 0);
	hold_set_pass(h, false);
	t_assert_eq(pthread_create(&tid, NULL, cutter_main, &c), 0);
	t_assert_eq(hold_wait(h, 1, 0)->bi_op, BIO_OP_WRITE);
	/* Refused at once: not held below (which would hang a synchronous call). */
	areq_submit(&r, c.fd, BIO_OP_READ, 0, 4 * KiB, 0);
	t_assert(areq_done(&r) && r.status == -EIO);
	free(r.buf);
	areq_submit(&r, c.fd, BIO_OP_WRITE, 0, 4 * KiB, 0);
	t_assert(areq_done(&r) && r.status == -EIO);
	free(r.buf);
	areq_submit(&r, c.fd, BIO_OP_FLUSH, 0, 0, 0);
	t_assert(areq_done(&r) && r.status == -EIO);
	t_assert_eq(bdev_flush(c.fd), -EIO);
	t_assert_eq(bdev_fault_power_cut(c.fd, BDEV_FAULT_CUT_DROP_ALL, 0), -EBUSY);
	t_assert_eq(bdev_fault_set_volatile(c.fd, false), -EBUSY);
	hold_release(h, 0);
	pthread_join(tid, NULL);
	t_assert_eq(c.ret, 0);
	hold_set_pass(h, true);
	t_assert(holds(c.fd, 0, DEV_BYTES, 330));
	t_assert_eq(fstats(c.fd).power_cuts, 1);
	bdev_close(c.fd);
}

struct closer {
	struct bdev *fd;
	int done; /* atomic */
};

static void *closer_main(void *arg)
{
	struct closer *c = arg;

	bdev_close(c->fd);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* bdev_close() on the wrapper waits for its writes and leaves the lower device. */
static void test_close_waits(struct hold_bdev *h)
{
	struct closer c = { .fd = hold_start(h, 340), .done = 0 };
	struct areq a, b;
	pthread_t tid;

	hold_set_pass(h, false);
	areq_submit(&a, c.fd, BIO_OP_WRITE, 0, 4 * KiB, 1);
	areq_submit(&b, c.fd, BIO_OP_WRITE, 0, 4 * KiB, 2);
	hold_wait(h, 1, 0);
	t_assert_eq(pthread_create(&tid, NULL, closer_main, &c), 0);
	usleep(20000);
	t_assert(!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE));
	for (int i = 0; i < 4; i++) {
		hold_wait(h, 1, 0);
		hold_release(h, 0);
	}
	pthread_join(tid, NULL);
	t_assert(areq_done(&a) && areq_done(&b));
	hold_set_pass(h, true);
	t_assert(holds(&h->bdev, 0, 4 * KiB, 2));
	free(a.buf);
	free(b.buf);
}

/*
 * Many writes queued behind one held capture, then let go on a
 * synchronous device: each write's end starts the next, and that must
 * not nest one call chain per write.  Optimised builds turn most of such
 * a chain into tail calls, so instead of waiting for a stack overflow the
 * test measures how far apart the completions' frames lie.
 */
#define DEEP_WRITES 20000
#define DEEP_MAX_SPREAD (64 * KiB)

struct deep {
	unsigned int left;
	uintptr_t lo, hi; /* frame addresses seen in bi_end_io */
};

static void deep_end_io(struct bio *bio)
{
	struct deep *d = bio->bi_private;
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);

	t_assert_eq(bio->bi_status, 0);
	bio_put(bio);
	d->left--;
	d->lo = d->lo ? min(d->lo, frame) : frame;
	d->hi = max(d->hi, frame);
}

static void test_deep_queue(struct hold_bdev *h)
{
	struct bdev *fd = hold_start(h, 350);
	unsigned int lbs = bdev_logical_block_size(fd);
	struct deep d = { .left = DEEP_WRITES, .lo = 0, .hi = 0 };
	uint8_t *buf = t_aligned_alloc(4096, lbs);

	pat_fill(buf, lbs, 0, 1);
	hold_set_pass(h, false);
	for (unsigned int i = 0; i < DEEP_WRITES; i++) {
		struct bio *bio = bio_alloc(fd, 1, BIO_OP_WRITE, 0);

		t_assert(bio && bio_add(bio, buf, lbs, NULL));
		bio->bi_sector = (uint64_t)(i % 64) * (lbs >> SECTOR_SHIFT);
		bio->bi_end_io = deep_end_io;
		bio->bi_private = &d;
		bio_submit(bio);
	}
	hold_set_pass(h, true);
	hold_release(h, 0);
	t_assert_eq(d.left, 0);
	if (d.hi - d.lo > DEEP_MAX_SPREAD)
		t_fail("completions nest: frames spread over %lu bytes", (unsigned long)(d.hi - d.lo));
	t_assert_eq(fstats(fd).pending_writes, DEEP_WRITES);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 350));
	bdev_close(fd);
	free(buf);
}

static void run_hold(void)
{
	struct hold_bdev *h = hold_open(512);

	test_pipeline_order(h);
	test_flush_inflight(h);
	test_busy_hold(h);
	test_cut_refuses(h);
	test_close_waits(h);
	test_deep_queue(h);
	bdev_close(&h->bdev);
}

/* ---- The model ---- */

struct mwrite {
	uint64_t off;
	uint32_t len;
	bool durable; /* BIO_FUA */
	uint8_t *data;
};

/*
 * What the device must show: base is the durable image, log the writes
 * since (the wrapper's undo log, FUA writes included), cur what reads see.
 */
struct model {
	struct bdev *fd;
	unsigned int lbs;
	bool volatile_on;
	uint8_t *base, *cur;
	struct mwrite *log;
	size_t nr, cap;
	uint64_t next_seed;
	/* The last operations, printed on failure. */
	char ring[64][96];
	unsigned int ops;
};

struct outcome {
	unsigned int kept, lost, torn;
};

static void m_note(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void m_note(struct model *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->ring[m->ops % 64], sizeof(m->ring[0]), fmt, ap);
	va_end(ap);
	m->ops++;
}

#define m_assert(m, cond)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			m_dump(m);                                       \
			t_fail("model check failed: %s", #cond);         \
		}                                                        \
	} while (0)

static void m_dump(const struct model *m)
{
	unsigned int first = m->ops > 64 ? m->ops - 64 : 0;

	fprintf(stderr, "last operations (lbs %u):\n", m->lbs);
	for (unsigned int i = first; i < m->ops; i++)
		fprintf(stderr, "  %u: %s\n", i, m->ring[i % 64]);
}

static void m_init(struct model *m, struct bdev *fd)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->lbs = bdev_logical_block_size(fd);
	m->base = read_all(fd);
	m->cur = t_malloc(DEV_BYTES);
	memcpy(m->cur, m->base, DEV_BYTES);
	m->next_seed = 1000;
}

static void m_clear_log(struct model *m)
{
	for (size_t i = 0; i < m->nr; i++)
		free(m->log[i].data);
	m->nr = 0;
}

static void m_destroy(struct model *m)
{
	m_clear_log(m);
	free(m->log);
	free(m->base);
	free(m->cur);
}

/* Everything so far is durable. */
static void m_durable(struct model *m)
{
	memcpy(m->base, m->cur, DEV_BYTES);
	m_clear_log(m);
}

static void m_write(struct model *m, uint64_t off, uint32_t len, unsigned int flags)
{
	uint64_t seed = m->next_seed++;
	struct mwrite *w;

	m_note(m, "write off %llu len %u flags %u seed %llu", (unsigned long long)off, len, flags,
	       (unsigned long long)seed);
	m_assert(m, put(m->fd, flags, off, len, seed) == 0);
	if (flags & BIO_PREFLUSH)
		m_durable(m); /* everything before this write */
	pat_fill(m->cur + off, len, off, seed);
	if (!m->volatile_on) {
		memcpy(m->base + off, m->cur + off, len);
		return;
	}
	if (m->nr == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 32;
		m->log = realloc(m->log, m->cap * sizeof(*m->log));
		t_assert(m->log);
	}
	w = &m->log[m->nr++];
	*w = (struct mwrite){ .off = off, .len = len, .durable = flags & BIO_FUA };
	w->data = t_malloc(len);
	memcpy(w->data, m->cur + off, len);
}

static void m_check(struct model *m)
{
	uint8_t *img = read_all(m->fd);

	m_note(m, "check");
	m_assert(m, memcmp(img, m->cur, DEV_BYTES) == 0);
	free(img);
}

/*
 * Work out from @img which writes of the log survived, newest first.  A
 * block is "decided" once a newer surviving write accounts for it.  Each
 * write's undecided blocks must show its data or not; without @torn all
 * or none of them.  Blocks left undecided must show the durable image.
 */
static struct outcome m_deduce(struct model *m, const uint8_t *img, bool torn)
{
	uint64_t nblocks = DEV_BYTES / m->lbs;
	bool *decided = t_calloc(nblocks, sizeof(bool));
	struct outcome out = { 0, 0, 0 };

	for (size_t i = m->nr; i-- > 0;) {
		const struct mwrite *w = &m->log[i];
		unsigned int open = 0, match = 0;

		for (uint64_t b = w->off / m->lbs; b < (w->off + w->len) / m->lbs; b++) {
			const uint8_t *want = w->data + (b * m->lbs - w->off);

			if (decided[b])
				continue;
			open++;
			if (memcmp(img + b * m->lbs, want, m->lbs) == 0) {
				match++;
				decided[b] = true;
			}
		}
		m_assert(m, !w->durable || match == open);
		m_assert(m, torn || match == 0 || match == open);
		if (w->durable || open == 0)
			continue;
		if (match == open)
			out.kept++;
		else if (match == 0)
			out.lost++;
		else
			out.torn++;
	}
	for (uint64_t b = 0; b < nblocks; b++)
		m_assert(m, decided[b] ||
				    memcmp(img + b * m->lbs, m->base + b * m->lbs, m->lbs) == 0);
	free(decided);
	return out;
}

/* DROP_ALL: the durable image with the durable writes on top, in order. */
static void m_expect_drop_all(struct model *m, const uint8_t *img)
{
	uint8_t *want = t_malloc(DEV_BYTES);

	memcpy(want, m->base, DEV_BYTES);
	for (size_t i = 0; i < m->nr; i++)
		if (m->log[i].durable)
			memcpy(want + m->log[i].off, m->log[i].data, m->log[i].len);
	m_assert(m, memcmp(img, want, DEV_BYTES) == 0);
	free(want);
}

static struct outcome m_cut(struct model *m, unsigned int mode, uint64_t seed)
{
	struct bdev_fault_stats before = fstats(m->fd), after;
	struct outcome out = { 0, 0, 0 };
	unsigned int nondurable = 0;
	uint8_t *img;

	m_note(m, "cut mode %u seed %llu (%zu logged)", mode, (unsigned long long)seed, m->nr);
	m_assert(m, bdev_fault_power_cut(m->fd, mode, seed) == 0);
	img = read_all(m->fd);
	if (mode == BDEV_FAULT_CUT_DROP_ALL)
		m_expect_drop_all(m, img);
	else
		out = m_deduce(m, img, mode & BDEV_FAULT_CUT_TORN);
	for (size_t i = 0; i < m->nr; i++)
		nondurable += !m->log[i].durable;
	after = fstats(m->fd);
	m_assert(m, after.power_cuts == before.power_cuts + 1);
	m_assert(m, after.writes_kept + after.writes_lost + after.writes_torn ==
			    before.writes_kept + before.writes_lost + before.writes_torn + nondurable);
	m_assert(m, after.pending_writes == 0);
	memcpy(m->cur, img, DEV_BYTES);
	m_durable(m);
	free(img);
	return out;
}

static void m_flush(struct model *m, bool as_bio)
{
	m_note(m, as_bio ? "flush bio" : "bdev_flush");
	m_assert(m, (as_bio ? flush_bio(m->fd) : bdev_flush(m->fd)) == 0);
	m_durable(m);
}

static void m_set_volatile(struct model *m, bool on)
{
	m_note(m, "volatile %d", on);
	m_assert(m, bdev_fault_set_volatile(m->fd, on) == 0);
	if (!on)
		m_durable(m);
	m->volatile_on = on;
}

static void m_random_write(struct model *m, struct t_rng *rng, unsigned int flags)
{
	uint64_t nblocks = DEV_BYTES / m->lbs;
	uint64_t len = 1 + t_rng_below(rng, MAX_WRITE_BLOCKS);
	uint64_t b = t_rng_below(rng, nblocks - len + 1);

	m_write(m, b * m->lbs, (uint32_t)(len * m->lbs), flags);
}

/* ---- Random cuts ---- */

/*
 * Per seed: a fresh image, a dozen overlapping writes (a few FUA), one
 * cut.  Without TORN every write must be kept or lost whole; across the
 * seeds both must happen, and with TORN torn writes too.
 */
static void test_random(struct bdev *lower, unsigned int mode, unsigned int rounds)
{
	struct outcome total = { 0, 0, 0 };
	struct model m;
	struct t_rng rng;
	struct bdev *fd = start(lower, 160);

	m_init(&m, fd);
	m_set_volatile(&m, true);
	t_rng_seed(&rng, 77);
	for (unsigned int round = 0; round < rounds; round++) {
		unsigned int n = 4 + (unsigned int)t_rng_below(&rng, 10);
		struct outcome o;

		for (unsigned int i = 0; i < n; i++)
			m_random_write(&m, &rng, t_rng_below(&rng, 8) == 0 ? BIO_FUA : 0);
		o = m_cut(&m, mode, round);
		total.kept += o.kept;
		total.lost += o.lost;
		total.torn += o.torn;
	}
	t_assert(total.kept > 0 && total.lost > 0);
	t_assert((total.torn > 0) == !!(mode & BDEV_FAULT_CUT_TORN));
	m_destroy(&m);
	bdev_close(fd);
}

/* The same log and seed give the same image. */
static void test_deterministic(struct bdev *lower)
{
	uint8_t *img[2];

	for (int run = 0; run < 2; run++) {
		struct bdev *fd = start(lower, 170);
		struct t_rng rng;

		t_rng_seed(&rng, 5);
		for (unsigned int i = 0; i < 20; i++) {
			uint64_t off = t_rng_below(&rng, DEV_BYTES / KiB - 8) * KiB;

			t_assert_eq(put(fd, 0, off & ~4095ULL, 8 * KiB, i), 0);
		}
		t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN, 1234),
			    0);
		img[run] = read_all(fd);
		bdev_close(fd);
	}
	t_assert(memcmp(img[0], img[1], DEV_BYTES) == 0);
	free(img[0]);
	free(img[1]);
}

/* ---- The exerciser ---- */

static unsigned int random_mode(struct t_rng *rng)
{
	static const unsigned int modes[] = {
		BDEV_FAULT_CUT_DROP_ALL,
		BDEV_FAULT_CUT_RANDOM,
		BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN,
	};

	return modes[t_rng_below(rng, 3)];
}

static void m_step(struct model *m, struct t_rng *rng)
{
	static const unsigned int wflags[] = { 0, 0, 0, 0, 0, BIO_FUA, BIO_PREFLUSH,
					       BIO_FUA | BIO_PREFLUSH };
	uint64_t r = t_rng_below(rng, 100);

	if (r < 55)
		m_random_write(m, rng, wflags[t_rng_below(rng, 8)]);
	else if (r < 60)
		m_flush(m, true);
	else if (r < 64)
		m_flush(m, false);
	else if (r < 80)
		m_check(m);
	else if (r < 97)
		m_cut(m, random_mode(rng), t_rng_next(rng));
	else
		m_set_volatile(m, !m->volatile_on);
}

static void test_exercise(struct bdev *lower, uint64_t seed, unsigned int steps)
{
	struct bdev *fd = start(lower, 180);
	struct model m;
	struct t_rng rng;

	m_init(&m, fd);
	m_set_volatile(&m, true);
	t_rng_seed(&rng, seed);
	m_note(&m, "seed %llu", (unsigned long long)seed);
	for (unsigned int i = 0; i < steps; i++)
		m_step(&m, &rng);
	m_check(&m);
	m_cut(&m, BDEV_FAULT_CUT_DROP_ALL, 0);
	m_destroy(&m);
	bdev_close(fd);
}

/* ---- Threads ---- */

struct twrite {
	uint64_t off;
	uint32_t len;
	uint64_t seed;
};

struct tworker {
	pthread_t tid;
	struct bdev *fd;
	unsigned int index;
	struct twrite done[THREAD_WRITES];
};

static void *tworker_main(void *arg)
{
	struct tworker *w = arg;
	unsigned int lbs = bdev_logical_block_size(w->fd);
	struct t_rng rng;

	t_rng_seed(&rng, 1 + w->index);
	for (unsigned int i = 0; i < THREAD_WRITES; i++) {
		uint64_t len = 1 + t_rng_below(&rng, 8);
		uint64_t b = t_rng_below(&rng, HOT_BLOCKS - len + 1);
		struct twrite *t = &w->done[i];

		*t = (struct twrite){ b * lbs, (uint32_t)(len * lbs), 10000 * (w->index + 1) + i };
		t_assert_eq(put(w->fd, 0, t->off, t->len, t->seed), 0);
	}
	return NULL;
}

static void run_threads(struct bdev *fd, struct tworker *w)
{
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i].fd = fd;
		w[i].index = i;
		t_assert_eq(pthread_create(&w[i].tid, NULL, tworker_main, &w[i]), 0);
	}
	for (unsigned int i = 0; i < NTHREADS; i++)
		pthread_join(w[i].tid, NULL);
}

/* Is block @b of @img the image before or the data of a write covering it? */
static bool block_explained(const struct tworker *w, const uint8_t *img, uint64_t off,
			    unsigned int lbs)
{
	if (pat_check(img + off, lbs, off, 190))
		return true;
	for (unsigned int i = 0; i < NTHREADS; i++) {
		for (unsigned int j = 0; j < THREAD_WRITES; j++) {
			const struct twrite *t = &w[i].done[j];

			if (off >= t->off && off < t->off + t->len &&
			    pat_check(img + off, lbs, off, t->seed))
				return true;
		}
	}
	return false;
}

/*
 * Overlapping writes from 8 threads at once.  DROP_ALL must restore the
 * image exactly: any capture that raced with another write would restore
 * that write's data instead.
 */
static void test_threads(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	struct tworker *w = t_calloc(NTHREADS, sizeof(*w));
	struct bdev *fd = start(lower, 190);
	uint8_t *img, *now;

	run_threads(fd, w);
	t_assert_eq(fstats(fd).pending_writes, NTHREADS * THREAD_WRITES);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	t_assert(holds(fd, 0, DEV_BYTES, 190));

	run_threads(fd, w);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN, 3), 0);
	img = read_all(fd);
	for (uint64_t off = 0; off < DEV_BYTES; off += lbs)
		t_assert(block_explained(w, img, off, lbs));
	free(img);

	/* After a flush nothing is lost. */
	run_threads(fd, w);
	t_assert_eq(bdev_flush(fd), 0);
	img = read_all(fd);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL, 0), 0);
	now = read_all(fd);
	t_assert(memcmp(img, now, DEV_BYTES) == 0);
	free(now);
	free(img);
	bdev_close(fd);
	free(w);
}

struct racer {
	struct bdev *fd;
	bool stop; /* atomic */
	unsigned long writes; /* atomic */
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	uint8_t *buf = t_aligned_alloc(4096, 4 * KiB);

	pat_fill(buf, 4 * KiB, 0, 7);
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		int ret = rw(r->fd, BIO_OP_WRITE, 0, 0, buf, 4 * KiB);

		t_assert(ret == 0 || ret == -EIO);
		__atomic_fetch_add(&r->writes, 1, __ATOMIC_RELAXED);
		usleep(20); /* leave gaps for the cuts */
	}
	free(buf);
	return NULL;
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Cuts racing with a writer: a cut either runs or is refused with -EBUSY,
 * and the writer sees only success or -EIO.  Runs until both sides have
 * made progress; gives up after 60 seconds.
 */
static void test_race(struct bdev *lower)
{
	struct racer r = { .fd = start(lower, 200), .stop = false, .writes = 0 };
	double deadline = now_sec() + 60;
	unsigned int cuts = 0;
	pthread_t tid;

	t_assert_eq(pthread_create(&tid, NULL, racer_main, &r), 0);
	for (uint64_t i = 0; cuts < 50 || __atomic_load_n(&r.writes, __ATOMIC_RELAXED) < 50; i++) {
		int ret = bdev_fault_power_cut(r.fd, BDEV_FAULT_CUT_RANDOM, i);

		t_assert(ret == 0 || ret == -EBUSY);
		cuts += ret == 0;
		sched_yield(); /* valgrind runs one thread at a time */
		if (now_sec() > deadline)
			t_fail("no progress: %u cuts, %lu writes", cuts, r.writes);
	}
	__atomic_store_n(&r.stop, true, __ATOMIC_RELAXED);
	pthread_join(tid, NULL);
	bdev_close(r.fd);
}

/* ---- Main ---- */

/*
 * Everything on one lower device.  A file device pays an fdatasync() per
 * cut and flush, so it runs a shorter share (@div) of the random tests.
 */
static void run_all(struct bdev *lower, bool uring, unsigned int div)
{
	test_basic(lower);
	test_fua(lower);
	test_preflush(lower);
	test_volatile_off(lower);
	test_failures(lower);
	if (uring)
		test_busy(lower);
	test_random(lower, BDEV_FAULT_CUT_RANDOM, RANDOM_ROUNDS / div);
	test_random(lower, BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN, RANDOM_ROUNDS / div);
	test_deterministic(lower);
	test_exercise(lower, opt_seed, opt_steps / div);
	test_threads(lower);
	test_race(lower);
}

static void cleanup(void)
{
	unlink(devpath);
	rmdir(tmpdir);
}

static void run_file(unsigned int lbs)
{
	struct bdev_open_opts o = {
		.flags = BDEV_O_CREATE, .logical_block_size = lbs, .size = DEV_BYTES,
	};
	const char *base = getenv("TMPDIR");
	struct bdev *lower;
	bool uring;

	snprintf(tmpdir, sizeof(tmpdir), "%s/bdev-powercut-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		t_fail("mkdtemp %s", tmpdir);
	snprintf(devpath, sizeof(devpath), "%s/dev", tmpdir);
	atexit(cleanup);
	t_assert_eq(bdev_open(devpath, &o, &lower), 0);
	uring = strcmp(bdev_engine_name(lower), "io_uring") == 0;
	if (!uring)
		fprintf(stderr, "note: io_uring unavailable, busy test skipped\n");
	run_all(lower, uring, 5);
	bdev_close(lower);
}

static void parse_args(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "s:n:")) != -1) {
		if (c == 's')
			opt_seed = strtoull(optarg, NULL, 0);
		else if (c == 'n')
			opt_steps = (unsigned int)strtoul(optarg, NULL, 0);
		else
			t_fail("usage: %s [-s seed] [-n steps]", argv[0]);
	}
}

int main(int argc, char **argv)
{
	static const unsigned int sizes[] = { 512, 4096 };
	struct bdev *ram;

	parse_args(argc, argv);
	run_hold();
	for (size_t i = 0; i < 2; i++) {
		t_assert_eq(bdev_open_ram(DEV_BYTES, sizes[i], &ram), 0);
		run_all(ram, false, 1);
		bdev_close(ram);
	}
	run_file(4096);
	return T_EXIT_PASS;
}
