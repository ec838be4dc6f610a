/* SPDX-License-Identifier: MIT */
/*
 * The flusher thread: dirty data older than dirty_expire_ms is written
 * back within about flusher_interval_ms after it expires, and not before;
 * data dirtied again later is written again; dirty bytes above the
 * background ratio are written back down to it long before they expire;
 * a mapping without ->writepages is left alone; and destroying an inode
 * while the flusher is inside its ->writepages waits for the call to end
 * (looped, with the flusher caught in the call and at random points).
 *
 * Usage: pagecache-flusher [seed]
 */
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "mem-helpers.h"

#define MIB (1ULL << 20)
#define EXPIRE_MS 300U
#define INTERVAL_MS 50U
/* Scheduling (and sanitizers) may delay the flusher this much past its deadline. */
#define LATE_MS 1000U

static uint64_t dirty_bytes(struct pagecache *cache)
{
	struct pagecache_stats st;

	pagecache_get_stats(cache, &st);
	return st.dirty_bytes;
}

/* Wait until no more than @bytes are dirty; returns the ms it took, or fails after @max_ms. */
static uint64_t wait_dirty_at_most(struct pagecache *cache, uint64_t bytes, uint64_t max_ms)
{
	uint64_t start = t_now_ms();

	while (dirty_bytes(cache) > bytes) {
		if (t_now_ms() - start > max_ms)
			t_fail("still %llu dirty bytes after %llu ms",
			       (unsigned long long)dirty_bytes(cache), (unsigned long long)max_ms);
		usleep(2000);
	}
	return t_now_ms() - start;
}

/*
 * Dirty bytes drop while the flusher's ->writepages call runs; it counts
 * the folios when the call returns, and the mapping leaves the writeback
 * list when its last writeback ends.  Wait for both.
 */
static void wait_flusher_done(struct pagecache *cache, uint64_t written)
{
	uint64_t start = t_now_ms();
	struct pagecache_stats st;

	for (;;) {
		pagecache_get_stats(cache, &st);
		if (st.flusher_written == written && st.dirty_mappings == 0)
			return;
		if (t_now_ms() - start > LATE_MS)
			t_fail("flusher wrote %llu folios, expected %llu; %llu dirty mappings",
			       (unsigned long long)st.flusher_written, (unsigned long long)written,
			       (unsigned long long)st.dirty_mappings);
		usleep(1000);
	}
}

static void test_expire(uint64_t seed)
{
	struct pagecache_opts opts = {
		.budget_bytes = 64 * MIB,
		.dirty_expire_ms = EXPIRE_MS,
		.flusher_interval_ms = INTERVAL_MS,
	};
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct pagecache_stats st;
	uint64_t took, runs;
	struct t_file f;

	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	for (int round = 0; round < 2; round++) {
		/* Far under the background threshold: only age writes this back. */
		for (uint64_t i = 0; i < 16; i++)
			t_assert_eq(t_dirty_page(&f, (uint64_t)round * 100 + i), 0);
		took = wait_dirty_at_most(cache, 0, EXPIRE_MS + INTERVAL_MS + LATE_MS);
		t_assert(took >= EXPIRE_MS - 5);
		wait_flusher_done(cache, 16 * ((uint64_t)round + 1));
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.writeback_kicks, 0);
	/* Idle, it keeps waking on its interval. */
	runs = st.flusher_runs;
	t_assert(runs >= 2);
	usleep(4 * INTERVAL_MS * 1000);
	pagecache_get_stats(cache, &st);
	t_assert(st.flusher_runs > runs);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

/* Over the background threshold, a kick gets it written down to the threshold at once. */
static void test_background(uint64_t seed)
{
	struct pagecache_opts opts = {
		.budget_bytes = 16 * MIB,
		.dirty_expire_ms = 600000,
		.flusher_interval_ms = 600000,
	};
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct pagecache_stats st;
	struct t_file f;

	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	for (uint64_t i = 0; i < 3 * MIB / PAGE_SIZE; i++)
		t_assert_eq(t_dirty_page(&f, i), 0);
	pagecache_get_stats(cache, &st);
	t_assert(st.dirty_bytes > st.dirty_background_bytes);
	t_assert(st.dirty_bytes <= st.dirty_limit_bytes);
	balance_dirty_pages_ratelimited(f.inode.i_mapping);
	wait_dirty_at_most(cache, st.dirty_background_bytes, LATE_MS);
	/* The flusher counts a chunk once its ->writepages call returns. */
	for (uint64_t start = t_now_ms(); !st.flusher_written && t_now_ms() - start < LATE_MS;) {
		usleep(1000);
		pagecache_get_stats(cache, &st);
	}
	t_assert(st.flusher_written > 0);
	t_assert_eq(st.writeback_kicks, 1);
	t_assert_eq(st.throttle_waits, 0);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

static const struct address_space_ops no_writepages_aops = {
	.read_folio = t_sync_read_folio,
	.readahead = t_sync_readahead,
	.invalidate_folio = t_record_invalidate,
	.release_folio = t_release,
};

/* Dirty data nobody can write stays dirty; the flusher does not spin on it. */
static void test_no_writepages(uint64_t seed)
{
	struct pagecache_opts opts = {
		.budget_bytes = 16 * MIB,
		.dirty_expire_ms = 10,
		.flusher_interval_ms = 20,
	};
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct pagecache_stats st;
	struct t_file f;

	t_file_init(&f, cache, &no_writepages_aops, 64 * MIB, seed);
	for (uint64_t i = 0; i < 3 * MIB / PAGE_SIZE; i++)
		t_assert_eq(t_dirty_page(&f, i), 0);
	balance_dirty_pages_ratelimited(f.inode.i_mapping);
	usleep(200 * 1000);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 3 * MIB);
	t_assert_eq(st.flusher_written, 0);
	t_assert(st.flusher_runs < 100);
	t_assert_eq(pagecache_sync(cache), 0);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

#define DESTROY_LOOPS 100
#define DESTROY_PAGES 64

/*
 * The flusher writes every mapping as soon as it is dirty and takes a
 * while per folio; the inode is destroyed while it is inside ->writepages
 * (even loops) or whenever (odd loops).  inode_destroy must wait for the
 * call, and ASan would catch any use of the freed mapping.
 */
static void test_destroy_while_flushing(uint64_t seed)
{
	struct pagecache_opts opts = {
		.budget_bytes = 16 * MIB,
		.dirty_expire_ms = 1,
		.flusher_interval_ms = 1,
	};
	struct pagecache *cache = t_cache_create_opts(&opts);
	struct t_wbdev *dev = t_wbdev_start(0);
	struct t_rng rng;
	unsigned int caught = 0;

	t_rng_seed(&rng, seed);
	atomic_store(&t_wbdev, dev);
	atomic_store(&t_wb_delay_us, 100);
	for (int loop = 0; loop < DESTROY_LOOPS; loop++) {
		struct t_file *f = t_malloc(sizeof(*f));
		uint64_t start;

		t_file_init(f, cache, &t_wb_aops, 64 * MIB, seed + (uint64_t)loop);
		for (uint64_t i = 0; i < DESTROY_PAGES; i++)
			t_assert_eq(t_dirty_page(f, i), 0);
		if (loop % 2 == 0) {
			start = t_now_ms();
			while (!atomic_load(&t_wb_busy) && t_now_ms() - start < LATE_MS)
				usleep(100);
			caught += atomic_load(&t_wb_busy) != 0;
		} else {
			usleep((useconds_t)t_rng_below(&rng, 3000));
		}
		inode_destroy(&f->inode);
		/* Only this file is dirty, so only it can be in ->writepages. */
		t_assert_eq(atomic_load(&t_wb_busy), 0);
		/* Poison what is left of the inode: nothing may touch it any more. */
		memset(f, 0x6b, sizeof(*f));
		free(f);
	}
	t_assert(caught > DESTROY_LOOPS / 4);
	atomic_store(&t_wb_delay_us, 0);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0xf105;

	test_expire(seed);
	test_background(seed);
	test_no_writepages(seed);
	test_destroy_while_flushing(seed);
	return T_EXIT_PASS;
}
