/* SPDX-License-Identifier: MIT */
/*
 * Page cache internals shared by the files of src/pagecache/.
 *
 * Lock order, outer first:
 *   1. inode->invalidate_lock (shared in filemap_read while it instantiates
 *      and reads folios; exclusive in the filesystem around truncate/punch)
 *   2. the folio lock (a sleeping bit lock; this layer holds one at a time)
 *   3. mapping->lock or cache->lru_lock (mutexes, never nested in each
 *      other, held only for index or list updates: never across I/O, a call
 *      into address_space_ops, or a sleep on a folio)
 *
 * References: a folio in a mapping holds one reference for the mapping
 * (taken in filemap_add_folio, dropped in filemap_remove_folio).  New
 * references to a folio in a mapping are taken only under mapping->lock
 * (lookups, gathers) or by a thread that already holds one, which is what
 * lets pc_remove_folio_if_unused() check the count under that lock.
 */
#ifndef IOMAP_PAGECACHE_INTERNAL_H
#define IOMAP_PAGECACHE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <iomap/folio.h>
#include <iomap/inode.h>
#include <iomap/mapping.h>
#include <iomap/pagecache.h>

#include "lib/compiler.h"
#include "pagecache/index.h"

/* Largest folio folio_alloc() hands out: 2^16 pages (256 MiB). */
#define PC_MAX_ORDER 16

/* The allocation behind a struct folio: the folio must know its cache to free itself. */
struct pc_folio {
	struct folio folio;
	struct pagecache *cache;
};

struct pagecache {
	uint64_t budget_bytes; /* stored for reclaim, not enforced yet */
	/*
	 * LRU of folios in mappings, oldest first.  Links and FOLIO_LRU are
	 * protected by lru_lock.  A folio joins in filemap_add_folio and leaves
	 * in filemap_remove_folio, both under its folio lock.
	 */
	pthread_mutex_t lru_lock;
	struct folio *lru_head, *lru_tail;
	uint64_t lru_len;
	/* Counters of struct pagecache_stats; relaxed atomics, exact when quiescent. */
	_Atomic uint64_t folios, bytes, peak_bytes, meta_bytes;
	_Atomic uint64_t dirty_bytes, writeback_bytes;
	_Atomic uint64_t folios_added, folios_removed, lookups, lookup_hits;
};

struct address_space {
	pthread_mutex_t lock; /* protects index (tags included) */
	struct pc_index index;
	_Atomic uint64_t nr_folios; /* changed under lock, read without */
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

/* cache.c */
void pc_stat_add_bytes(struct pagecache *cache, uint64_t n); /* bytes and peak_bytes */
void pc_lru_add(struct pagecache *cache, struct folio *folio);
void pc_lru_del(struct pagecache *cache, struct folio *folio);

/* mapping.c */
int pc_mapping_create(struct pagecache *cache, struct inode *host,
		      const struct address_space_ops *aops, struct address_space **out);
/* The mapping must be empty. */
void pc_mapping_destroy(struct address_space *mapping);
/* Set or clear @tag on @folio, which is in @mapping; caller holds mapping->lock. */
void pc_mapping_tag_locked(struct address_space *mapping, struct folio *folio, enum mapping_tag tag,
			   bool set);
/*
 * filemap_remove_folio() if the folio's reference count is exactly @refs,
 * checked under mapping->lock.  Folio locked.  Returns true if removed.
 */
bool pc_remove_folio_if_unused(struct folio *folio, int32_t refs);

/* folio.c */
/* Mark @folio accessed for the LRU (FOLIO_REFERENCED). */
void pc_folio_mark_accessed(struct folio *folio);
/* Drop the TOWRITE tag of a locked folio (writeback looked at it). */
void pc_folio_clear_towrite(struct folio *folio);

#endif /* IOMAP_PAGECACHE_INTERNAL_H */
