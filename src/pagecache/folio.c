/* SPDX-License-Identifier: MIT */
/*
 * Folios: allocation and references, the folio lock, state bits, and the
 * dirty / writeback transitions that keep the mapping's tags and the
 * cache's counters in step.
 *
 * Sleeping.  Every wait (folio lock, locked, writeback) sleeps on a Linux
 * futex on the 32-bit flags word.  A sleeper sets FOLIO_WAITERS before it
 * sleeps, and FUTEX_WAIT only sleeps if the word still holds the value the
 * sleeper last saw, so a change between the check and the sleep is never
 * missed.  Whoever clears LOCKED or WRITEBACK clears WAITERS in the same
 * atomic operation and, if it was set, wakes every sleeper on the word;
 * sleepers whose condition still holds set WAITERS again and go back to
 * sleep.  The futex only provides sleeping: every happens-before edge comes
 * from the C11 atomics on the flags word (which is also what ThreadSanitizer
 * sees).
 *
 * Lifetime while waking.  A waker must keep the folio alive until its
 * FUTEX_WAKE: folio_unlock() callers hold a reference, and the paths that
 * may run without one (folio_end_read, folio_end_writeback) take a
 * temporary one.
 */
#include "pagecache/internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The futex syscalls see the atomic flags word as a plain 32-bit integer. */
_Static_assert(sizeof(((struct folio *)0)->flags) == sizeof(uint32_t), "futex word size");

static uint32_t *flags_word(struct folio *folio)
{
	return (uint32_t *)&folio->flags;
}

/* Sleep unless the flags word has changed from @seen. */
static void flags_sleep(struct folio *folio, uint32_t seen)
{
	syscall(SYS_futex, flags_word(folio), FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void flags_wake_all(struct folio *folio)
{
	syscall(SYS_futex, flags_word(folio), FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/*
 * Announce a sleeper in *seen (which holds the word's current value) and
 * sleep.  Returns with *seen reloaded.  Setting WAITERS orders no data; the
 * acquire (on the CAS, whose failure order cannot be stronger than its
 * success order, and on the reload) is for the caller: when it finds its
 * condition gone in *seen it must also see what the clearer published
 * before its release.
 */
static void flags_wait_once(struct folio *folio, uint32_t *seen)
{
	uint32_t v = *seen;

	if (!(v & FOLIO_WAITERS)) {
		if (!atomic_compare_exchange_strong_explicit(&folio->flags, &v, v | FOLIO_WAITERS,
							     memory_order_acquire,
							     memory_order_acquire)) {
			*seen = v;
			return;
		}
		v |= FOLIO_WAITERS;
	}
	flags_sleep(folio, v);
	*seen = atomic_load_explicit(&folio->flags, memory_order_acquire);
}

/* Sleep until @bit is clear.  Returns with acquire ordering on the clear. */
static void folio_wait_bit(struct folio *folio, uint32_t bit)
{
	uint32_t v = atomic_load_explicit(&folio->flags, memory_order_acquire);

	while (v & bit)
		flags_wait_once(folio, &v);
}

/*
 * Clear @clear and set @set in one step and wake sleepers.  Release: the
 * clearer's writes (read data, private state, written-back state) happen
 * before anything a thread that observes the new value does.
 */
static void flags_change_and_wake(struct folio *folio, uint32_t clear, uint32_t set)
{
	uint32_t old = atomic_load_explicit(&folio->flags, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(&folio->flags, &old,
						      (old & ~(clear | FOLIO_WAITERS)) | set,
						      memory_order_release, memory_order_relaxed))
		;
	if (old & FOLIO_WAITERS)
		flags_wake_all(folio);
}

/* The data bytes are charged (and, with a budget, made room for) before they are allocated. */
struct folio *folio_alloc(struct pagecache *cache, unsigned int order)
{
	struct pc_folio *pf;
	size_t size;

	if (!cache || order > PC_MAX_ORDER)
		return NULL;
	size = PAGE_SIZE << order;
	if (pc_charge(cache, size))
		return NULL;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		goto uncharge;
	pf->folio.data = aligned_alloc(PAGE_SIZE, size);
	if (!pf->folio.data) {
		free(pf);
		goto uncharge;
	}
	pf->cache = cache;
	pf->folio.order = (uint8_t)order;
	atomic_init(&pf->folio.flags, 0);
	atomic_init(&pf->folio.refcount, 1);
	pc_stat_add(&cache->folios, 1);
	pc_stat_add(&cache->meta_bytes, sizeof(*pf));
	return &pf->folio;
uncharge:
	pc_uncharge(cache, size);
	return NULL;
}

/* The last reference is gone: nobody else can see the folio. */
static void folio_free(struct folio *folio)
{
	struct pc_folio *pf = container_of(folio, struct pc_folio, folio);
	struct pagecache *cache = pf->cache;
	uint32_t flags = atomic_load_explicit(&folio->flags, memory_order_relaxed);

	if (flags & FOLIO_DIRTY)
		pc_stat_sub(&cache->dirty_bytes, folio_size(folio));
	if (flags & FOLIO_WRITEBACK)
		pc_stat_sub(&cache->writeback_bytes, folio_size(folio));
	pc_stat_sub(&cache->folios, 1);
	pc_stat_sub(&cache->meta_bytes, sizeof(*pf));
	free(folio->data);
	pc_uncharge(cache, folio_size(folio));
	free(pf);
}

/*
 * Relaxed: the caller already holds a reference, or the mapping lock or the
 * folio lock of a folio in a mapping (either keeps the mapping's reference),
 * so the folio cannot be freed meanwhile and the increment orders nothing.
 */
void folio_get(struct folio *folio)
{
	atomic_fetch_add_explicit(&folio->refcount, 1, memory_order_relaxed);
}

/*
 * Release: this holder's accesses to the folio happen before the free;
 * acquire: the thread that drops the last reference sees every other
 * holder's accesses before it frees.
 */
void folio_put(struct folio *folio)
{
	if (atomic_fetch_sub_explicit(&folio->refcount, 1, memory_order_acq_rel) == 1)
		folio_free(folio);
}

/* Acquire: the previous holder's writes under the lock are visible to us. */
bool folio_trylock(struct folio *folio)
{
	return !(atomic_fetch_or_explicit(&folio->flags, FOLIO_LOCKED, memory_order_acquire) &
		 FOLIO_LOCKED);
}

void folio_lock(struct folio *folio)
{
	uint32_t v;

	if (folio_trylock(folio))
		return;
	v = atomic_load_explicit(&folio->flags, memory_order_relaxed);
	for (;;) {
		if (v & FOLIO_LOCKED) {
			flags_wait_once(folio, &v);
			continue;
		}
		/* Acquire on success, as in folio_trylock(). */
		if (atomic_compare_exchange_weak_explicit(&folio->flags, &v, v | FOLIO_LOCKED,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
	}
}

/* The caller holds a reference (see "Lifetime while waking" above). */
void folio_unlock(struct folio *folio)
{
	flags_change_and_wake(folio, FOLIO_LOCKED, 0);
}

void folio_wait_locked(struct folio *folio)
{
	folio_wait_bit(folio, FOLIO_LOCKED);
}

/* Release: the data written into the folio is visible to whoever sees UPTODATE. */
void folio_mark_uptodate(struct folio *folio)
{
	atomic_fetch_or_explicit(&folio->flags, FOLIO_UPTODATE, memory_order_release);
}

/* Relaxed: cleared under the folio lock, whose release orders it. */
void folio_clear_uptodate(struct folio *folio)
{
	atomic_fetch_and_explicit(&folio->flags, ~FOLIO_UPTODATE, memory_order_relaxed);
}

/*
 * The reader that submitted the read may hold no reference (readahead), and
 * once LOCKED is clear truncation may free the folio: keep it alive until
 * the wake-up is done.
 */
void folio_end_read(struct folio *folio, bool uptodate)
{
	folio_get(folio);
	if (uptodate)
		flags_change_and_wake(folio, FOLIO_LOCKED | FOLIO_ERROR, FOLIO_UPTODATE);
	else
		flags_change_and_wake(folio, FOLIO_LOCKED, FOLIO_ERROR);
	folio_put(folio);
}

/* Acquire and release: callers may use these bits to publish their own data. */
void folio_set_flag(struct folio *folio, uint32_t bit)
{
	atomic_fetch_or_explicit(&folio->flags, bit, memory_order_acq_rel);
}

void folio_clear_flag(struct folio *folio, uint32_t bit)
{
	atomic_fetch_and_explicit(&folio->flags, ~bit, memory_order_acq_rel);
}

/*
 * Two uses make a folio hot, as the kernel's inactive / active lists do:
 * data read or written once, then never again (a stream), gets no second
 * chance from reclaim; data used over and over keeps getting one.
 * Relaxed: a hint for reclaim; test first so hot folios stay read-shared.
 */
void pc_folio_mark_accessed(struct folio *folio)
{
	uint32_t flags = atomic_load_explicit(&folio->flags, memory_order_relaxed);

	if (!(flags & PC_FOLIO_SEEN))
		atomic_fetch_or_explicit(&folio->flags, PC_FOLIO_SEEN, memory_order_relaxed);
	else if (!(flags & FOLIO_REFERENCED))
		atomic_fetch_or_explicit(&folio->flags, FOLIO_REFERENCED, memory_order_relaxed);
}

/* Set or clear @tag in the folio's mapping, if it has one.  ->mapping is stable: see callers. */
static void folio_tag(struct folio *folio, enum mapping_tag tag, bool set)
{
	struct address_space *mapping = folio->mapping;

	if (!mapping)
		return;
	pthread_mutex_lock(&mapping->lock);
	pc_mapping_tag_locked(mapping, folio, tag, set);
	pthread_mutex_unlock(&mapping->lock);
}

/*
 * DIRTY changes only under the folio lock (rule 4), which also keeps
 * ->mapping stable, so flag, tag and counter change together from every
 * other DIRTY changer's point of view.  Relaxed: the folio lock orders the
 * changers; lock-free testers of DIRTY only get a hint.
 */
bool folio_mark_dirty(struct folio *folio)
{
	if (atomic_fetch_or_explicit(&folio->flags, FOLIO_DIRTY, memory_order_relaxed) &
	    FOLIO_DIRTY)
		return false;
	pc_folio_set_dirtied_at(folio, pc_now_ns());
	pc_stat_add(&pc_folio_cache(folio)->dirty_bytes, folio_size(folio));
	folio_tag(folio, MAPPING_TAG_DIRTY, true);
	return true;
}

/* Relaxed for the reason given above folio_mark_dirty(). */
bool folio_clear_dirty_for_io(struct folio *folio)
{
	if (!(atomic_fetch_and_explicit(&folio->flags, ~FOLIO_DIRTY, memory_order_relaxed) &
	      FOLIO_DIRTY))
		return false;
	pc_stat_sub(&pc_folio_cache(folio)->dirty_bytes, folio_size(folio));
	folio_tag(folio, MAPPING_TAG_DIRTY, false);
	return true;
}

void folio_cancel_dirty(struct folio *folio)
{
	folio_clear_dirty_for_io(folio);
}

/*
 * Set WRITEBACK with the WRITEBACK tag, dropping TOWRITE (this folio's
 * write is under way), all under the mapping lock so tagged searches see
 * flag and tags agree.  Relaxed: the folio lock orders this against other
 * changers; the release that matters is the clear at completion.
 */
void folio_start_writeback(struct folio *folio)
{
	struct address_space *mapping = folio->mapping;
	uint32_t old;

	if (mapping)
		pthread_mutex_lock(&mapping->lock);
	old = atomic_fetch_or_explicit(&folio->flags, FOLIO_WRITEBACK, memory_order_relaxed);
	if (mapping) {
		pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_WRITEBACK, true);
		pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_TOWRITE, false);
		pthread_mutex_unlock(&mapping->lock);
	}
	if (!(old & FOLIO_WRITEBACK))
		pc_stat_add(&pc_folio_cache(folio)->writeback_bytes, folio_size(folio));
}

/*
 * Called without the folio lock.  ->mapping is stable until WRITEBACK is
 * clear, because removal waits for (or skips) folios under writeback; so
 * it is read first and the flag is cleared last, under the mapping lock
 * together with the tag.  The temporary reference covers the wake-up: once
 * the flag is clear, truncation may drop the mapping's reference.  Once
 * the flag is clear, reclaim may take the folio: put it where reclaim looks
 * first and wake allocations and throttled writers waiting for this.
 */
void folio_end_writeback(struct folio *folio)
{
	struct address_space *mapping = folio->mapping;
	uint32_t old;

	folio_get(folio);
	if (mapping) {
		pthread_mutex_lock(&mapping->lock);
		pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_WRITEBACK, false);
	}
	/*
	 * Uncount before the flag clears (only this function clears it), so
	 * that whoever saw the writeback end (pagecache_sync, fdatawait) also
	 * sees writeback_bytes without it: the release below orders the two.
	 */
	if (atomic_load_explicit(&folio->flags, memory_order_relaxed) & FOLIO_WRITEBACK)
		pc_stat_sub(&pc_folio_cache(folio)->writeback_bytes, folio_size(folio));
	/* Release: the I/O's effects are visible to folio_wait_writeback() returners. */
	old = atomic_fetch_and_explicit(&folio->flags, ~(FOLIO_WRITEBACK | FOLIO_WAITERS),
					memory_order_release);
	if (mapping)
		pthread_mutex_unlock(&mapping->lock);
	if (old & FOLIO_WAITERS)
		flags_wake_all(folio);
	pc_lru_written_back(folio);
	pc_progress(pc_folio_cache(folio));
	folio_put(folio);
}

/* Folio locked, so ->mapping is stable. */
void pc_folio_clear_towrite(struct folio *folio)
{
	folio_tag(folio, MAPPING_TAG_TOWRITE, false);
}

void folio_wait_writeback(struct folio *folio)
{
	folio_wait_bit(folio, FOLIO_WRITEBACK);
}

void folio_zero_range(struct folio *folio, size_t offset, size_t len)
{
	memset(folio_address(folio, offset), 0, len);
}
