/* SPDX-License-Identifier: MIT */
/*
 * Reclaim under a budget: streaming reads and writes of far more data than
 * the budget keep the cache within budget + slack (reads within the budget
 * itself); data written and read back is right; folios used again survive
 * a stream that evicts folios used once (second chance); a folio larger
 * than budget + slack is refused; and a stuck device makes allocations go
 * into the slack and then fail, in bounded time, instead of deadlocking,
 * and recover once the device completes.
 *
 * Usage: pagecache-reclaim [seed [MiB streamed]]
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "mem-helpers.h"
#include "pagecache/internal.h"

#define MIB (1ULL << 20)
#define BUDGET (8 * MIB)
#define CHUNK MIB

static uint64_t stream_bytes = 256 * MIB;

static struct pagecache *budget_cache(uint64_t budget)
{
	struct pagecache_opts opts = { .budget_bytes = budget };

	return t_cache_create_opts(&opts);
}

static void read_range(struct t_file *f, uint64_t pos, uint64_t len, char *buf)
{
	while (len) {
		size_t n = (size_t)(len < CHUNK ? len : CHUNK);
		ssize_t ret = filemap_read(&f->inode, pos, buf, n);

		if (ret != (ssize_t)n)
			t_fail("filemap_read(%llu) = %zd", (unsigned long long)pos, ret);
		t_check_file_data(f, buf, n, pos);
		pos += n;
		len -= n;
	}
}

/* Reading 32x the budget: only clean folios, so never over the budget at all. */
static void test_read_stream(uint64_t seed)
{
	struct pagecache *cache = budget_cache(BUDGET);
	struct pagecache_stats st;
	char *buf = t_malloc(CHUNK);
	struct t_file f;

	t_file_init(&f, cache, &t_wb_aops, stream_bytes, seed);
	read_range(&f, 0, stream_bytes, buf);
	pagecache_get_stats(cache, &st);
	t_assert(st.peak_bytes <= BUDGET);
	t_assert_eq(st.alloc_over_budget, 0);
	t_assert_eq(st.alloc_failures, 0);
	t_assert(st.reclaimed >= (stream_bytes - BUDGET) / PAGE_SIZE);
	t_assert(st.bytes <= BUDGET);
	t_assert_eq(st.folios_added - st.folios_removed, mapping_nr_folios(f.inode.i_mapping));
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	free(buf);
}

/*
 * Writing 32x the budget.  Without throttling, reclaim itself must kick the
 * flusher to clean dirty folios; with it, writers clean their own.
 * @async: writeback ends on the device thread.
 */
static void test_write_stream(uint64_t seed, bool async, bool throttle)
{
	struct pagecache *cache = budget_cache(BUDGET);
	uint64_t pages = stream_bytes / PAGE_SIZE;
	struct pagecache_stats st;
	char *buf = t_malloc(CHUNK);
	struct t_file f;

	if (async)
		atomic_store(&t_wbdev, t_wbdev_start(0));
	t_file_init(&f, cache, &t_wb_aops, stream_bytes, seed);
	for (uint64_t i = 0; i < pages; i++) {
		int err = t_dirty_page(&f, i);

		if (err)
			t_fail("write of page %llu: %d", (unsigned long long)i, err);
		if (throttle)
			balance_dirty_pages_ratelimited(f.inode.i_mapping);
	}
	t_check_peak_within_slack(cache);
	t_assert_eq(pagecache_sync(cache), 0);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 0);
	t_assert_eq(st.writeback_bytes, 0);
	t_assert_eq(st.dirty_mappings, 0);
	t_assert_eq(st.alloc_failures, 0);
	t_assert(st.reclaimed > 0);
	/* Throttled writers kick the flusher past the background ratio, else reclaim does. */
	t_assert(st.writeback_kicks > 0 && st.flusher_written > 0);
	/* What is still cached and what comes back from the "disk" both read right. */
	read_range(&f, stream_bytes - 4 * MIB, 4 * MIB, buf);
	read_range(&f, 0, 4 * MIB, buf);
	t_check_peak_within_slack(cache);
	inode_destroy(&f.inode);
	if (async) {
		/* Its last folio_end_writeback may still hold a reference. */
		t_wbdev_stop(atomic_load(&t_wbdev));
	}
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	free(buf);
}

/*
 * A small hot file read again after every MiB of a stream stays cached;
 * a file of the same size read once, before the stream, is evicted.
 */
static void test_second_chance(uint64_t seed)
{
	struct pagecache *cache = budget_cache(BUDGET);
	struct t_file hot, once, stream;
	struct pagecache_stats st;
	char *buf = t_malloc(CHUNK);
	uint64_t len = stream_bytes / 4;

	t_file_init(&once, cache, &t_wb_aops, MIB, seed);
	t_file_init(&hot, cache, &t_wb_aops, MIB, seed + 1);
	t_file_init(&stream, cache, &t_wb_aops, len, seed + 2);
	read_range(&once, 0, MIB, buf);
	read_range(&hot, 0, MIB, buf);
	for (uint64_t pos = 0; pos < len; pos += CHUNK) {
		read_range(&stream, pos, CHUNK, buf);
		read_range(&hot, 0, MIB, buf);
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(mapping_nr_folios(hot.inode.i_mapping), MIB / PAGE_SIZE);
	t_assert_eq(mapping_nr_folios(once.inode.i_mapping), 0);
	t_assert(mapping_nr_folios(stream.inode.i_mapping) < BUDGET / PAGE_SIZE);
	t_assert(st.reclaim_rotated > 0);
	t_assert(st.peak_bytes <= BUDGET);
	inode_destroy(&once.inode);
	inode_destroy(&hot.inode);
	inode_destroy(&stream.inode);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	free(buf);
}

/* A folio that could never fit is refused at once; the budget and slack are reported. */
static void test_too_large(void)
{
	struct pagecache *cache = budget_cache(BUDGET);
	struct pagecache_stats st;
	uint64_t start = t_now_ms();
	struct folio *folio;

	t_assert(folio_alloc(cache, 12) == NULL); /* 16 MiB > 8 + 4 MiB */
	t_assert(t_now_ms() - start < PAGECACHE_RECLAIM_WAIT_MS);
	folio = folio_alloc(cache, 11); /* 8 MiB: fits the budget */
	t_assert(folio);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.budget_bytes, BUDGET);
	t_assert_eq(st.slack_bytes, PAGECACHE_SLACK_MIN_BYTES);
	t_assert_eq(st.dirty_limit_bytes, BUDGET / 5);
	t_assert_eq(st.dirty_background_bytes, BUDGET / 10);
	t_assert_eq(st.alloc_failures, 1);
	folio_put(folio);
	pagecache_destroy(cache);

	cache = budget_cache(1ULL << 30);
	t_assert_eq(pagecache_slack(cache), (1ULL << 30) / 16);
	pagecache_destroy(cache);
	cache = t_cache_create();
	t_assert_eq(pagecache_slack(cache), 0);
	pagecache_destroy(cache);
}

/*
 * The device stops completing writes.  Dirty folios go to writeback and
 * stay there; allocations wait, go into the slack, then fail, each in
 * bounded time, and the cache never passes budget + slack.  Once the
 * device runs again writers make progress.
 */
static void test_stuck_device(uint64_t seed)
{
	struct pagecache *cache = budget_cache(BUDGET);
	struct t_wbdev *dev = t_wbdev_start(0);
	uint64_t start, pages = 0;
	struct pagecache_stats st;
	struct t_file f;
	int err;

	atomic_store(&t_wbdev, dev);
	t_wbdev_pause(dev, true);
	t_file_init(&f, cache, &t_wb_aops, 64 * MIB, seed);
	start = t_now_ms();
	while (!(err = t_dirty_page(&f, pages)))
		pages++;
	t_assert_eq(err, -ENOMEM);
	/* One wait to stall, then straight into the slack, then one full wait to fail. */
	t_assert(t_now_ms() - start < 4 * PAGECACHE_ALLOC_WAIT_MS);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.alloc_failures, 1);
	t_assert(st.alloc_over_budget > 0);
	t_assert(st.alloc_waits > 0 && st.alloc_wait_ns >= PAGECACHE_ALLOC_WAIT_MS * 1000000ULL);
	t_assert(pages * PAGE_SIZE >= BUDGET);
	t_assert(pages * PAGE_SIZE <= BUDGET + pagecache_slack(cache));
	t_check_peak_within_slack(cache);

	t_wbdev_pause(dev, false);
	for (uint64_t i = 0; i < 4096; i++)
		t_assert_eq(t_dirty_page(&f, pages + i), 0);
	t_assert_eq(pagecache_sync(cache), 0);
	t_check_peak_within_slack(cache);
	inode_destroy(&f.inode);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5eed;

	if (argc > 2)
		stream_bytes = strtoull(argv[2], NULL, 0) * MIB;
	if (stream_bytes < 16 * MIB)
		stream_bytes = 16 * MIB;
	test_too_large();
	test_read_stream(seed);
	test_write_stream(seed, false, false);
	test_write_stream(seed, true, false);
	test_write_stream(seed, true, true);
	test_second_chance(seed);
	test_stuck_device(seed);
	return T_EXIT_PASS;
}
