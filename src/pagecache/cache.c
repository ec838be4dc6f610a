/* SPDX-License-Identifier: MIT */
/*
 * The page cache object: budget, LRU list and statistics shared by every
 * mapping created on it.  Reclaim is in reclaim.c, the flusher and dirty
 * throttling in flusher.c.
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <stdlib.h>

#define DEFAULT_DIRTY_RATIO 20U
#define DEFAULT_BACKGROUND_RATIO 10U
#define DEFAULT_EXPIRE_MS 3000U
#define DEFAULT_INTERVAL_MS 500U

uint64_t pc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct timespec pc_timespec(uint64_t ns)
{
	return (struct timespec){
		.tv_sec = (time_t)(ns / 1000000000ULL),
		.tv_nsec = (long)(ns % 1000000000ULL),
	};
}

/* @percent of @bytes without overflowing for any 64-bit budget. */
static uint64_t percent_of(uint64_t bytes, unsigned int percent)
{
	return bytes / 100 * percent + bytes % 100 * percent / 100;
}

/* Budget, slack and thresholds from @opts (all 0 without a budget). */
static int set_limits(struct pagecache *cache, const struct pagecache_opts *opts)
{
	unsigned int ratio = opts->dirty_ratio ? opts->dirty_ratio : DEFAULT_DIRTY_RATIO;
	unsigned int bg = opts->dirty_background_ratio ? opts->dirty_background_ratio :
							 DEFAULT_BACKGROUND_RATIO;
	uint64_t budget = opts->budget_bytes;

	if (!budget)
		return 0;
	if (ratio > 100 || bg > 100)
		return -EINVAL;
	if (bg >= ratio)
		bg = ratio / 2;
	cache->budget_bytes = budget;
	cache->slack_bytes = max(PAGECACHE_SLACK_MIN_BYTES, budget >> PAGECACHE_SLACK_SHIFT);
	cache->dirty_thresh = max(percent_of(budget, ratio), (uint64_t)PAGE_SIZE);
	cache->background_thresh = percent_of(budget, bg);
	cache->expire_ns = (opts->dirty_expire_ms ? opts->dirty_expire_ms : DEFAULT_EXPIRE_MS) *
			   PC_NSEC_PER_MS;
	cache->interval_ns =
		(opts->flusher_interval_ms ? opts->flusher_interval_ms : DEFAULT_INTERVAL_MS) *
		PC_NSEC_PER_MS;
	return 0;
}

/* Condition variables time out on the monotonic clock (see pc_wait_progress). */
static int init_conds(struct pagecache *cache)
{
	pthread_condattr_t attr;
	int err = -ENOMEM;

	if (pthread_condattr_init(&attr))
		return -ENOMEM;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC))
		goto out;
	if (pthread_cond_init(&cache->flusher_cond, &attr))
		goto out;
	if (pthread_cond_init(&cache->wb_idle, &attr))
		goto fail_flusher;
	if (pthread_cond_init(&cache->progress_cond, &attr))
		goto fail_idle;
	err = 0;
	goto out;
fail_idle:
	pthread_cond_destroy(&cache->wb_idle);
fail_flusher:
	pthread_cond_destroy(&cache->flusher_cond);
out:
	pthread_condattr_destroy(&attr);
	return err;
}

static void destroy_sync(struct pagecache *cache)
{
	pthread_cond_destroy(&cache->progress_cond);
	pthread_cond_destroy(&cache->wb_idle);
	pthread_cond_destroy(&cache->flusher_cond);
	pthread_mutex_destroy(&cache->wb_lock);
	pthread_mutex_destroy(&cache->lru_lock);
}

int pagecache_create(const struct pagecache_opts *opts, struct pagecache **out)
{
	static const struct pagecache_opts none;
	struct pagecache *cache;
	int err;

	if (!out)
		return -EINVAL;
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	err = set_limits(cache, opts ? opts : &none);
	if (err)
		goto fail_free;
	err = -ENOMEM;
	if (pthread_mutex_init(&cache->lru_lock, NULL))
		goto fail_free;
	if (pthread_mutex_init(&cache->wb_lock, NULL))
		goto fail_lru;
	if (init_conds(cache))
		goto fail_wb;
	if (cache->budget_bytes && pc_flusher_start(cache)) {
		destroy_sync(cache);
		goto fail_free;
	}
	*out = cache;
	return 0;
fail_wb:
	pthread_mutex_destroy(&cache->wb_lock);
fail_lru:
	pthread_mutex_destroy(&cache->lru_lock);
fail_free:
	free(cache);
	return err;
}

/* Every folio must be gone too: a folio frees itself into its cache's counters. */
void pagecache_destroy(struct pagecache *cache)
{
	if (!cache)
		return;
	pc_flusher_stop(cache);
	destroy_sync(cache);
	free(cache);
}

uint64_t pagecache_slack(const struct pagecache *cache)
{
	return cache->slack_bytes;
}

static uint64_t dirty_mappings(const struct pagecache *cache)
{
	struct pagecache *c = (struct pagecache *)cache;
	uint64_t n;

	pthread_mutex_lock(&c->wb_lock);
	n = c->wb_nr;
	pthread_mutex_unlock(&c->wb_lock);
	return n;
}

void pagecache_get_stats(const struct pagecache *cache, struct pagecache_stats *st)
{
	*st = (struct pagecache_stats){
		.folios = pc_stat_read(&cache->folios),
		.bytes = pc_stat_read(&cache->bytes),
		.peak_bytes = pc_stat_read(&cache->peak_bytes),
		.meta_bytes = pc_stat_read(&cache->meta_bytes),
		.dirty_bytes = pc_stat_read(&cache->dirty_bytes),
		.writeback_bytes = pc_stat_read(&cache->writeback_bytes),
		.folios_added = pc_stat_read(&cache->folios_added),
		.folios_removed = pc_stat_read(&cache->folios_removed),
		.lookups = pc_stat_read(&cache->lookups),
		.lookup_hits = pc_stat_read(&cache->lookup_hits),
		.budget_bytes = cache->budget_bytes,
		.slack_bytes = cache->slack_bytes,
		.dirty_limit_bytes = cache->dirty_thresh,
		.dirty_background_bytes = cache->background_thresh,
		.reclaim_scanned = pc_stat_read(&cache->reclaim_scanned),
		.reclaim_rotated = pc_stat_read(&cache->reclaim_rotated),
		.reclaimed = pc_stat_read(&cache->reclaimed),
		.alloc_waits = pc_stat_read(&cache->alloc_waits),
		.alloc_wait_ns = pc_stat_read(&cache->alloc_wait_ns),
		.alloc_over_budget = pc_stat_read(&cache->alloc_over_budget),
		.alloc_failures = pc_stat_read(&cache->alloc_failures),
		.writeback_kicks = pc_stat_read(&cache->writeback_kicks),
		.throttle_waits = pc_stat_read(&cache->throttle_waits),
		.throttle_wait_ns = pc_stat_read(&cache->throttle_wait_ns),
		.throttle_written = pc_stat_read(&cache->throttle_written),
		.flusher_runs = pc_stat_read(&cache->flusher_runs),
		.flusher_written = pc_stat_read(&cache->flusher_written),
		.dirty_mappings = dirty_mappings(cache),
	};
}

/* Link a folio that is on no list at the old end (@old) or the young end. */
static void lru_link(struct pagecache *cache, struct folio *folio, bool old)
{
	if (old) {
		folio->lru_prev = NULL;
		folio->lru_next = cache->lru_head;
		if (cache->lru_head)
			cache->lru_head->lru_prev = folio;
		else
			cache->lru_tail = folio;
		cache->lru_head = folio;
	} else {
		folio->lru_next = NULL;
		folio->lru_prev = cache->lru_tail;
		if (cache->lru_tail)
			cache->lru_tail->lru_next = folio;
		else
			cache->lru_head = folio;
		cache->lru_tail = folio;
	}
}

static void lru_unlink(struct pagecache *cache, struct folio *folio)
{
	if (folio->lru_prev)
		folio->lru_prev->lru_next = folio->lru_next;
	else
		cache->lru_head = folio->lru_next;
	if (folio->lru_next)
		folio->lru_next->lru_prev = folio->lru_prev;
	else
		cache->lru_tail = folio->lru_prev;
	folio->lru_prev = folio->lru_next = NULL;
}

/*
 * FOLIO_LRU is changed under lru_lock; relaxed because the lock orders it
 * against every other LRU user.
 */
void pc_lru_add(struct pagecache *cache, struct folio *folio)
{
	pthread_mutex_lock(&cache->lru_lock);
	lru_link(cache, folio, false);
	cache->lru_len++;
	atomic_fetch_or_explicit(&folio->flags, FOLIO_LRU, memory_order_relaxed);
	pthread_mutex_unlock(&cache->lru_lock);
}

void pc_lru_del(struct pagecache *cache, struct folio *folio)
{
	pthread_mutex_lock(&cache->lru_lock);
	if (atomic_load_explicit(&folio->flags, memory_order_relaxed) & FOLIO_LRU) {
		lru_unlink(cache, folio);
		cache->lru_len--;
		atomic_fetch_and_explicit(&folio->flags, ~FOLIO_LRU, memory_order_relaxed);
	}
	pthread_mutex_unlock(&cache->lru_lock);
}

/* The folio must be on the LRU (FOLIO_LRU set, checked under lru_lock by the caller). */
void pc_lru_move_locked(struct pagecache *cache, struct folio *folio, bool old)
{
	if ((old && cache->lru_head == folio) || (!old && cache->lru_tail == folio))
		return;
	lru_unlink(cache, folio);
	lru_link(cache, folio, old);
}
