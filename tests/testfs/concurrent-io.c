/* SPDX-License-Identifier: MIT */
/*
 * Description: testfs under concurrency and memory pressure, in each mode
 * (delalloc, allocation at write time, buffer heads, journaled data).  A
 * small page cache budget keeps reclaim, the flusher and dirty throttling
 * busy while:
 *  - threads share one file, doing buffered and direct writes and reads,
 *    fsync, truncate, punch and cache drops.  Every write stores the same
 *    byte for a given offset, so every byte anyone reads must be zero or
 *    that byte (never the device's stale 0xee, never another value);
 *  - threads each own a file and keep an exact model of it, checked by
 *    every read and in full at the end;
 *  - a thread syncs the filesystem now and then.
 * At the end everything is written back, dropped and read from the device.
 * Built to run clean under ThreadSanitizer and AddressSanitizer.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "t-testfs.h"

#define SHARED_MAX (2U << 20)
#define PRIVATE_MAX (512U * 1024)
#define SHARED_THREADS 3
#define PRIVATE_THREADS 2
#define OPS 4000
#define BUDGET (1U << 20)
#define SEED 91
#define STALE 0xee

struct mode {
	const char *name;
	struct testfs_opts o;
};

struct ctx {
	struct t_fs t;
	struct testfs_file *shared;
	unsigned int bs;
	_Atomic bool done;
};

struct worker {
	struct ctx *c;
	pthread_t th;
	unsigned int id;
	struct testfs_file *own; /* private threads */
	uint8_t *model; /* the own file's bytes */
	uint64_t size; /* the own file's size */
};

static uint8_t expect(uint64_t off)
{
	uint8_t b;

	t_fill_pattern(&b, 1, off, SEED);
	return b;
}

/* Bytes read from the shared file: each zero or the pattern. */
static void check_shared(const uint8_t *buf, uint64_t pos, ssize_t n)
{
	for (ssize_t i = 0; i < n; i++) {
		uint64_t off = pos + (uint64_t)i;

		if (buf[i] && buf[i] != expect(off))
			t_fail("shared offset %llu reads 0x%02x: neither 0 nor 0x%02x",
			       (unsigned long long)off, buf[i], expect(off));
	}
}

/* A 512-aligned range inside [0, max). */
static void pick_aligned(struct t_rng *rng, uint64_t max, uint64_t *pos, uint64_t *len)
{
	*pos = t_rng_below(rng, max / 512) * 512;
	*len = (1 + t_rng_below(rng, 32)) * 512;
	if (*pos + *len > max)
		*len = max - *pos;
}

static void shared_write(struct ctx *c, struct t_rng *rng, uint8_t *buf)
{
	uint64_t pos, len;

	if (t_rng_below(rng, 2)) {
		pick_aligned(rng, SHARED_MAX, &pos, &len);
		t_fill_pattern(buf, len, pos, SEED);
		t_assert_eq(testfs_direct_write(c->shared, pos, buf, len), (long long)len);
		return;
	}
	pos = t_rng_below(rng, SHARED_MAX);
	len = 1 + t_rng_below(rng, 64 * 1024);
	len = pos + len > SHARED_MAX ? SHARED_MAX - pos : len;
	t_fill_pattern(buf, len, pos, SEED);
	t_assert_eq(testfs_write(c->shared, pos, buf, len), (long long)len);
}

static void shared_read(struct ctx *c, struct t_rng *rng, uint8_t *buf)
{
	uint64_t pos, len;
	ssize_t n;

	if (t_rng_below(rng, 2)) {
		pick_aligned(rng, SHARED_MAX, &pos, &len);
		n = testfs_direct_read(c->shared, pos, buf, len);
	} else {
		pos = t_rng_below(rng, SHARED_MAX);
		len = 1 + t_rng_below(rng, 64 * 1024);
		n = testfs_read(c->shared, pos, buf, len);
	}
	t_assert(n >= 0);
	check_shared(buf, pos, n);
}

static void shared_op(struct ctx *c, struct testfs_handle *h, struct t_rng *rng, uint8_t *buf)
{
	uint64_t pos = t_rng_below(rng, SHARED_MAX);

	switch (t_rng_below(rng, 12)) {
	case 0:
		t_assert_eq(testfs_fsync(h, t_rng_below(rng, 2), 0, UINT64_MAX), 0);
		break;
	case 1:
		t_assert_eq(testfs_truncate(c->shared, pos), 0);
		break;
	case 2:
		t_assert_eq(testfs_punch_hole(c->shared, pos, 1 + t_rng_below(rng, 64 * 1024)), 0);
		break;
	case 3:
		testfs_drop_cache(c->shared);
		break;
	case 4: case 5: case 6: case 7:
		shared_write(c, rng, buf);
		break;
	default:
		shared_read(c, rng, buf);
		break;
	}
}

static void *shared_thread(void *arg)
{
	struct worker *w = arg;
	struct testfs_handle *h = t_open(w->c->shared);
	uint8_t *buf = t_aligned_alloc(4096, 64 * 1024);
	struct t_rng rng;

	t_rng_seed(&rng, 1000 + w->id);
	for (int i = 0; i < OPS; i++)
		shared_op(w->c, h, &rng, buf);
	testfs_close(h);
	free(buf);
	return NULL;
}

/* The own file must read as the model at [pos, pos + len). */
static void private_check(struct worker *w, uint64_t pos, uint64_t len, uint8_t *buf)
{
	uint64_t want = pos < w->size ? (len < w->size - pos ? len : w->size - pos) : 0;

	t_assert_eq(testfs_read(w->own, pos, buf, len), (long long)want);
	if (memcmp(buf, w->model + pos, want))
		t_fail("private file %u differs from its model at [%llu, +%llu)", w->id,
		       (unsigned long long)pos, (unsigned long long)want);
}

static void private_op(struct worker *w, struct testfs_handle *h, struct t_rng *rng,
		       uint8_t *buf)
{
	uint64_t pos = t_rng_below(rng, PRIVATE_MAX), len = 1 + t_rng_below(rng, 32 * 1024);

	len = pos + len > PRIVATE_MAX ? PRIVATE_MAX - pos : len;
	switch (t_rng_below(rng, 8)) {
	case 0:
		t_assert_eq(testfs_fsync(h, false, 0, UINT64_MAX), 0);
		break;
	case 1:
		t_assert_eq(testfs_truncate(w->own, pos), 0);
		if (pos < w->size)
			memset(w->model + pos, 0, w->size - pos);
		w->size = pos;
		break;
	case 2: case 3: case 4:
		for (uint64_t i = 0; i < len; i++)
			w->model[pos + i] = (uint8_t)t_rng_next(rng) | 1;
		t_assert_eq(testfs_write(w->own, pos, w->model + pos, len), (long long)len);
		w->size = pos + len > w->size ? pos + len : w->size;
		break;
	default:
		private_check(w, pos, len, buf);
		break;
	}
}

static void *private_thread(void *arg)
{
	struct worker *w = arg;
	struct testfs_handle *h = t_open(w->own);
	uint8_t *buf = t_malloc(PRIVATE_MAX);
	struct t_rng rng;

	t_rng_seed(&rng, 2000 + w->id);
	for (int i = 0; i < OPS; i++)
		private_op(w, h, &rng, buf);
	private_check(w, 0, PRIVATE_MAX, buf);
	testfs_close(h);
	free(buf);
	return NULL;
}

static void *syncer(void *arg)
{
	struct ctx *c = arg;

	while (!atomic_load(&c->done)) {
		t_assert_eq(testfs_sync(c->t.fs), 0);
		usleep(2000);
	}
	return NULL;
}

/* After everything: from the device, the shared file is zeroes and pattern. */
static void final_checks(struct ctx *c, struct worker *priv)
{
	uint8_t *buf = t_malloc(SHARED_MAX);
	ssize_t n;

	t_assert_eq(testfs_sync(c->t.fs), 0);
	t_drop_all(c->shared);
	n = testfs_read(c->shared, 0, buf, SHARED_MAX);
	t_assert(n >= 0);
	check_shared(buf, 0, n);
	for (int i = 0; i < PRIVATE_THREADS; i++) {
		t_drop_all(priv[i].own);
		private_check(&priv[i], 0, PRIVATE_MAX, buf);
	}
	t_fsck(&c->t);
	free(buf);
}

static void run(const struct mode *m, unsigned int bs)
{
	struct testfs_opts o = m->o;
	struct worker shared[SHARED_THREADS], priv[PRIVATE_THREADS];
	struct ctx c = { .bs = bs };
	struct pagecache_stats pc;
	pthread_t sync_th;

	o.block_size = bs;
	t_assert_eq(bdev_open_ram(32U << 20, 512, &c.t.bdev), 0);
	t_dev_fill(c.t.bdev, STALE);
	t_assert_eq(pagecache_create(&(struct pagecache_opts){ .budget_bytes = BUDGET },
				     &c.t.cache), 0);
	t_assert_eq(testfs_create(c.t.bdev, c.t.cache, &o, &c.t.fs), 0);
	c.shared = t_file(&c.t);
	for (unsigned int i = 0; i < SHARED_THREADS; i++) {
		shared[i] = (struct worker){ .c = &c, .id = i };
		t_assert_eq(pthread_create(&shared[i].th, NULL, shared_thread, &shared[i]), 0);
	}
	for (unsigned int i = 0; i < PRIVATE_THREADS; i++) {
		priv[i] = (struct worker){ .c = &c, .id = i, .own = t_file(&c.t),
					   .model = t_calloc(1, PRIVATE_MAX) };
		t_assert_eq(pthread_create(&priv[i].th, NULL, private_thread, &priv[i]), 0);
	}
	t_assert_eq(pthread_create(&sync_th, NULL, syncer, &c), 0);
	for (unsigned int i = 0; i < SHARED_THREADS; i++)
		pthread_join(shared[i].th, NULL);
	for (unsigned int i = 0; i < PRIVATE_THREADS; i++)
		pthread_join(priv[i].th, NULL);
	atomic_store(&c.done, true);
	pthread_join(sync_th, NULL);
	final_checks(&c, priv);
	for (unsigned int i = 0; i < PRIVATE_THREADS; i++)
		free(priv[i].model);
	pagecache_get_stats(c.t.cache, &pc);
	printf("%-12s bs %u: ok (reclaimed %llu, throttled %llu, flusher %llu, peak %llu KiB)\n",
	       m->name, bs, (unsigned long long)pc.reclaimed,
	       (unsigned long long)pc.throttle_waits, (unsigned long long)pc.flusher_written,
	       (unsigned long long)(pc.peak_bytes >> 10));
	t_fs_teardown(&c.t);
}

static const struct mode modes[] = {
	{ "delalloc", { .delalloc = true } },
	{ "at-write", { .delalloc = false, .max_extent = 64 * 1024 } },
	{ "bufferheads", { .buffer_heads = true } },
	{ "jdata", { .jdata = true } },
};

int main(void)
{
	static const unsigned int sizes[] = { 1024, 4096 };

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			run(&modes[m], sizes[i]);
	return T_EXIT_PASS;
}
