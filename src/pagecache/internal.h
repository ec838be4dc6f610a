/* SPDX-License-Identifier: MIT */
/*
 * Page cache internals shared by the files of src/pagecache/.
 *
 * Lock order, outer first:
 *   1. inode->invalidate_lock (shared in filemap_read while it instantiates
 *      and reads folios; exclusive in the filesystem around truncate/punch)
 *   2. the folio lock (a sleeping bit lock; this layer holds one at a time,
 *      and takes it only with folio_trylock() under lru_lock)
 *   3. mapping->lock or cache->lru_lock (mutexes, never nested in each
 *      other, held only for index or list updates: never across I/O, a call
 *      into address_space_ops, or a sleep on a folio)
 *   4. cache->wb_lock (innermost: taken under mapping->lock when a mapping
 *      gains its first or loses its last dirty / writeback folio; nothing
 *      is taken, called or slept on under it except its own condition
 *      variables)
 * No page cache mutex is held across ->writepages, ->release_folio or any
 * other call into the layer above (the flusher, throttled writers and
 * reclaim included), nor across a wait for memory.
 *
 * References: a folio in a mapping holds one reference for the mapping
 * (taken in filemap_add_folio, dropped in filemap_remove_folio).  New
 * references to a folio in a mapping are taken only under mapping->lock
 * (lookups, gathers) or by a thread that already holds one or holds the
 * folio lock, which is what lets pc_remove_folio_if_unused() check the
 * count under that lock.  (Reclaim takes its reference after it got the
 * folio lock with folio_trylock() under lru_lock: a folio on the LRU is in
 * a mapping, and the lock keeps it there.)
 *
 * Mapping lifetime against writeback: the flusher and pagecache_sync()
 * find mappings on the cache's writeback list and pin them with
 * mapping->wb_users (under wb_lock) across their ->writepages calls.  inode_destroy() first
 * calls pc_wb_unhook(), which takes the mapping off the list for good and
 * waits for wb_users to drop to zero; only then is the mapping freed.
 */
#ifndef IOMAP_PAGECACHE_INTERNAL_H
#define IOMAP_PAGECACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <iomap/folio.h>
#include <iomap/inode.h>
#include <iomap/mapping.h>
#include <iomap/pagecache.h>

#include "lib/compiler.h"
#include "pagecache/index.h"

/* Largest folio folio_alloc() hands out: 2^16 pages (256 MiB). */
#define PC_MAX_ORDER 16

#define PC_NSEC_PER_MS 1000000ULL

/* The allocation behind a struct folio: the folio must know its cache to free itself. */
struct pc_folio {
	struct folio folio;
	struct pagecache *cache;
};

/*
 * Page cache private bit of folio->flags, kept clear of folio.h's bits:
 * the folio was used once since it was created (pc_folio_mark_accessed).
 */
#define PC_FOLIO_SEEN (1U << 31)

/* Why the flusher was kicked (cache->flusher_kick). */
#define PC_KICK_BACKGROUND (1U << 0) /* dirty bytes above the background threshold */
#define PC_KICK_RECLAIM (1U << 1) /* an allocation found nothing clean to reclaim */

struct pagecache {
	/* Set at creation, read-only afterwards.  All 0 without a budget. */
	uint64_t budget_bytes;
	uint64_t slack_bytes;
	uint64_t dirty_thresh; /* dirty + writeback bytes that throttle writers */
	uint64_t background_thresh; /* dirty bytes that start background writeback */
	uint64_t expire_ns, interval_ns;
	/*
	 * LRU of folios in mappings, oldest first.  Links and FOLIO_LRU are
	 * protected by lru_lock.  A folio joins in filemap_add_folio and leaves
	 * in filemap_remove_folio, both under its folio lock; reclaim and the
	 * end of writeback move folios within it.
	 */
	pthread_mutex_t lru_lock;
	struct folio *lru_head, *lru_tail;
	uint64_t lru_len;
	/*
	 * Writeback state, protected by wb_lock: the writeback list of the
	 * mappings with dirty or writeback folios (wb_head / wb_tail, linked
	 * through mapping->wb_prev / wb_next), and the flusher's condition
	 * variable.  wb_idle is signalled when a
	 * dying mapping's wb_users drops to zero; progress_cond when
	 * progress_seq moves (see reclaim.c).
	 */
	pthread_mutex_t wb_lock;
	struct address_space *wb_head, *wb_tail;
	uint64_t wb_nr;
	pthread_cond_t flusher_cond, wb_idle, progress_cond;
	pthread_t flusher;
	bool has_flusher;
	_Atomic bool flusher_stop; /* set under wb_lock; read without it to cut work short */
	_Atomic uint32_t flusher_kick; /* PC_KICK_* not yet seen by the flusher */
	_Atomic uint64_t progress_seq; /* bumped when folios are freed or end writeback */
	_Atomic uint32_t progress_waiters;
	_Atomic bool stalled; /* the last slow allocation had to use the slack (reclaim.c) */
	/* Counters of struct pagecache_stats; relaxed atomics, exact when quiescent. */
	_Atomic uint64_t folios, bytes, peak_bytes, meta_bytes;
	_Atomic uint64_t dirty_bytes, writeback_bytes;
	_Atomic uint64_t folios_added, folios_removed, lookups, lookup_hits;
	_Atomic uint64_t reclaim_scanned, reclaim_rotated, reclaimed;
	_Atomic uint64_t alloc_waits, alloc_wait_ns, alloc_over_budget, alloc_failures;
	_Atomic uint64_t writeback_kicks, throttle_waits, throttle_wait_ns, throttle_written;
	_Atomic uint64_t flusher_runs, flusher_written;
};

struct address_space {
	pthread_mutex_t lock; /* protects index (tags included) and the counts below */
	struct pc_index index;
	_Atomic uint64_t nr_folios; /* changed under lock, read without */
	/* Folios tagged DIRTY / WRITEBACK: changed under lock, read without. */
	_Atomic uint64_t nr_dirty, nr_writeback;
	/*
	 * Monotonic ns since which the mapping has held dirty data: the
	 * dirtied_at of the folio that made it dirty, or after a writeback pass
	 * that left folios dirty, the oldest of theirs.  Written under lock,
	 * read by the flusher without.
	 */
	_Atomic uint64_t dirtied_when;
	bool wb_tracked; /* nr_dirty + nr_writeback > 0, as last told to pc_wb_track(); under lock */
	/* Protected by cache->wb_lock. */
	struct address_space *wb_prev, *wb_next;
	bool wb_listed; /* on the cache's writeback list */
	unsigned int wb_users; /* flusher / pagecache_sync() calls using the mapping */
	_Atomic bool wb_dying; /* set under wb_lock by pc_wb_unhook(); never cleared */
	struct inode *host;
	struct pagecache *cache;
	const struct address_space_ops *a_ops;
	_Atomic errseq_t wb_err; /* see writeback.c */
	_Atomic uint32_t as_flags; /* PC_AS_EIO / PC_AS_ENOSPC, sticky until checked */
};

#define PC_AS_EIO (1U << 0)
#define PC_AS_ENOSPC (1U << 1)

static inline struct pagecache *pc_folio_cache(const struct folio *folio)
{
	return container_of(folio, struct pc_folio, folio)->cache;
}

static inline void pc_stat_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline void pc_stat_sub(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_fetch_sub_explicit(counter, n, memory_order_relaxed);
}

static inline uint64_t pc_stat_read(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit((_Atomic uint64_t *)counter, memory_order_relaxed);
}

/*
 * folio->dirtied_at is written when the folio becomes dirty and read by the
 * flusher without the folio lock: relaxed atomics, as it orders nothing.
 */
static inline void pc_folio_set_dirtied_at(struct folio *folio, uint64_t ns)
{
	__atomic_store_n(&folio->dirtied_at, ns, __ATOMIC_RELAXED);
}

static inline uint64_t pc_folio_dirtied_at(const struct folio *folio)
{
	return __atomic_load_n(&folio->dirtied_at, __ATOMIC_RELAXED);
}

/* cache.c */
uint64_t pc_now_ns(void); /* CLOCK_MONOTONIC, which the condition variables time out on */
struct timespec pc_timespec(uint64_t ns);
void pc_lru_add(struct pagecache *cache, struct folio *folio);
void pc_lru_del(struct pagecache *cache, struct folio *folio);
/* Move a folio on the LRU to the old end (@old) or the young end; caller holds lru_lock. */
void pc_lru_move_locked(struct pagecache *cache, struct folio *folio, bool old);

/* reclaim.c */
/*
 * Charge @size data bytes for a new folio: returns 0, or -ENOMEM when the
 * budget and the slack stayed full (see pagecache.h).  May reclaim and
 * sleep when the cache has a budget.
 */
int pc_charge(struct pagecache *cache, uint64_t size);
/* The folio's data is freed: uncharge it and wake waiters for memory. */
void pc_uncharge(struct pagecache *cache, uint64_t size);
/*
 * Something that waiters for memory or for writeback care about happened
 * (a folio was freed or ended writeback).  No lock needed; a no-op without
 * a budget.
 */
void pc_progress(struct pagecache *cache);
uint64_t pc_progress_seq(struct pagecache *cache);
/*
 * Sleep until pc_progress() is called after @seq was read, the cache is
 * being destroyed, or the monotonic clock reaches @deadline_ns.  Returns
 * true if progress was seen.  Caller holds no page cache lock.
 */
bool pc_wait_progress(struct pagecache *cache, uint64_t seq, uint64_t deadline_ns);
/* Writeback of @folio ended: let reclaim find it first if nobody used it. */
void pc_lru_written_back(struct folio *folio);

/* flusher.c */
int pc_flusher_start(struct pagecache *cache);
void pc_flusher_stop(struct pagecache *cache);
void pc_flusher_kick(struct pagecache *cache, uint32_t why);
/*
 * The mapping has gained its first (@busy) or lost its last dirty /
 * writeback folio: put it on or take it off the cache's list.  Caller holds
 * mapping->lock.
 */
void pc_wb_track(struct address_space *mapping, bool busy);
/*
 * Take the mapping off the cache's list for good and wait until no flusher
 * or pagecache_sync() call uses it.  Caller holds no page cache lock.
 */
void pc_wb_unhook(struct address_space *mapping);

/* mapping.c */
int pc_mapping_create(struct pagecache *cache, struct inode *host,
		      const struct address_space_ops *aops, struct address_space **out);
/* The mapping must be empty; unhooks it from writeback first. */
void pc_mapping_destroy(struct address_space *mapping);
/* Set or clear @tag on @folio, which is in @mapping; caller holds mapping->lock. */
void pc_mapping_tag_locked(struct address_space *mapping, struct folio *folio, enum mapping_tag tag,
			   bool set);
/*
 * filemap_remove_folio() if the folio's reference count is exactly @refs,
 * checked under mapping->lock.  Folio locked.  Returns true if removed.
 */
bool pc_remove_folio_if_unused(struct folio *folio, int32_t refs);
/*
 * Set mapping->dirtied_when to the oldest dirtied_at among its dirty folios
 * (looking at no more than @max of them).  Takes mapping->lock.
 */
void pc_mapping_update_dirtied_when(struct address_space *mapping, unsigned int max);

/* folio.c */
/*
 * Mark @folio accessed for the LRU: the first use after creation sets
 * PC_FOLIO_SEEN, later ones FOLIO_REFERENCED (a second chance from
 * reclaim).
 */
void pc_folio_mark_accessed(struct folio *folio);
/* Drop the TOWRITE tag of a locked folio (writeback looked at it). */
void pc_folio_clear_towrite(struct folio *folio);

/* writeback.c */
/* Wait for every folio of @mapping under writeback, leaving error flags alone. */
void pc_wait_all_writeback(struct address_space *mapping);

#endif /* IOMAP_PAGECACHE_INTERNAL_H */
