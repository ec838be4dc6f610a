/* SPDX-License-Identifier: MIT */
/*
 * Dirty throttling (balance_dirty_pages_ratelimited): a writer that takes
 * dirty + writeback bytes over dirty_ratio of the budget is held until
 * writeback brings them back under the limit (having written a chunk of
 * its own folios first), and goes on as soon as the device completes;
 * the wait is bounded when the device never does; above the background
 * ratio the flusher is kicked; without a budget nothing ever blocks; and
 * several writers streaming through a slow device all make progress while
 * the dirty bytes stay near the limit.
 *
 * Usage: pagecache-throttle [seed]
 */
#include <errno.h>
#include <unistd.h>

#include "helpers.h"
#include "mem-helpers.h"

#define MIB (1ULL << 20)
#define BUDGET (16 * MIB)
#define LIMIT (BUDGET / 5) /* dirty_ratio 20 */
#define PAUSE_MS 300

static struct pagecache *budget_cache(void)
{
	struct pagecache_opts opts = {
		.budget_bytes = BUDGET,
		.dirty_expire_ms = 60000, /* only the limits write back here */
	};

	return t_cache_create_opts(&opts);
}

static uint64_t dirty_and_writeback(struct pagecache *cache)
{
	struct pagecache_stats st;

	pagecache_get_stats(cache, &st);
	return st.dirty_bytes + st.writeback_bytes;
}

struct unpauser {
	struct t_wbdev *dev;
	uint64_t at_ms;
};

static void *unpause_later(void *arg)
{
	struct unpauser *u = arg;

	usleep(PAUSE_MS * 1000);
	u->at_ms = t_now_ms();
	t_wbdev_pause(u->dev, false);
	return NULL;
}

/*
 * The device is paused: the writer dirties pages until the limit, then
 * blocks in balance_dirty_pages_ratelimited until the device runs again,
 * and returns under the limit.
 */
static void test_blocks_until_writeback(uint64_t seed)
{
	struct pagecache *cache = budget_cache();
	struct t_wbdev *dev = t_wbdev_start(0);
	struct unpauser u = { .dev = dev };
	struct pagecache_stats st;
	uint64_t index = 0, start = 0;
	pthread_t th;
	struct t_file f;

	atomic_store(&t_wbdev, dev);
	t_wbdev_pause(dev, true);
	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	/* Up to the limit nobody waits (the flusher may start writing, into the paused device). */
	while (dirty_and_writeback(cache) + PAGE_SIZE <= LIMIT) {
		t_assert_eq(t_dirty_page(&f, index++), 0);
		balance_dirty_pages_ratelimited(f.inode.i_mapping);
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.throttle_waits, 0);
	t_assert(st.writeback_kicks > 0); /* above the background ratio */
	pthread_create(&th, NULL, unpause_later, &u);
	start = t_now_ms();
	t_assert_eq(t_dirty_page(&f, index++), 0);
	balance_dirty_pages_ratelimited(f.inode.i_mapping);
	pthread_join(th, NULL);
	/* It waited for the device, and not much longer. */
	t_assert(t_now_ms() >= u.at_ms);
	t_assert(t_now_ms() - start >= PAUSE_MS - 10);
	t_assert(t_now_ms() - start < PAGECACHE_THROTTLE_WAIT_MS);
	t_assert(dirty_and_writeback(cache) <= LIMIT);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.throttle_waits, 1);
	t_assert(st.throttle_wait_ns >= (PAUSE_MS - 10) * 1000000ULL);
	t_assert_eq(pagecache_sync(cache), 0);
	inode_destroy(&f.inode);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

/* A paused device and a writer far over the limit: the wait is bounded. */
static void test_bounded(uint64_t seed)
{
	struct pagecache *cache = budget_cache();
	struct t_wbdev *dev = t_wbdev_start(0);
	struct pagecache_stats st;
	uint64_t start;
	struct t_file f;

	atomic_store(&t_wbdev, dev);
	t_wbdev_pause(dev, true);
	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	for (uint64_t i = 0; i < 2 * LIMIT / PAGE_SIZE; i++)
		t_assert_eq(t_dirty_page(&f, i), 0);
	start = t_now_ms();
	balance_dirty_pages_ratelimited(f.inode.i_mapping);
	t_assert(t_now_ms() - start >= PAGECACHE_THROTTLE_WAIT_MS - 10);
	t_assert(t_now_ms() - start < 2 * PAGECACHE_THROTTLE_WAIT_MS);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.throttle_waits, 1);
	/* The writer wrote a chunk of its own folios before it waited. */
	t_assert_eq(st.throttle_written, PAGECACHE_WRITEBACK_CHUNK);
	t_wbdev_pause(dev, false);
	t_assert_eq(pagecache_sync(cache), 0);
	inode_destroy(&f.inode);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

/* Without a budget the call is a no-op, whatever is dirty. */
static void test_no_budget(uint64_t seed)
{
	struct pagecache *cache = t_cache_create();
	struct pagecache_stats st;
	struct t_file f;

	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	for (uint64_t i = 0; i < 1024; i++) {
		t_assert_eq(t_dirty_page(&f, i), 0);
		balance_dirty_pages_ratelimited(f.inode.i_mapping);
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 1024 * PAGE_SIZE);
	t_assert_eq(st.throttle_waits + st.writeback_kicks + st.flusher_runs, 0);
	t_assert_eq(atomic_load(&t_wb_calls), 0);
	t_assert_eq(st.dirty_mappings, 1);
	t_assert_eq(pagecache_sync(cache), 0);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 0);
	t_assert_eq(st.dirty_mappings, 0);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

#define WRITERS 4
#define WRITER_BYTES (32 * MIB)

struct writer {
	struct t_file file;
	struct pagecache *cache;
	uint64_t max_seen; /* dirty + writeback right after a throttle call */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (uint64_t i = 0; i < WRITER_BYTES / PAGE_SIZE; i++) {
		uint64_t now;

		t_assert_eq(t_dirty_page(&w->file, i), 0);
		balance_dirty_pages_ratelimited(w->file.inode.i_mapping);
		now = dirty_and_writeback(w->cache);
		if (now > w->max_seen)
			w->max_seen = now;
	}
	return NULL;
}

/* Writers share a slow device; they are throttled, make progress, and stay near the limit. */
static void test_writers(uint64_t seed)
{
	struct pagecache *cache = budget_cache();
	struct t_wbdev *dev = t_wbdev_start(5);
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	struct pagecache_stats st;

	atomic_store(&t_wbdev, dev);
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ .cache = cache };
		t_file_init(&w[i].file, cache, &t_wb_aops, WRITER_BYTES, seed + (uint64_t)i);
		pthread_create(&th[i], NULL, writer_main, &w[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	pagecache_get_stats(cache, &st);
	t_assert(st.throttle_waits > 0);
	t_assert(st.flusher_runs > 0);
	t_check_peak_within_slack(cache);
	/* Other writers may each add a page between a return and the sample. */
	for (int i = 0; i < WRITERS; i++)
		t_assert(w[i].max_seen <= LIMIT + 2 * WRITERS * PAGE_SIZE);
	t_assert_eq(pagecache_sync(cache), 0);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes + st.writeback_bytes, 0);
	for (int i = 0; i < WRITERS; i++)
		inode_destroy(&w[i].file.inode);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x7407;

	test_no_budget(seed);
	test_blocks_until_writeback(seed);
	test_bounded(seed);
	test_writers(seed);
	return T_EXIT_PASS;
}
