/* SPDX-License-Identifier: MIT */
/*
 * The page cache object: budget, LRU list and statistics shared by every
 * mapping created on it.
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <stdlib.h>

int pagecache_create(const struct pagecache_opts *opts, struct pagecache **out)
{
	struct pagecache *cache;

	if (!out)
		return -EINVAL;
	cache = calloc(1, sizeof(*cache));
	if (!cache)
		return -ENOMEM;
	if (pthread_mutex_init(&cache->lru_lock, NULL)) {
		free(cache);
		return -ENOMEM;
	}
	cache->budget_bytes = opts ? opts->budget_bytes : 0;
	*out = cache;
	return 0;
}

/* Every folio must be gone too: a folio frees itself into its cache's counters. */
void pagecache_destroy(struct pagecache *cache)
{
	if (!cache)
		return;
	pthread_mutex_destroy(&cache->lru_lock);
	free(cache);
}

static uint64_t stat_read(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit((_Atomic uint64_t *)counter, memory_order_relaxed);
}

void pagecache_get_stats(const struct pagecache *cache, struct pagecache_stats *st)
{
	st->folios = stat_read(&cache->folios);
	st->bytes = stat_read(&cache->bytes);
	st->peak_bytes = stat_read(&cache->peak_bytes);
	st->meta_bytes = stat_read(&cache->meta_bytes);
	st->dirty_bytes = stat_read(&cache->dirty_bytes);
	st->writeback_bytes = stat_read(&cache->writeback_bytes);
	st->folios_added = stat_read(&cache->folios_added);
	st->folios_removed = stat_read(&cache->folios_removed);
	st->lookups = stat_read(&cache->lookups);
	st->lookup_hits = stat_read(&cache->lookup_hits);
}

/* Relaxed: statistics order nothing; the CAS only keeps peak_bytes monotonic. */
void pc_stat_add_bytes(struct pagecache *cache, uint64_t n)
{
	uint64_t now = atomic_fetch_add_explicit(&cache->bytes, n, memory_order_relaxed) + n;
	uint64_t peak = atomic_load_explicit(&cache->peak_bytes, memory_order_relaxed);

	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&cache->peak_bytes, &peak, now,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/*
 * FOLIO_LRU is changed under lru_lock; relaxed because the lock orders it
 * against every other LRU user.
 */
void pc_lru_add(struct pagecache *cache, struct folio *folio)
{
	pthread_mutex_lock(&cache->lru_lock);
	folio->lru_next = NULL;
	folio->lru_prev = cache->lru_tail;
	if (cache->lru_tail)
		cache->lru_tail->lru_next = folio;
	else
		cache->lru_head = folio;
	cache->lru_tail = folio;
	cache->lru_len++;
	atomic_fetch_or_explicit(&folio->flags, FOLIO_LRU, memory_order_relaxed);
	pthread_mutex_unlock(&cache->lru_lock);
}

void pc_lru_del(struct pagecache *cache, struct folio *folio)
{
	pthread_mutex_lock(&cache->lru_lock);
	if (atomic_load_explicit(&folio->flags, memory_order_relaxed) & FOLIO_LRU) {
		if (folio->lru_prev)
			folio->lru_prev->lru_next = folio->lru_next;
		else
			cache->lru_head = folio->lru_next;
		if (folio->lru_next)
			folio->lru_next->lru_prev = folio->lru_prev;
		else
			cache->lru_tail = folio->lru_prev;
		folio->lru_prev = folio->lru_next = NULL;
		cache->lru_len--;
		atomic_fetch_and_explicit(&folio->flags, ~FOLIO_LRU, memory_order_relaxed);
	}
	pthread_mutex_unlock(&cache->lru_lock);
}
