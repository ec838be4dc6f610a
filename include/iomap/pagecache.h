/* SPDX-License-Identifier: MIT */
/*
 * The page cache: the memory that holds file data, shared by every mapping
 * created on it.  It allocates folios, keeps clean folios on an LRU list and
 * counts what it holds.
 *
 * Thread safety: all functions are safe to call concurrently.
 */
#ifndef IOMAP_PAGECACHE_H
#define IOMAP_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>

struct pagecache;
struct folio;

struct pagecache_opts {
	uint64_t budget_bytes; /* 0 = unlimited (reclaim is a later step) */
};

/* Returns 0 or -ENOMEM / -EINVAL. */
int pagecache_create(const struct pagecache_opts *opts, struct pagecache **out);

/* All mappings must have been destroyed first.  NULL is ignored. */
void pagecache_destroy(struct pagecache *cache);

/*
 * A new folio of 2^order pages: refcount 1, unlocked, no mapping, not
 * uptodate, data not initialised.  NULL when out of memory or @order is
 * above 16.  Every folio must be freed before its cache is destroyed.
 */
struct folio *folio_alloc(struct pagecache *cache, unsigned int order);

struct pagecache_stats {
	uint64_t folios; /* folios alive (in a mapping or referenced) */
	uint64_t bytes; /* their data bytes */
	uint64_t peak_bytes; /* largest value of bytes so far */
	uint64_t meta_bytes; /* struct folio bytes plus index nodes */
	uint64_t dirty_bytes; /* bytes of dirty folios */
	uint64_t writeback_bytes; /* bytes of folios under writeback */
	uint64_t folios_added; /* insertions into a mapping */
	uint64_t folios_removed; /* removals (truncate, invalidate) */
	uint64_t lookups; /* filemap_get_folio calls */
	uint64_t lookup_hits; /* ... that found the folio */
};

void pagecache_get_stats(const struct pagecache *cache, struct pagecache_stats *st);

#endif /* IOMAP_PAGECACHE_H */
