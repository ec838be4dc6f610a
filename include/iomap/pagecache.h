/* SPDX-License-Identifier: MIT */
/*
 * The page cache: the memory that holds file data, shared by every mapping
 * created on it.  It allocates folios, keeps the folios of mappings on an
 * LRU list, counts what it holds and, given a budget, keeps its data bytes
 * within it (the kernel's LRU reclaim, balance_dirty_pages and flusher
 * threads).
 *
 * Memory pressure.  With opts.budget_bytes == 0 there is no limit, no
 * reclaim, no throttling and no thread.  With a budget:
 *
 *  - Charging.  folio_alloc() charges the folio's data bytes (not struct
 *    folio or index nodes: those are meta_bytes) to the cache before it
 *    allocates them, atomically, so concurrent allocations never overshoot
 *    by racing each other.
 *  - Reclaim.  When a folio would take the data bytes over the budget,
 *    folio_alloc() first reclaims: it walks the LRU from the oldest folio,
 *    gives a folio used since the last walk (FOLIO_REFERENCED) a second
 *    chance by moving it to the young end, and drops clean, unlocked folios
 *    that are not under writeback, that nobody but their mapping references
 *    and whose ->release_folio agrees.
 *  - Waiting.  If that is not enough (the rest is dirty, under writeback,
 *    locked or in use) it kicks the flusher and waits for writeback to end
 *    or folios to be freed, reclaiming again after each such event.
 *  - Slack.  After PAGECACHE_RECLAIM_WAIT_MS without getting under the
 *    budget the allocation may go over it, by at most pagecache_slack()
 *    bytes in total, rather than deadlock on a slow or stuck device, or on
 *    folios the allocating thread itself holds locked (readahead batches).
 *    The cache is then stalled: until an allocation fits in the budget
 *    again, allocations that reclaim nothing use the slack without that
 *    wait.  When the slack is used up too, an allocation keeps waiting
 *    until PAGECACHE_ALLOC_WAIT_MS after it started and then fails (NULL,
 *    which callers report as -ENOMEM).  So the cache's data bytes never
 *    exceed budget + slack: peak_bytes <= budget_bytes + slack_bytes always
 *    holds.
 *  - Dirty throttling.  Writers call balance_dirty_pages_ratelimited()
 *    after dirtying folios; it keeps dirty + writeback bytes near
 *    dirty_ratio percent of the budget, so reclaim finds clean folios.
 *  - The flusher.  One thread per cache writes back data older than
 *    dirty_expire_ms and, when kicked, brings dirty bytes under
 *    dirty_background_ratio percent of the budget.  It writes only through
 *    ->writepages (WB_SYNC_NONE, PAGECACHE_WRITEBACK_CHUNK folios at a
 *    time), holding no page cache lock, so a mapping without ->writepages
 *    is never written back by the page cache.
 *
 * What ->writepages may not do.  It is called by the flusher thread, by
 * pagecache_sync() and by writers inside balance_dirty_pages_ratelimited(),
 * concurrently with anything else on the inode: it must not take locks that
 * writers hold while they dirty folios or allocate them (i_rwsem,
 * invalidate_lock), as the kernel's iomap_writepages takes neither.  If it
 * did, throttled writers and allocations would stall until their bounded
 * waits ran out.  inode_destroy() waits for a ->writepages call the flusher
 * or pagecache_sync() is making on that inode, so the thread destroying an
 * inode must not hold a lock that ->writepages needs either.
 *
 * Thread safety: all functions are safe to call concurrently.
 */
#ifndef IOMAP_PAGECACHE_H
#define IOMAP_PAGECACHE_H

#include <stddef.h>
#include <stdint.h>

struct address_space;
struct pagecache;
struct folio;

/*
 * The slack: how far the cache's data bytes may go over a non-zero budget,
 * max(PAGECACHE_SLACK_MIN_BYTES, budget / 16) (4 MiB for budgets up to
 * 64 MiB, 1/16 above).  It covers what reclaim cannot take back at once:
 * a readahead batch (up to budget / 16, never above 4 MiB) that its reader
 * holds locked while it allocates the rest, the folio each writer holds,
 * and data in writeback on a device slower than PAGECACHE_RECLAIM_WAIT_MS.
 */
#define PAGECACHE_SLACK_MIN_BYTES (4ULL << 20)
#define PAGECACHE_SLACK_SHIFT 4

/* Longest an allocation waits for room within the budget before using the slack. */
#define PAGECACHE_RECLAIM_WAIT_MS 100
/* Longest an allocation waits in all before it fails (slack used up too). */
#define PAGECACHE_ALLOC_WAIT_MS 2000
/* Longest one balance_dirty_pages_ratelimited() call throttles its caller. */
#define PAGECACHE_THROTTLE_WAIT_MS 2000
/* Folios per ->writepages call (wbc->nr_to_write) from the flusher and throttled writers. */
#define PAGECACHE_WRITEBACK_CHUNK 1024

/* Zero-initialised options are valid: an unlimited cache. */
struct pagecache_opts {
	/*
	 * Most data bytes the cache holds (plus the slack; see above).  0 =
	 * unlimited: no reclaim, no throttling, no flusher thread, and every
	 * other field is ignored.
	 */
	uint64_t budget_bytes;
	/*
	 * Percent of the budget that dirty + writeback bytes may reach before
	 * balance_dirty_pages_ratelimited() throttles the writer.  1..100;
	 * 0 = 20.
	 */
	unsigned int dirty_ratio;
	/*
	 * Percent of the budget above which dirty bytes make the flusher write
	 * back in the background.  1..100; 0 = 10.  If not below dirty_ratio
	 * it is taken as dirty_ratio / 2 (as the kernel does).
	 */
	unsigned int dirty_background_ratio;
	/* Age at which the flusher writes dirty data back anyway, in ms.  0 = 3000. */
	unsigned int dirty_expire_ms;
	/* How often the flusher wakes up to look for expired data, in ms.  0 = 500. */
	unsigned int flusher_interval_ms;
};

/*
 * Create a cache (and its flusher thread if it has a budget).  Returns 0 and
 * the cache in *out, -EINVAL (@out NULL, a ratio above 100) or -ENOMEM
 * (also when the thread cannot be started).  @opts NULL means all zeroes.
 */
int pagecache_create(const struct pagecache_opts *opts, struct pagecache **out);

/*
 * Stop and join the flusher and free the cache.  All mappings must have
 * been destroyed and all folios freed first.  NULL is ignored.
 */
void pagecache_destroy(struct pagecache *cache);

/* The slack of a cache: 0 without a budget, else the formula above. */
uint64_t pagecache_slack(const struct pagecache *cache);

/*
 * A new folio of 2^order pages: refcount 1, unlocked, no mapping, not
 * uptodate, data not initialised.  Every folio must be freed before its
 * cache is destroyed.
 *
 * With a budget this may reclaim and sleep (see above), for at most
 * PAGECACHE_ALLOC_WAIT_MS, so the caller should hold as little as it can:
 * never a folio lock another thread may need to make progress through a
 * blocking folio_lock() (reclaim itself only trylocks), nor a page cache
 * lock.  Holding i_rwsem or invalidate_lock is fine as long as ->writepages
 * does not need them.
 *
 * Returns NULL when @order is above 16, when memory is short, or with a
 * budget when the folio is larger than budget + slack or no room came up
 * in time.
 */
struct folio *folio_alloc(struct pagecache *cache, unsigned int order);

/*
 * Writers call this after dirtying folios of @mapping (after each folio or
 * after each batch), holding no folio lock.  No-op without a budget.  When
 * dirty bytes exceed the background threshold it kicks the flusher.  When
 * dirty + writeback bytes exceed dirty_ratio of the budget it throttles the
 * caller: it writes back PAGECACHE_WRITEBACK_CHUNK folios of @mapping itself
 * through ->writepages (WB_SYNC_NONE) while @mapping has dirty folios, and
 * waits for writeback to end, until dirty + writeback bytes are back under
 * the limit or PAGECACHE_THROTTLE_WAIT_MS have passed.  The caller may hold
 * i_rwsem (see "What ->writepages may not do" above).  Errors of that
 * writeback are recorded by ->writepages with mapping_set_error(); nothing
 * is returned.
 */
void balance_dirty_pages_ratelimited(struct address_space *mapping);

/*
 * Write back every mapping of the cache that has dirty folios, and wait for
 * its writeback (what sync(2) does): each such mapping gets a WB_SYNC_ALL
 * ->writepages pass over its whole range, then the call waits until none
 * of those mappings has a folio under writeback.  Data dirtied after the
 * call starts may or may not be written.  The caller must hold no folio
 * lock.  Works with or without a budget.  Returns 0 or the first negative
 * errno a ->writepages call returned (-ENOMEM if the list of mappings could
 * not be copied); I/O errors found at completion stay recorded in each
 * mapping for fsync (filemap_check_errors, file_check_and_advance_wb_err).
 */
int pagecache_sync(struct pagecache *cache);

struct pagecache_stats {
	uint64_t folios; /* folios alive (in a mapping or referenced) */
	uint64_t bytes; /* their data bytes */
	uint64_t peak_bytes; /* largest value bytes has had */
	uint64_t meta_bytes; /* struct folio bytes plus index nodes */
	uint64_t dirty_bytes; /* bytes of dirty folios */
	uint64_t writeback_bytes; /* bytes of folios under writeback */
	uint64_t folios_added; /* insertions into a mapping */
	uint64_t folios_removed; /* removals (truncate, invalidate, reclaim) */
	uint64_t lookups; /* filemap_get_folio calls */
	uint64_t lookup_hits; /* ... that found the folio */
	/* Memory pressure; all 0 without a budget. */
	uint64_t budget_bytes; /* opts.budget_bytes */
	uint64_t slack_bytes; /* pagecache_slack() */
	uint64_t dirty_limit_bytes; /* dirty + writeback bytes that throttle writers */
	uint64_t dirty_background_bytes; /* dirty bytes that start background writeback */
	uint64_t reclaim_scanned; /* LRU folios looked at by reclaim */
	uint64_t reclaim_rotated; /* ... given a second chance (were referenced) */
	uint64_t reclaimed; /* folios dropped by reclaim */
	uint64_t alloc_waits; /* allocations that had to wait for writeback or frees */
	uint64_t alloc_wait_ns; /* total time they waited */
	uint64_t alloc_over_budget; /* allocations that went into the slack */
	uint64_t alloc_failures; /* allocations refused: no room within budget + slack */
	uint64_t writeback_kicks; /* flusher wake-ups asked by reclaim or throttling */
	uint64_t throttle_waits; /* balance_dirty_pages_ratelimited calls that throttled */
	uint64_t throttle_wait_ns; /* total time writers spent throttled */
	uint64_t throttle_written; /* folios written back by throttled writers */
	uint64_t flusher_runs; /* flusher wake-ups (timer or kick) */
	uint64_t flusher_written; /* folios the flusher wrote back */
	uint64_t dirty_mappings; /* mappings with dirty or writeback folios now */
};

/*
 * A snapshot of the counters.  Each is read on its own, so they are exact
 * relative to each other only when the cache is quiescent.
 */
void pagecache_get_stats(const struct pagecache *cache, struct pagecache_stats *st);

#endif /* IOMAP_PAGECACHE_H */
