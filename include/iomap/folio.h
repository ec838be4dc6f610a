/* SPDX-License-Identifier: MIT */
/*
 * Folios: the unit of the page cache.  A folio is 2^order pages of file
 * data, aligned in the file to its own size, with a state word, a lock,
 * a reference count and one private word owned by the I/O layer above the
 * page cache (iomap's per-folio state, or buffer heads).
 *
 * Locking rules
 *  1. The folio lock is a sleeping bit lock.  It may be released by a
 *     different thread than the one that took it (a read completion unlocks
 *     the folio its submitter locked).
 *  2. ->mapping, ->index and ->private change only under the folio lock.
 *  3. UPTODATE is set once the data is valid and is cleared only under the
 *     folio lock.  Setting it is a release; testing it is an acquire, so a
 *     reader that sees UPTODATE sees the data.
 *  4. DIRTY is set with the folio locked (or with the data otherwise
 *     pinned); it is cleared under the folio lock by writeback or
 *     invalidation.
 *  5. WRITEBACK is set under the folio lock and cleared at I/O completion,
 *     without it.
 *  6. A folio in a mapping holds one reference for the mapping.  Whoever
 *     looks a folio up gets a reference of their own and drops it with
 *     folio_put().
 */
#ifndef IOMAP_FOLIO_H
#define IOMAP_FOLIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)

struct address_space;

/* State bits of folio->flags. */
#define FOLIO_LOCKED (1U << 0)
#define FOLIO_WAITERS (1U << 1) /* somebody sleeps on this word */
#define FOLIO_UPTODATE (1U << 2) /* every byte of data is valid */
#define FOLIO_DIRTY (1U << 3) /* some data is newer than the disk */
#define FOLIO_WRITEBACK (1U << 4) /* write I/O in flight */
#define FOLIO_ERROR (1U << 5) /* the last read failed */
#define FOLIO_LRU (1U << 6) /* on the cache's LRU list */
#define FOLIO_REFERENCED (1U << 7) /* used since the LRU last looked */
#define FOLIO_CHECKED (1U << 8) /* free for the filesystem's use */

struct folio {
	_Atomic uint32_t flags;
	_Atomic int32_t refcount;
	uint8_t order;
	struct address_space *mapping; /* NULL once removed from the cache */
	uint64_t index; /* file offset >> PAGE_SHIFT; multiple of 1 << order */
	void *data; /* folio_size() bytes, page aligned */
	void *private; /* owned by the I/O layer; see rule 2 */
	/* Page cache internals: protected by the cache's LRU lock. */
	struct folio *lru_prev, *lru_next;
	uint64_t dirtied_at; /* monotonic ns when it last became dirty */
};

static inline size_t folio_size(const struct folio *folio)
{
	return PAGE_SIZE << folio->order;
}

static inline uint64_t folio_pos(const struct folio *folio)
{
	return folio->index << PAGE_SHIFT;
}

static inline uint64_t folio_next_index(const struct folio *folio)
{
	return folio->index + (1ULL << folio->order);
}

static inline void *folio_address(const struct folio *folio, size_t offset)
{
	return (char *)folio->data + offset;
}

static inline bool folio_test(const struct folio *folio, uint32_t bit)
{
	return atomic_load_explicit(&((struct folio *)folio)->flags, memory_order_acquire) & bit;
}

static inline bool folio_test_locked(const struct folio *folio)
{
	return folio_test(folio, FOLIO_LOCKED);
}
static inline bool folio_test_uptodate(const struct folio *folio)
{
	return folio_test(folio, FOLIO_UPTODATE);
}
static inline bool folio_test_dirty(const struct folio *folio)
{
	return folio_test(folio, FOLIO_DIRTY);
}
static inline bool folio_test_writeback(const struct folio *folio)
{
	return folio_test(folio, FOLIO_WRITEBACK);
}

/* References.  folio_put() frees the folio when the last one goes. */
void folio_get(struct folio *folio);
void folio_put(struct folio *folio);

/*
 * The folio lock (rule 1).  folio_unlock() callers must hold a reference
 * (read completions that may not, use folio_end_read()).
 */
void folio_lock(struct folio *folio);
bool folio_trylock(struct folio *folio);
void folio_unlock(struct folio *folio);

/* Sleep until the folio is unlocked; does not take the lock. */
void folio_wait_locked(struct folio *folio);

/* Publish the data (rule 3). */
void folio_mark_uptodate(struct folio *folio);
void folio_clear_uptodate(struct folio *folio);

/*
 * End a read: mark uptodate if @uptodate (else set FOLIO_ERROR) and unlock,
 * in one step so waiters see the final state.  Called by read completions.
 */
void folio_end_read(struct folio *folio, bool uptodate);

/*
 * For bits without a function of their own (ERROR, REFERENCED, CHECKED):
 * LOCKED, WAITERS, DIRTY, WRITEBACK and LRU must only change through the
 * functions here, which wake sleepers and keep tags and counters right.
 */
void folio_set_flag(struct folio *folio, uint32_t bit);
void folio_clear_flag(struct folio *folio, uint32_t bit);

/*
 * Mark dirty and tag the folio dirty in its mapping.  Caller holds the folio
 * lock.  Returns true if the folio was clean before.
 */
bool folio_mark_dirty(struct folio *folio);

/*
 * Writeback: clear DIRTY (and the mapping's dirty tag) before the data is
 * written.  Caller holds the folio lock.  Returns true if it was dirty.
 */
bool folio_clear_dirty_for_io(struct folio *folio);

/* Drop DIRTY without writing (invalidation).  Caller holds the folio lock. */
void folio_cancel_dirty(struct folio *folio);

/* Caller holds the folio lock; the folio must not already be under writeback. */
void folio_start_writeback(struct folio *folio);

/* Clear WRITEBACK and wake waiters.  Any thread, no lock needed. */
void folio_end_writeback(struct folio *folio);

void folio_wait_writeback(struct folio *folio);

/* Zero [offset, offset + len) of the folio's data. */
void folio_zero_range(struct folio *folio, size_t offset, size_t len);

#endif /* IOMAP_FOLIO_H */
