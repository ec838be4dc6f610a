/* SPDX-License-Identifier: MIT */
/*
 * Test many threads driving one device at once, on every engine:
 *  - 8 threads each keep 64 asynchronous bios in flight on their own region
 *    (far more than the queue depth of 1, 4 or 128), writes of two
 *    segments with random BIO_FUA / BIO_PREFLUSH, then reads, and verify
 *    their own data, mixing in flush bios and bdev_flush() calls;
 *  - a chain whose bi_end_io submits the next bio, which on io_uring runs
 *    in the completion thread while the ring is full (with queue depth 1 it
 *    always is: the completing request still holds the only slot);
 *  - the counters add up to exactly what the threads did, with no errors;
 *  - bdev_close() with bios still in flight waits for all of them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define KiB 1024U
#define MiB (1024U * KiB)
#define NTHREADS 8
#define SLOTS 64 /* bios in flight per thread */
#define SLOT_BYTES (16 * KiB)
#define ROUNDS 4
#define REGION_BYTES ((uint64_t)SLOTS * SLOT_BYTES)
#define CHAIN_BASE (NTHREADS * REGION_BYTES)
#define CHAIN_LEN 256
#define DEV_BYTES (CHAIN_BASE + 2 * MiB)

/* Completions of a batch: bi_end_io counts down, the submitter waits. */
struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
	int errors;
};

static void batch_init(struct batch *b)
{
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	b->pending = 0;
	b->errors = 0;
}

static void batch_destroy(struct batch *b)
{
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

static void batch_add(struct batch *b)
{
	pthread_mutex_lock(&b->lock);
	b->pending++;
	pthread_mutex_unlock(&b->lock);
}

static void batch_done(struct batch *b, int status)
{
	pthread_mutex_lock(&b->lock);
	if (status)
		b->errors++;
	if (--b->pending == 0)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void batch_wait(struct batch *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->pending)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
	if (b->errors)
		t_fail("%d bios failed", b->errors);
}

static void batch_end_io(struct bio *bio)
{
	struct batch *b = bio->bi_private;
	int status = bio->bi_status;

	bio_put(bio);
	batch_done(b, status);
}

/* What a worker did, for the counters. */
struct tally {
	uint64_t reads, writes, bytes_read, bytes_written, flushes, fua;
};

struct worker {
	pthread_t thread;
	struct bdev *bd;
	int id;
	struct batch batch;
	struct tally tally;
	uint8_t *buf[SLOTS];
	uint32_t len[SLOTS];
};

static uint64_t slot_pos(const struct worker *w, int slot)
{
	return (uint64_t)w->id * REGION_BYTES + (uint64_t)slot * SLOT_BYTES;
}

static void submit_async(struct worker *w, struct bio *bio)
{
	bio->bi_end_io = batch_end_io;
	bio->bi_private = &w->batch;
	batch_add(&w->batch);
	bio_submit(bio);
}

/* Two segments, so that vectors are exercised; cut at 4 KiB. */
static void submit_slot(struct worker *w, int slot, enum bio_op op, unsigned int flags)
{
	struct bio *bio = bio_alloc(w->bd, 2, op, flags);
	uint32_t len = w->len[slot];

	t_assert(bio);
	t_assert(bio_add(bio, w->buf[slot], 4 * KiB, (void *)1));
	if (len > 4 * KiB)
		t_assert(bio_add(bio, w->buf[slot] + 4 * KiB, len - 4 * KiB, (void *)2));
	bio->bi_sector = slot_pos(w, slot) >> SECTOR_SHIFT;
	submit_async(w, bio);
}

static unsigned int pick_flags(struct t_rng *rng, struct tally *t)
{
	unsigned int flags = 0;

	if (t_rng_below(rng, 16) == 0) {
		flags |= BIO_FUA;
		t->fua++;
	}
	if (t_rng_below(rng, 16) == 0) {
		flags |= BIO_PREFLUSH;
		t->flushes++;
	}
	return flags;
}

/* Now and then a flush: as an asynchronous bio, or bdev_flush(). */
static void maybe_flush(struct worker *w, struct t_rng *rng)
{
	uint64_t r = t_rng_below(rng, 32);

	if (r == 0) {
		submit_async(w, bio_alloc(w->bd, 0, BIO_OP_FLUSH, 0));
		w->tally.flushes++;
	} else if (r == 1) {
		t_assert_eq(bdev_flush(w->bd), 0);
		w->tally.flushes++;
	}
}

static void worker_round(struct worker *w, struct t_rng *rng, int round)
{
	uint64_t seed = (uint64_t)w->id << 32 | (uint64_t)round;

	for (int s = 0; s < SLOTS; s++) {
		w->len[s] = 4 * KiB * (1 + (uint32_t)t_rng_below(rng, 4));
		t_fill_pattern(w->buf[s], w->len[s], slot_pos(w, s), seed);
		submit_slot(w, s, BIO_OP_WRITE, pick_flags(rng, &w->tally));
		w->tally.writes++;
		w->tally.bytes_written += w->len[s];
		maybe_flush(w, rng);
	}
	batch_wait(&w->batch);
	for (int s = 0; s < SLOTS; s++) {
		memset(w->buf[s], 0, w->len[s]);
		submit_slot(w, s, BIO_OP_READ, 0);
		w->tally.reads++;
		w->tally.bytes_read += w->len[s];
	}
	batch_wait(&w->batch);
	for (int s = 0; s < SLOTS; s++)
		if (t_check_pattern(w->buf[s], w->len[s], slot_pos(w, s), seed) != -1)
			t_fail("thread %d round %d slot %d: data mismatch", w->id, round, s);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct t_rng rng;

	t_rng_seed(&rng, 1000 + (uint64_t)w->id);
	for (int r = 0; r < ROUNDS; r++)
		worker_round(w, &rng, r);
	return NULL;
}

/*
 * The chain: each completion submits the next block's write from inside
 * bi_end_io, until CHAIN_LEN blocks are written.
 */
struct chain {
	struct bdev *bd;
	struct batch batch;
	uint8_t *data; /* CHAIN_LEN blocks */
	uint32_t lbs;
	int next;
};

static void chain_submit(struct chain *c);

static void chain_end_io(struct bio *bio)
{
	struct chain *c = bio->bi_private;
	int status = bio->bi_status;

	bio_put(bio);
	if (status == 0 && c->next < CHAIN_LEN)
		chain_submit(c);
	batch_done(&c->batch, status);
}

static void chain_submit(struct chain *c)
{
	struct bio *bio = bio_alloc(c->bd, 1, BIO_OP_WRITE, 0);
	uint64_t pos = CHAIN_BASE + (uint64_t)c->next * c->lbs;

	t_assert(bio_add(bio, c->data + (size_t)c->next * c->lbs, c->lbs, NULL));
	bio->bi_sector = pos >> SECTOR_SHIFT;
	bio->bi_end_io = chain_end_io;
	bio->bi_private = c;
	c->next++;
	batch_add(&c->batch);
	bio_submit(bio);
}

static void chain_check(struct chain *c)
{
	uint32_t len = CHAIN_LEN * c->lbs;
	uint8_t *back = t_aligned_alloc(4096, len);
	struct bio *bio = bio_alloc(c->bd, 1, BIO_OP_READ, 0);

	t_assert(bio_add(bio, back, len, NULL));
	bio->bi_sector = CHAIN_BASE >> SECTOR_SHIFT;
	t_assert_eq(bio_submit_wait(bio), 0);
	t_assert(memcmp(back, c->data, len) == 0);
	bio_put(bio);
	free(back);
}

static void check_stats(struct bdev *bd, const struct worker *w, const struct chain *c)
{
	struct tally sum = { 0 };
	struct bdev_stats st;

	for (int i = 0; i < NTHREADS; i++) {
		sum.reads += w[i].tally.reads;
		sum.writes += w[i].tally.writes;
		sum.bytes_read += w[i].tally.bytes_read;
		sum.bytes_written += w[i].tally.bytes_written;
		sum.flushes += w[i].tally.flushes;
		sum.fua += w[i].tally.fua;
	}
	bdev_get_stats(bd, &st);
	t_assert_eq(st.bios_read, sum.reads + 1);
	t_assert_eq(st.bytes_read, sum.bytes_read + CHAIN_LEN * c->lbs);
	t_assert_eq(st.bios_written, sum.writes + CHAIN_LEN);
	t_assert_eq(st.bytes_written, sum.bytes_written + CHAIN_LEN * c->lbs);
	t_assert_eq(st.flushes, sum.flushes);
	t_assert_eq(st.fua_writes, sum.fua);
	t_assert_eq(st.errors, 0);
}

/* Workers and the chain at once; then verify everything. */
static void run_load(struct bdev *bd)
{
	struct worker *w = t_calloc(NTHREADS, sizeof(*w));
	struct chain c = { .bd = bd, .lbs = bdev_logical_block_size(bd) };

	c.data = t_aligned_alloc(4096, CHAIN_LEN * c.lbs);
	t_fill_pattern(c.data, CHAIN_LEN * c.lbs, CHAIN_BASE, 77);
	batch_init(&c.batch);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].bd = bd;
		w[i].id = i;
		batch_init(&w[i].batch);
		for (int s = 0; s < SLOTS; s++)
			w[i].buf[s] = t_aligned_alloc(4096, SLOT_BYTES);
		t_assert_eq(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	}
	chain_submit(&c);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(w[i].thread, NULL);
	batch_wait(&c.batch);
	t_assert_eq(c.next, CHAIN_LEN);
	chain_check(&c);
	check_stats(bd, w, &c);

	for (int i = 0; i < NTHREADS; i++) {
		for (int s = 0; s < SLOTS; s++)
			free(w[i].buf[s]);
		batch_destroy(&w[i].batch);
	}
	batch_destroy(&c.batch);
	free(c.data);
	free(w);
}

struct close_count {
	pthread_mutex_t lock; /* end_io may run in another thread */
	int done;
};

static void close_end_io(struct bio *bio)
{
	struct close_count *cc = bio->bi_private;

	t_assert_eq(bio->bi_status, 0);
	bio_put(bio);
	pthread_mutex_lock(&cc->lock);
	cc->done++;
	pthread_mutex_unlock(&cc->lock);
}

/* bdev_close() right after submitting: every bi_end_io has run when it returns. */
static void close_in_flight(struct bdev *bd)
{
	struct close_count cc = { .done = 0 };
	uint8_t *buf = t_aligned_alloc(4096, 200 * 4096);

	pthread_mutex_init(&cc.lock, NULL);
	for (int i = 0; i < 200; i++) {
		struct bio *bio = bio_alloc(bd, 1, BIO_OP_READ, 0);

		t_assert(bio_add(bio, buf + i * 4096, 4096, NULL));
		bio->bi_sector = (uint64_t)i * 8;
		bio->bi_end_io = close_end_io;
		bio->bi_private = &cc;
		bio_submit(bio);
	}
	bdev_close(bd);
	t_assert_eq(cc.done, 200);
	pthread_mutex_destroy(&cc.lock);
	free(buf);
}

static char tmpdir[256];
static char path[512];

/* Also on failure: t_fail() exits. */
static void remove_tmp(void)
{
	unlink(path);
	rmdir(tmpdir);
}

static void run_file(unsigned int flags, unsigned int lbs, unsigned int qd)
{
	struct bdev_open_opts opts = { .flags = flags | BDEV_O_CREATE,
				       .logical_block_size = lbs,
				       .size = DEV_BYTES,
				       .queue_depth = qd };
	struct bdev *bd;

	snprintf(path, sizeof(path), "%s/dev", tmpdir);
	t_assert_eq(bdev_open(path, &opts, &bd), 0);
	printf("file: flags %#x lbs %u qd %u engine %s direct %d\n", flags, lbs, qd,
	       bdev_engine_name(bd), bdev_is_direct(bd));
	run_load(bd);
	close_in_flight(bd);
	unlink(path);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	struct bdev *bd;

	t_assert_eq(bdev_open_ram(DEV_BYTES, 512, &bd), 0);
	run_load(bd);
	close_in_flight(bd);

	snprintf(tmpdir, sizeof(tmpdir), "%s/bdev-conc-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		t_fail("mkdtemp: %s", strerror(errno));
	atexit(remove_tmp);
	run_file(BDEV_O_NO_URING, 4096, 0);
	run_file(BDEV_O_DIRECT, 4096, 1);
	run_file(0, 512, 4);
	run_file(BDEV_O_DIRECT, 4096, 0);
	return T_EXIT_PASS;
}
