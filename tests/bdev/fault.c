/* SPDX-License-Identifier: MIT */
/*
 * Test the error rules of the fault device (iomap/bdev-fault.h), over a
 * RAM device and over a file device (io_uring engine, or sync where the
 * kernel refuses io_uring), at logical block sizes 512 and 4096:
 *  - bdev_fault_create() and rule validation errors; the fault functions
 *    refuse devices that are not fault devices;
 *  - the wrapper mirrors the lower device (size, block size, directness),
 *    is named "fault", passes data through both ways, and closing it
 *    leaves the lower device open and working;
 *  - rules by sector range (overlap at either edge, adjacent ranges not
 *    matched), by direction, with skip and count, count 0 for ever, a
 *    custom errno; rules consulted in order, the first that fires wins;
 *  - flush rules fail flush bios, bdev_flush() and BIO_PREFLUSH writes;
 *  - a failed write leaves the lower device unchanged; a failed read
 *    leaves the caller's buffer untouched;
 *  - counters: the fault device's injected count, the wrapper's bdev
 *    counters (errors included), the lower device seeing only what passed;
 *  - clearing rules;
 *  - 8 threads with asynchronous bios against one rule: exactly the
 *    rule's count fail; bdev_close() waits for bios in flight.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "iomap/bdev-fault.h"
#include "iomap/bdev.h"
#include "iomap/bio.h"

#define KiB 1024U
#define MiB (1024U * KiB)
#define DEV_BYTES (4 * MiB)
#define NTHREADS 8
#define PER_THREAD 64

static char tmpdir[256];
static char devpath[512];

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

/* One synchronous request on a single buffer; returns bi_status. */
static int rw(struct bdev *bd, enum bio_op op, unsigned int flags, uint64_t sector, void *buf,
	      uint32_t len)
{
	struct bio *bio = bio_alloc(bd, 1, op, flags);
	int ret;

	t_assert(bio);
	t_assert(bio_add(bio, buf, len, NULL));
	bio->bi_sector = sector;
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

/* Write the pattern of @seed at @sector, expecting @want. */
static void write_pat(struct bdev *bd, uint64_t sector, uint32_t len, uint64_t seed, int want)
{
	uint8_t *buf = t_aligned_alloc(4096, len);

	pat_fill(buf, len, sector << SECTOR_SHIFT, seed);
	t_assert_eq(rw(bd, BIO_OP_WRITE, 0, sector, buf, len), want);
	free(buf);
}

/* Does the device hold the pattern of @seed at @sector? */
static bool holds_pat(struct bdev *bd, uint64_t sector, uint32_t len, uint64_t seed)
{
	uint8_t *buf = t_aligned_alloc(4096, len);
	bool ok;

	t_assert_eq(rw(bd, BIO_OP_READ, 0, sector, buf, len), 0);
	ok = pat_check(buf, len, sector << SECTOR_SHIFT, seed);
	free(buf);
	return ok;
}

static struct bdev *wrap(struct bdev *lower)
{
	struct bdev *fd = NULL;

	t_assert_eq(bdev_fault_create(lower, &fd), 0);
	t_assert(fd);
	return fd;
}

static void add_rule(struct bdev *fd, unsigned int ops, uint64_t first, uint64_t nr,
		     uint64_t skip, uint64_t count, int error)
{
	struct bdev_fault_rule r = {
		.ops = ops, .first_sector = first, .nr_sectors = nr,
		.skip = skip, .count = count, .error = error,
	};

	t_assert_eq(bdev_fault_add_rule(fd, &r), 0);
}

static uint64_t injected(struct bdev *fd)
{
	struct bdev_fault_stats st;

	t_assert_eq(bdev_fault_get_stats(fd, &st), 0);
	return st.injected;
}

static void test_api_errors(void)
{
	struct bdev_fault_rule ok = { .ops = BDEV_FAULT_OP_READ, .nr_sectors = 1, .error = -EIO };
	struct bdev_fault_rule bad;
	struct bdev_fault_stats st;
	struct bdev *ram, *fd = NULL;

	t_assert_eq(bdev_open_ram(MiB, 512, &ram), 0);
	t_assert_eq(bdev_fault_create(NULL, &fd), -EINVAL);
	t_assert_eq(bdev_fault_create(ram, NULL), -EINVAL);
	t_assert(fd == NULL);
	/* Not a fault device. */
	t_assert_eq(bdev_fault_add_rule(ram, &ok), -EINVAL);
	t_assert_eq(bdev_fault_clear_rules(ram), -EINVAL);
	t_assert_eq(bdev_fault_set_volatile(ram, true), -EINVAL);
	t_assert_eq(bdev_fault_power_cut(ram, BDEV_FAULT_CUT_DROP_ALL, 0), -EINVAL);
	t_assert_eq(bdev_fault_get_stats(ram, &st), -EINVAL);
	t_assert_eq(bdev_fault_add_rule(NULL, &ok), -EINVAL);

	fd = wrap(ram);
	t_assert_eq(bdev_fault_add_rule(fd, NULL), -EINVAL);
	bad = ok, bad.ops = 0;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	bad = ok, bad.ops = 1U << 3;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	bad = ok, bad.error = 0;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	bad = ok, bad.error = EIO;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	bad = ok, bad.error = -5000;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	bad = ok, bad.nr_sectors = 0;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), -EINVAL);
	/* A flush-only rule needs no range. */
	bad = ok, bad.ops = BDEV_FAULT_OP_FLUSH, bad.nr_sectors = 0;
	t_assert_eq(bdev_fault_add_rule(fd, &bad), 0);
	t_assert_eq(bdev_fault_add_rule(fd, &ok), 0);
	t_assert_eq(bdev_fault_clear_rules(fd), 0);
	t_assert_eq(bdev_fault_get_stats(fd, NULL), -EINVAL);
	t_assert_eq(bdev_fault_power_cut(fd, 0, 0), -EINVAL);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_TORN, 0), -EINVAL);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL | BDEV_FAULT_CUT_RANDOM, 0),
		    -EINVAL);
	t_assert_eq(bdev_fault_power_cut(fd, BDEV_FAULT_CUT_DROP_ALL | BDEV_FAULT_CUT_TORN, 0),
		    -EINVAL);
	bdev_close(fd);
	bdev_close(ram);
}

/* The wrapper looks like its lower device and moves data both ways. */
static void test_passthrough(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint64_t sec = 3 * (lbs >> SECTOR_SHIFT);
	struct bdev *fd = wrap(lower);

	t_assert_eq(bdev_nr_bytes(fd), bdev_nr_bytes(lower));
	t_assert_eq(bdev_logical_block_size(fd), lbs);
	t_assert_eq(bdev_is_direct(fd), bdev_is_direct(lower));
	t_assert(strcmp(bdev_engine_name(fd), "fault") == 0);

	write_pat(fd, sec, 8 * lbs, 11, 0);
	t_assert(holds_pat(lower, sec, 8 * lbs, 11));
	write_pat(lower, sec, 4 * lbs, 12, 0);
	t_assert(holds_pat(fd, sec, 4 * lbs, 12));
	t_assert_eq(flush_bio(fd), 0);
	t_assert_eq(bdev_flush(fd), 0);
	/* The usual refusals come from the wrapper's own checks. */
	write_pat(fd, bdev_nr_bytes(fd) >> SECTOR_SHIFT, lbs, 1, -EIO);
	if (lbs > 512)
		write_pat(fd, 1, lbs, 1, -EINVAL);
	bdev_close(fd);
	/* Closing the wrapper left the lower device alone. */
	t_assert(holds_pat(lower, sec, 4 * lbs, 12));
}

/* A write rule on [first, first + nr): overlap at either edge, not adjacency. */
static void test_range(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint64_t bs = lbs >> SECTOR_SHIFT; /* sectors per block */
	uint64_t first = 16 * bs, nr = 8 * bs;
	struct bdev *fd = wrap(lower);

	write_pat(lower, 0, 64 * lbs, 20, 0);
	add_rule(fd, BDEV_FAULT_OP_WRITE, first, nr, 0, 0, -EIO);
	write_pat(fd, first - 4 * bs, 4 * lbs, 21, 0); /* ends at first */
	write_pat(fd, first + nr, 4 * lbs, 21, 0); /* starts at the end */
	write_pat(fd, first - 4 * bs, 5 * lbs, 22, -EIO); /* last block inside */
	write_pat(fd, first + nr - bs, 4 * lbs, 22, -EIO); /* first block inside */
	write_pat(fd, first + bs, lbs, 22, -EIO); /* wholly inside */
	write_pat(fd, 0, 64 * lbs, 22, -EIO); /* covers it */
	t_assert_eq(injected(fd), 4);
	/* The failed writes did not reach the lower device. */
	t_assert(holds_pat(lower, first - 4 * bs, 4 * lbs, 21));
	t_assert(holds_pat(lower, first, nr * SECTOR_SIZE, 20));
	t_assert(holds_pat(lower, first + nr, 4 * lbs, 21));
	/* Reads are another direction. */
	t_assert(holds_pat(fd, first, nr * SECTOR_SIZE, 20));
	t_assert_eq(bdev_fault_clear_rules(fd), 0);
	write_pat(fd, 0, 64 * lbs, 23, 0);
	t_assert(holds_pat(lower, 0, 64 * lbs, 23));
	bdev_close(fd);
}

/* A failed read leaves the buffer exactly as it was. */
static void test_read_untouched(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint32_t len = 16 * lbs;
	uint8_t *buf = t_aligned_alloc(4096, len), *copy = t_malloc(len);
	struct bdev *fd = wrap(lower);

	write_pat(lower, 0, len, 30, 0);
	add_rule(fd, BDEV_FAULT_OP_READ, 0, UINT64_MAX, 0, 0, -ENODATA);
	pat_fill(buf, len, 0, 31);
	memcpy(copy, buf, len);
	t_assert_eq(rw(fd, BIO_OP_READ, 0, 0, buf, len), -ENODATA);
	t_assert(memcmp(buf, copy, len) == 0);
	/* Writes pass a read rule. */
	write_pat(fd, 0, len, 32, 0);
	t_assert(holds_pat(lower, 0, len, 32));
	bdev_close(fd);
	free(copy);
	free(buf);
}

/* skip 2, count 3: bios 3..5 fail; count 0: everything after skip fails. */
static void test_skip_count(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint8_t *buf = t_aligned_alloc(4096, lbs);
	struct bdev *fd = wrap(lower);

	add_rule(fd, BDEV_FAULT_OP_READ | BDEV_FAULT_OP_WRITE, 0, UINT64_MAX, 2, 3, -EIO);
	for (int i = 1; i <= 10; i++) {
		enum bio_op op = (i & 1) ? BIO_OP_READ : BIO_OP_WRITE;
		int want = (i >= 3 && i <= 5) ? -EIO : 0;

		t_assert_eq(rw(fd, op, 0, 0, buf, lbs), want);
	}
	t_assert_eq(injected(fd), 3);
	t_assert_eq(bdev_fault_clear_rules(fd), 0);
	add_rule(fd, BDEV_FAULT_OP_READ, 0, UINT64_MAX, 1, 0, -EIO);
	t_assert_eq(rw(fd, BIO_OP_READ, 0, 0, buf, lbs), 0);
	for (int i = 0; i < 20; i++)
		t_assert_eq(rw(fd, BIO_OP_READ, 0, 0, buf, lbs), -EIO);
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), 0);
	t_assert_eq(injected(fd), 23);
	bdev_close(fd);
	free(buf);
}

/*
 * Rules in order: the first that fires fails the bio with its error, and a
 * later rule does not count that bio.
 */
static void test_rule_order(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint8_t *buf = t_aligned_alloc(4096, lbs);
	struct bdev *fd = wrap(lower);

	add_rule(fd, BDEV_FAULT_OP_WRITE, 0, UINT64_MAX, 1, 1, -ENOSPC);
	add_rule(fd, BDEV_FAULT_OP_WRITE, 0, UINT64_MAX, 1, 1, -EROFS);
	/* 1: both count it, neither fires.  2: the first fires. */
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), 0);
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), -ENOSPC);
	/* 3: the second rule's second bio, as the first hid bio 2 from it. */
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), -EROFS);
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), 0);
	bdev_close(fd);
	free(buf);
}

/* Flush rules: flush bios, bdev_flush() and preflush writes, not plain writes. */
static void test_flush_rules(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint8_t *buf = t_aligned_alloc(4096, lbs);
	struct bdev *fd = wrap(lower);
	struct bdev_stats st;

	write_pat(lower, 0, lbs, 40, 0);
	add_rule(fd, BDEV_FAULT_OP_FLUSH, 0, 0, 0, 0, -EIO);
	bdev_reset_stats(fd);
	t_assert_eq(flush_bio(fd), -EIO);
	t_assert_eq(bdev_flush(fd), -EIO);
	pat_fill(buf, lbs, 0, 41);
	t_assert_eq(rw(fd, BIO_OP_WRITE, BIO_PREFLUSH, 0, buf, lbs), -EIO);
	t_assert(holds_pat(lower, 0, lbs, 40));
	t_assert_eq(rw(fd, BIO_OP_WRITE, BIO_FUA, 0, buf, lbs), 0);
	t_assert_eq(rw(fd, BIO_OP_WRITE, 0, 0, buf, lbs), 0);
	t_assert(holds_pat(lower, 0, lbs, 41));
	t_assert_eq(injected(fd), 3);
	bdev_get_stats(fd, &st);
	t_assert_eq(st.errors, 3);
	t_assert_eq(st.flushes, 3);
	t_assert_eq(st.bios_written, 3);
	bdev_close(fd);
	free(buf);
}

/* The wrapper counts what was submitted to it; the lower device what passed. */
static void test_counters(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	uint8_t *buf = t_aligned_alloc(4096, 2 * lbs);
	struct bdev *fd = wrap(lower);
	struct bdev_stats fs, ls;

	bdev_reset_stats(lower);
	add_rule(fd, BDEV_FAULT_OP_WRITE, 0, UINT64_MAX, 0, 2, -EIO);
	for (int i = 0; i < 5; i++)
		(void)rw(fd, BIO_OP_WRITE, 0, 0, buf, 2 * lbs);
	for (int i = 0; i < 3; i++)
		t_assert_eq(rw(fd, BIO_OP_READ, 0, 0, buf, lbs), 0);
	bdev_get_stats(fd, &fs);
	bdev_get_stats(lower, &ls);
	t_assert_eq(fs.bios_written, 5);
	t_assert_eq(fs.bytes_written, 10 * lbs);
	t_assert_eq(fs.bios_read, 3);
	t_assert_eq(fs.errors, 2);
	t_assert_eq(ls.bios_written, 3);
	t_assert_eq(ls.bytes_written, 6 * lbs);
	t_assert_eq(ls.bios_read, 3);
	t_assert_eq(ls.errors, 0);
	t_assert_eq(injected(fd), 2);
	bdev_close(fd);
	free(buf);
}

/* ---- Many threads, asynchronous bios ---- */

/*
 * Workers stay alive until the device is closed: io_uring cancels a
 * buffered request punted to its workers (-ECANCELED) when the thread that
 * submitted it exits, which is not what this test is about.
 */
struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
	int failed;
	unsigned int submitters; /* workers done submitting */
	bool closed; /* the device is closed: workers may exit */
};

struct worker {
	pthread_t tid;
	struct bdev *bd;
	struct batch *batch;
	unsigned int index;
	uint8_t *mem;
};

static void batch_end_io(struct bio *bio)
{
	struct batch *b = bio->bi_private;
	int status = bio->bi_status;

	bio_put(bio);
	pthread_mutex_lock(&b->lock);
	if (status)
		b->failed++;
	b->pending--;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint32_t len = bdev_logical_block_size(w->bd);

	for (unsigned int i = 0; i < PER_THREAD; i++) {
		uint64_t slot = (uint64_t)w->index * PER_THREAD + i;
		struct bio *bio = bio_alloc(w->bd, 1, (i & 1) ? BIO_OP_READ : BIO_OP_WRITE, 0);

		t_assert(bio);
		t_assert(bio_add(bio, w->mem + i * len, len, NULL));
		bio->bi_sector = slot * (len >> SECTOR_SHIFT);
		bio->bi_end_io = batch_end_io;
		bio->bi_private = w->batch;
		pthread_mutex_lock(&w->batch->lock);
		w->batch->pending++;
		pthread_mutex_unlock(&w->batch->lock);
		bio_submit(bio);
	}
	pthread_mutex_lock(&w->batch->lock);
	w->batch->submitters++;
	pthread_cond_broadcast(&w->batch->cond);
	while (!w->batch->closed)
		pthread_cond_wait(&w->batch->cond, &w->batch->lock);
	pthread_mutex_unlock(&w->batch->lock);
	return NULL;
}

/*
 * 8 threads keep asynchronous bios in flight through one rule that fails
 * exactly 50 after letting 30 through; the device is closed with bios
 * possibly still in flight, then the batch is checked.
 */
static void test_threads(struct bdev *lower)
{
	unsigned int lbs = bdev_logical_block_size(lower);
	struct batch b = { .pending = 0, .failed = 0, .submitters = 0, .closed = false };
	struct worker w[NTHREADS];
	struct bdev *fd = wrap(lower);

	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	add_rule(fd, BDEV_FAULT_OP_READ | BDEV_FAULT_OP_WRITE, 0, UINT64_MAX, 30, 50, -EIO);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .bd = fd, .batch = &b, .index = i };
		w[i].mem = t_aligned_alloc(4096, (size_t)PER_THREAD * lbs);
		memset(w[i].mem, (int)i + 1, (size_t)PER_THREAD * lbs);
		t_assert_eq(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	}
	pthread_mutex_lock(&b.lock);
	while (b.submitters < NTHREADS)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	t_assert_eq(injected(fd), 50);
	bdev_close(fd); /* waits for everything in flight */
	pthread_mutex_lock(&b.lock);
	t_assert_eq(b.pending, 0);
	t_assert_eq(b.failed, 50);
	b.closed = true;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.lock);
	for (unsigned int i = 0; i < NTHREADS; i++)
		pthread_join(w[i].tid, NULL);
	for (unsigned int i = 0; i < NTHREADS; i++)
		free(w[i].mem);
	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
}

static void run_all(struct bdev *lower)
{
	test_passthrough(lower);
	test_range(lower);
	test_read_untouched(lower);
	test_skip_count(lower);
	test_rule_order(lower);
	test_flush_rules(lower);
	test_counters(lower);
	test_threads(lower);
}

static void cleanup(void)
{
	unlink(devpath);
	rmdir(tmpdir);
}

static void make_file_path(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/bdev-fault-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		t_fail("mkdtemp %s", tmpdir);
	snprintf(devpath, sizeof(devpath), "%s/dev", tmpdir);
	atexit(cleanup);
}

static void run_file(unsigned int lbs, unsigned int flags)
{
	struct bdev_open_opts o = {
		.flags = BDEV_O_CREATE | flags, .logical_block_size = lbs, .size = DEV_BYTES,
	};
	struct bdev *lower;

	unlink(devpath);
	t_assert_eq(bdev_open(devpath, &o, &lower), 0);
	if (strcmp(bdev_engine_name(lower), "io_uring") != 0)
		fprintf(stderr, "note: io_uring unavailable, file engine is %s\n",
			bdev_engine_name(lower));
	run_all(lower);
	bdev_close(lower);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 4096 };
	struct bdev *ram;

	test_api_errors();
	for (size_t i = 0; i < 2; i++) {
		t_assert_eq(bdev_open_ram(DEV_BYTES, sizes[i], &ram), 0);
		run_all(ram);
		bdev_close(ram);
	}
	make_file_path();
	for (size_t i = 0; i < 2; i++) {
		run_file(sizes[i], 0);
		run_file(sizes[i], BDEV_O_DIRECT);
	}
	return T_EXIT_PASS;
}
