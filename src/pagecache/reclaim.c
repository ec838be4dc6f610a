/* SPDX-License-Identifier: MIT */
/*
 * Reclaim: charging new folios to the cache's budget, taking clean folios
 * back from the LRU when it is full, and waiting for writeback or frees when
 * nothing clean is left (pagecache.h describes the policy and the slack).
 *
 * The LRU walk (second chance).  The walker looks at the oldest folio under
 * lru_lock.  A folio used since it was last looked at has FOLIO_REFERENCED
 * set (pc_folio_mark_accessed): the walker clears it and moves the folio to
 * the young end.  So does it with a folio that cannot be dropped now (dirty,
 * under writeback, locked, or referenced by anyone but its mapping), so the
 * next walk starts with fresh candidates.  Any other folio it trylocks under
 * lru_lock (a blocking folio_lock there could deadlock against the lock
 * order), takes a reference, drops lru_lock, and only then calls
 * ->release_folio and removes the folio if the count shows no other user.
 * A walk looks at each folio at most twice (once to clear REFERENCED), so
 * a folio referenced between two walks survives one of them.
 *
 * Stalls.  An allocation that waited PAGECACHE_RECLAIM_WAIT_MS in vain and
 * went into the slack marks the cache stalled; until an allocation gets
 * room within the budget again, later ones that find no clean folio go into
 * the slack without that wait (one stall costs the wait once, not once per
 * folio), and wait only when the slack is used up too.
 *
 * Written-back folios.  Writeback moves a folio it finished to the old end
 * of the LRU unless it was used or dirtied again (pc_lru_written_back), as
 * the kernel rotates folios it tried to reclaim while they were in
 * writeback: otherwise they would sit behind folios the walk rotated and
 * every walk would pass over the whole list while a writer streams data.
 */
#include "pagecache/internal.h"

#include <errno.h>

/* Relaxed: statistics order nothing; the CAS only keeps peak_bytes monotonic. */
static void update_peak(struct pagecache *cache, uint64_t now)
{
	uint64_t peak = atomic_load_explicit(&cache->peak_bytes, memory_order_relaxed);

	while (now > peak &&
	       !atomic_compare_exchange_weak_explicit(&cache->peak_bytes, &peak, now,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/*
 * Add @size to the data bytes if the sum stays within @limit.  Relaxed: the
 * counter orders no other memory; being one atomic read-modify-write is
 * what keeps concurrent charges from overshooting together.
 */
static bool try_charge(struct pagecache *cache, uint64_t size, uint64_t limit)
{
	uint64_t cur = atomic_load_explicit(&cache->bytes, memory_order_relaxed);

	do {
		if (cur > limit || size > limit - cur)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
		&cache->bytes, &cur, cur + size, memory_order_relaxed, memory_order_relaxed));
	update_peak(cache, cur + size);
	return true;
}

uint64_t pc_progress_seq(struct pagecache *cache)
{
	return atomic_load(&cache->progress_seq);
}

/*
 * Memory ordering: a Dekker pair.  pc_progress() bumps progress_seq, then
 * reads progress_waiters; a waiter increments progress_waiters, then reads
 * progress_seq.  All four accesses are seq_cst, so either the waker sees
 * the waiter (and broadcasts under wb_lock, which the waiter holds from its
 * check until it sleeps) or the waiter sees the new sequence and does not
 * sleep.  Without waiters, progress costs one atomic add and one load.
 */
void pc_progress(struct pagecache *cache)
{
	if (!cache->budget_bytes)
		return;
	atomic_fetch_add(&cache->progress_seq, 1);
	if (atomic_load(&cache->progress_waiters)) {
		pthread_mutex_lock(&cache->wb_lock);
		pthread_cond_broadcast(&cache->progress_cond);
		pthread_mutex_unlock(&cache->wb_lock);
	}
}

bool pc_wait_progress(struct pagecache *cache, uint64_t seq, uint64_t deadline_ns)
{
	struct timespec ts = pc_timespec(deadline_ns);
	bool moved;

	atomic_fetch_add(&cache->progress_waiters, 1);
	pthread_mutex_lock(&cache->wb_lock);
	while (!(moved = atomic_load(&cache->progress_seq) != seq)) {
		if (pthread_cond_timedwait(&cache->progress_cond, &cache->wb_lock, &ts) ==
		    ETIMEDOUT) {
			moved = atomic_load(&cache->progress_seq) != seq;
			break;
		}
	}
	pthread_mutex_unlock(&cache->wb_lock);
	atomic_fetch_sub(&cache->progress_waiters, 1);
	return moved;
}

/*
 * The oldest folio, locked and with a reference of ours, if it may be
 * droppable; NULL if it was rotated instead (or *empty if the LRU is).
 * lru_lock keeps a folio on the LRU in its mapping, and so alive; once
 * trylocked it stays there without lru_lock (internal.h, References).
 */
static struct folio *lru_take_oldest(struct pagecache *cache, bool *empty)
{
	struct folio *folio;
	uint32_t flags;

	pthread_mutex_lock(&cache->lru_lock);
	folio = cache->lru_head;
	if (!folio) {
		pthread_mutex_unlock(&cache->lru_lock);
		*empty = true;
		return NULL;
	}
	flags = atomic_load_explicit(&folio->flags, memory_order_relaxed);
	if (flags & FOLIO_REFERENCED) {
		/* Relaxed: a hint, like pc_folio_mark_accessed(). */
		atomic_fetch_and_explicit(&folio->flags, ~FOLIO_REFERENCED, memory_order_relaxed);
		pc_stat_add(&cache->reclaim_rotated, 1);
		goto rotate;
	}
	if ((flags & (FOLIO_DIRTY | FOLIO_WRITEBACK | FOLIO_LOCKED)) ||
	    atomic_load_explicit(&folio->refcount, memory_order_relaxed) != 1 ||
	    !folio_trylock(folio))
		goto rotate;
	folio_get(folio);
	pthread_mutex_unlock(&cache->lru_lock);
	return folio;
rotate:
	pc_lru_move_locked(cache, folio, false);
	pthread_mutex_unlock(&cache->lru_lock);
	return NULL;
}

/* A folio we could not drop goes to the young end; we still hold a reference. */
static void lru_rotate(struct pagecache *cache, struct folio *folio)
{
	pthread_mutex_lock(&cache->lru_lock);
	if (atomic_load_explicit(&folio->flags, memory_order_relaxed) & FOLIO_LRU)
		pc_lru_move_locked(cache, folio, false);
	pthread_mutex_unlock(&cache->lru_lock);
}

/*
 * Drop a folio from lru_take_oldest() if it is still clean and idle and
 * its private state goes.  The folio lock keeps ->mapping (and so the
 * mapping) alive until the folio leaves it.  Unlocks and puts the folio.
 */
static bool reclaim_folio(struct pagecache *cache, struct folio *folio)
{
	struct address_space *mapping = folio->mapping;
	bool freed = false;

	if (!mapping || folio_test_dirty(folio) || folio_test_writeback(folio) ||
	    atomic_load_explicit(&folio->refcount, memory_order_relaxed) != 2)
		goto out;
	if (mapping->a_ops->release_folio ? !mapping->a_ops->release_folio(folio) :
					    folio->private != NULL)
		goto out;
	freed = pc_remove_folio_if_unused(folio, 2);
out:
	if (!freed)
		lru_rotate(cache, folio);
	folio_unlock(folio);
	folio_put(folio);
	return freed;
}

/* Walk the LRU until @want bytes were dropped or each folio was seen twice. */
static void shrink_lru(struct pagecache *cache, uint64_t want)
{
	uint64_t freed = 0, scanned = 0, nr = 0, limit;
	bool empty = false;

	pthread_mutex_lock(&cache->lru_lock);
	limit = 2 * cache->lru_len;
	pthread_mutex_unlock(&cache->lru_lock);
	while (freed < want && scanned < limit) {
		struct folio *folio = lru_take_oldest(cache, &empty);
		size_t size;

		if (empty)
			break;
		scanned++;
		if (!folio)
			continue;
		size = folio_size(folio);
		if (reclaim_folio(cache, folio)) {
			freed += size;
			nr++;
		}
	}
	pc_stat_add(&cache->reclaim_scanned, scanned);
	pc_stat_add(&cache->reclaimed, nr);
}

/*
 * Bytes to free so that @size fits with a little room to spare: reclaiming
 * in batches keeps every allocation from walking the LRU.
 */
static uint64_t reclaim_goal(struct pagecache *cache, uint64_t size)
{
	uint64_t batch = min(max(cache->budget_bytes >> 6, (uint64_t)PAGE_SIZE), 1ULL << 20);
	uint64_t need = atomic_load_explicit(&cache->bytes, memory_order_relaxed) + size + batch;

	return need > cache->budget_bytes ? need - cache->budget_bytes : size;
}

static void unstall(struct pagecache *cache)
{
	if (atomic_load_explicit(&cache->stalled, memory_order_relaxed))
		atomic_store_explicit(&cache->stalled, false, memory_order_relaxed);
}

/*
 * The budget is full: reclaim, then wait for writeback or frees and
 * reclaim again, going into the slack after PAGECACHE_RECLAIM_WAIT_MS (at
 * once when stalled) and failing after PAGECACHE_ALLOC_WAIT_MS.  The
 * sequence number is read before each reclaim pass so that progress made
 * during the pass cuts the next wait short instead of being missed.
 * Relaxed on stalled: it is a hint that only chooses how long to wait.
 */
static int charge_slow(struct pagecache *cache, uint64_t size)
{
	uint64_t start = pc_now_ns(), now;
	uint64_t soft = start + PAGECACHE_RECLAIM_WAIT_MS * PC_NSEC_PER_MS;
	uint64_t hard = start + PAGECACHE_ALLOC_WAIT_MS * PC_NSEC_PER_MS;
	bool waited = false;
	int ret = 0;

	if (size > cache->budget_bytes + cache->slack_bytes) {
		pc_stat_add(&cache->alloc_failures, 1);
		return -ENOMEM;
	}
	if (atomic_load_explicit(&cache->stalled, memory_order_relaxed))
		soft = start;
	for (;;) {
		uint64_t seq = pc_progress_seq(cache);

		shrink_lru(cache, reclaim_goal(cache, size));
		if (try_charge(cache, size, cache->budget_bytes)) {
			unstall(cache);
			break;
		}
		now = pc_now_ns();
		if (now >= soft &&
		    try_charge(cache, size, cache->budget_bytes + cache->slack_bytes)) {
			atomic_store_explicit(&cache->stalled, true, memory_order_relaxed);
			pc_stat_add(&cache->alloc_over_budget, 1);
			break;
		}
		if (now >= hard) {
			pc_stat_add(&cache->alloc_failures, 1);
			ret = -ENOMEM;
			break;
		}
		pc_flusher_kick(cache, PC_KICK_RECLAIM);
		waited = true;
		pc_wait_progress(cache, seq, now < soft ? soft : hard);
	}
	if (waited) {
		pc_stat_add(&cache->alloc_waits, 1);
		pc_stat_add(&cache->alloc_wait_ns, pc_now_ns() - start);
	}
	return ret;
}

int pc_charge(struct pagecache *cache, uint64_t size)
{
	if (!cache->budget_bytes) {
		update_peak(cache,
			    atomic_fetch_add_explicit(&cache->bytes, size, memory_order_relaxed) +
				    size);
		return 0;
	}
	if (try_charge(cache, size, cache->budget_bytes)) {
		unstall(cache);
		return 0;
	}
	return charge_slow(cache, size);
}

void pc_uncharge(struct pagecache *cache, uint64_t size)
{
	pc_stat_sub(&cache->bytes, size);
	pc_progress(cache);
}

/* Caller holds a reference, so the folio cannot be freed under us. */
void pc_lru_written_back(struct folio *folio)
{
	struct pagecache *cache = pc_folio_cache(folio);

	if (!cache->budget_bytes || (atomic_load_explicit(&folio->flags, memory_order_relaxed) &
				     (FOLIO_REFERENCED | FOLIO_DIRTY)))
		return;
	pthread_mutex_lock(&cache->lru_lock);
	if (atomic_load_explicit(&folio->flags, memory_order_relaxed) & FOLIO_LRU)
		pc_lru_move_locked(cache, folio, true);
	pthread_mutex_unlock(&cache->lru_lock);
}
