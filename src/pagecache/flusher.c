/* SPDX-License-Identifier: MIT */
/*
 * Writeback driven by the page cache: the list of mappings with dirty or
 * writeback folios, the flusher thread, dirty throttling of writers
 * (balance_dirty_pages_ratelimited) and pagecache_sync().  All writing goes
 * through ->writepages; this file never knows how a filesystem writes.
 *
 * The list.  A mapping is on the cache's writeback list (cache->wb_head,
 * under wb_lock) while it has folios tagged DIRTY or WRITEBACK
 * (pc_wb_track, called by the tag accounting in mapping.c under
 * mapping->lock) and is not being destroyed.  Users that call ->writepages
 * on a listed mapping (the flusher, pagecache_sync) pin it first: under
 * wb_lock they bump wb_users, drop the lock for the call, and unpin
 * afterwards.  pc_wb_unhook() marks the mapping dying, unlists it and
 * sleeps on wb_idle until wb_users is zero, which is what makes
 * inode_destroy() safe while the flusher is writing that very mapping.
 *
 * The flusher wakes every flusher_interval_ms, or at once when kicked
 * (pc_flusher_kick: PC_KICK_BACKGROUND from writers past the background
 * threshold, PC_KICK_RECLAIM from allocations that found nothing clean).
 * Each run:
 *   1. expired data: every mapping dirty since before now - dirty_expire_ms
 *      is written back (WB_SYNC_NONE, in chunks of
 *      PAGECACHE_WRITEBACK_CHUNK folios, at most EXPIRED_CHUNKS_MAX chunks
 *      per mapping per run) until a pass covers it all; what that pass
 *      left dirty (locked or redirtied folios) dates the mapping anew by
 *      the oldest folio->dirtied_at among them (among the first
 *      OLDEST_SCAN_MAX);
 *   2. background: while dirty bytes exceed the background threshold (or
 *      once, for a reclaim kick), one chunk of each dirty mapping per round
 *      until a round writes nothing.
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <stdlib.h>

/* Most dirty folios looked at to date a mapping after a writeback pass. */
#define OLDEST_SCAN_MAX 4096U
/* Most chunks the flusher writes from one expired mapping before it moves on. */
#define EXPIRED_CHUNKS_MAX 16U

/* Caller holds wb_lock. */
static void wb_list_add(struct pagecache *cache, struct address_space *mapping)
{
	mapping->wb_next = NULL;
	mapping->wb_prev = cache->wb_tail;
	if (cache->wb_tail)
		cache->wb_tail->wb_next = mapping;
	else
		cache->wb_head = mapping;
	cache->wb_tail = mapping;
	cache->wb_nr++;
	mapping->wb_listed = true;
}

/* Caller holds wb_lock. */
static void wb_list_del(struct pagecache *cache, struct address_space *mapping)
{
	if (mapping->wb_prev)
		mapping->wb_prev->wb_next = mapping->wb_next;
	else
		cache->wb_head = mapping->wb_next;
	if (mapping->wb_next)
		mapping->wb_next->wb_prev = mapping->wb_prev;
	else
		cache->wb_tail = mapping->wb_prev;
	mapping->wb_prev = mapping->wb_next = NULL;
	cache->wb_nr--;
	mapping->wb_listed = false;
}

void pc_wb_track(struct address_space *mapping, bool busy)
{
	struct pagecache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	if (busy && !mapping->wb_listed &&
	    !atomic_load_explicit(&mapping->wb_dying, memory_order_relaxed))
		wb_list_add(cache, mapping);
	else if (!busy && mapping->wb_listed)
		wb_list_del(cache, mapping);
	pthread_mutex_unlock(&cache->wb_lock);
}

/*
 * wb_dying is written under wb_lock and read under it by pc_wb_track();
 * relaxed lock-free reads elsewhere only skip work early.
 */
void pc_wb_unhook(struct address_space *mapping)
{
	struct pagecache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	atomic_store_explicit(&mapping->wb_dying, true, memory_order_relaxed);
	if (mapping->wb_listed)
		wb_list_del(cache, mapping);
	while (mapping->wb_users)
		pthread_cond_wait(&cache->wb_idle, &cache->wb_lock);
	pthread_mutex_unlock(&cache->wb_lock);
}

static bool wb_dying(const struct address_space *mapping)
{
	return atomic_load_explicit(&((struct address_space *)mapping)->wb_dying,
				    memory_order_relaxed);
}

static bool flusher_stopping(struct pagecache *cache)
{
	return atomic_load_explicit(&cache->flusher_stop, memory_order_relaxed);
}

/* Pinned mappings: each must be passed to wb_unpin() once, then free(v). */
struct wb_pins {
	struct address_space **v;
	size_t n;
};

/*
 * Pin every listed mapping.  The array is allocated outside wb_lock, so
 * the count may grow meanwhile: retry with the new count.  Returns 0 or
 * -ENOMEM.
 */
static int wb_pin_all(struct pagecache *cache, struct wb_pins *pins)
{
	size_t cap = 0;

	pins->v = NULL;
	pins->n = 0;
	for (;;) {
		pthread_mutex_lock(&cache->wb_lock);
		if (cache->wb_nr <= cap) {
			for (struct address_space *m = cache->wb_head; m; m = m->wb_next) {
				m->wb_users++;
				pins->v[pins->n++] = m;
			}
			pthread_mutex_unlock(&cache->wb_lock);
			return 0;
		}
		cap = cache->wb_nr + 16;
		pthread_mutex_unlock(&cache->wb_lock);
		free(pins->v);
		pins->v = malloc(cap * sizeof(*pins->v));
		if (!pins->v)
			return -ENOMEM;
	}
}

static void wb_unpin(struct address_space *mapping)
{
	struct pagecache *cache = mapping->cache;

	pthread_mutex_lock(&cache->wb_lock);
	if (--mapping->wb_users == 0 && wb_dying(mapping))
		pthread_cond_broadcast(&cache->wb_idle);
	pthread_mutex_unlock(&cache->wb_lock);
}

/*
 * One WB_SYNC_NONE ->writepages pass over the whole mapping, stopping
 * after @nr folios.  Returns the folios written (as counted down in
 * wbc.nr_to_write by writeback_iter); *more is true if it stopped at @nr.
 * The caller holds no page cache lock and keeps the mapping alive.
 */
static long write_chunk(struct address_space *mapping, long nr, bool *more)
{
	struct writeback_control wbc = {
		.range_start = 0,
		.range_end = UINT64_MAX,
		.sync_mode = WB_SYNC_NONE,
		.nr_to_write = nr,
	};

	*more = false;
	if (!mapping->a_ops->writepages)
		return 0;
	/* Errors are the filesystem's to record (mapping_set_error); fsync reports them. */
	mapping->a_ops->writepages(mapping, &wbc);
	*more = wbc.nr_to_write <= 0;
	return nr - max(wbc.nr_to_write, 0L);
}

static bool has_dirty(const struct address_space *mapping)
{
	return atomic_load_explicit(&((struct address_space *)mapping)->nr_dirty,
				    memory_order_relaxed) != 0;
}

static bool expired(const struct address_space *mapping, uint64_t cutoff)
{
	return has_dirty(mapping) &&
	       atomic_load_explicit(&((struct address_space *)mapping)->dirtied_when,
				    memory_order_relaxed) <= cutoff;
}

/* Step 1 of a flusher run for one mapping. */
static void flush_if_expired(struct pagecache *cache, struct address_space *mapping,
			     uint64_t cutoff)
{
	bool more = true;
	long n;

	for (unsigned int i = 0; i < EXPIRED_CHUNKS_MAX && more; i++) {
		if (flusher_stopping(cache) || wb_dying(mapping) || !expired(mapping, cutoff))
			return;
		n = write_chunk(mapping, PAGECACHE_WRITEBACK_CHUNK, &more);
		pc_stat_add(&cache->flusher_written, (uint64_t)n);
	}
	if (!more && has_dirty(mapping))
		pc_mapping_update_dirtied_when(mapping, OLDEST_SCAN_MAX);
}

static void flush_expired(struct pagecache *cache)
{
	uint64_t now = pc_now_ns();
	struct wb_pins pins;

	if (now < cache->expire_ns || wb_pin_all(cache, &pins))
		return;
	for (size_t i = 0; i < pins.n; i++) {
		flush_if_expired(cache, pins.v[i], now - cache->expire_ns);
		wb_unpin(pins.v[i]);
	}
	free(pins.v);
}

static bool over_background(struct pagecache *cache)
{
	return pc_stat_read(&cache->dirty_bytes) > cache->background_thresh;
}

/* Step 2: @reclaim asks for one round even under the threshold. */
static void flush_background(struct pagecache *cache, bool reclaim)
{
	while (!flusher_stopping(cache) && (reclaim || over_background(cache))) {
		struct wb_pins pins;
		long written = 0, n;
		bool more;

		if (wb_pin_all(cache, &pins))
			return;
		for (size_t i = 0; i < pins.n; i++) {
			struct address_space *m = pins.v[i];

			if (!flusher_stopping(cache) && !wb_dying(m) && has_dirty(m) &&
			    (reclaim || over_background(cache))) {
				n = write_chunk(m, PAGECACHE_WRITEBACK_CHUNK, &more);
				pc_stat_add(&cache->flusher_written, (uint64_t)n);
				written += n;
			}
			wb_unpin(m);
		}
		free(pins.v);
		reclaim = false;
		if (!written)
			return;
	}
}

/*
 * Sleep for an interval or until kicked or stopped.  Returns the kicks
 * seen (0 on a timer wake-up); *stop when the cache is being destroyed.
 */
static uint32_t flusher_sleep(struct pagecache *cache, bool *stop)
{
	struct timespec ts = pc_timespec(pc_now_ns() + cache->interval_ns);

	pthread_mutex_lock(&cache->wb_lock);
	while (!flusher_stopping(cache) && !atomic_load(&cache->flusher_kick)) {
		if (pthread_cond_timedwait(&cache->flusher_cond, &cache->wb_lock, &ts) == ETIMEDOUT)
			break;
	}
	*stop = flusher_stopping(cache);
	pthread_mutex_unlock(&cache->wb_lock);
	return atomic_exchange(&cache->flusher_kick, 0);
}

static void *flusher_main(void *arg)
{
	struct pagecache *cache = arg;
	bool stop;

	for (;;) {
		uint32_t why = flusher_sleep(cache, &stop);

		if (stop)
			return NULL;
		pc_stat_add(&cache->flusher_runs, 1);
		flush_expired(cache);
		flush_background(cache, why & PC_KICK_RECLAIM);
	}
}

/* has_flusher is set first: the thread itself may kick (allocating in ->writepages). */
int pc_flusher_start(struct pagecache *cache)
{
	cache->has_flusher = true;
	if (pthread_create(&cache->flusher, NULL, flusher_main, cache)) {
		cache->has_flusher = false;
		return -ENOMEM;
	}
	return 0;
}

void pc_flusher_stop(struct pagecache *cache)
{
	if (!cache->has_flusher)
		return;
	pthread_mutex_lock(&cache->wb_lock);
	atomic_store_explicit(&cache->flusher_stop, true, memory_order_relaxed);
	pthread_cond_signal(&cache->flusher_cond);
	pthread_mutex_unlock(&cache->wb_lock);
	pthread_join(cache->flusher, NULL);
	cache->has_flusher = false;
}

/*
 * Memory ordering: the kick bit is set (seq_cst) before wb_lock is taken
 * to signal, and the flusher tests the bits under wb_lock before it
 * sleeps, so a kick is never lost.  A kick whose bit was already pending
 * needs no signal: whoever set it signalled, and the flusher clears the
 * bits only after it woke.
 */
void pc_flusher_kick(struct pagecache *cache, uint32_t why)
{
	if (!cache->has_flusher || (atomic_fetch_or(&cache->flusher_kick, why) & why) == why)
		return;
	pc_stat_add(&cache->writeback_kicks, 1);
	pthread_mutex_lock(&cache->wb_lock);
	pthread_cond_signal(&cache->flusher_cond);
	pthread_mutex_unlock(&cache->wb_lock);
}

static bool over_dirty_limit(struct pagecache *cache)
{
	return pc_stat_read(&cache->dirty_bytes) + pc_stat_read(&cache->writeback_bytes) >
	       cache->dirty_thresh;
}

/*
 * Write back the caller's own dirty folios and wait for writeback to end
 * until dirty + writeback bytes are under the limit, for at most
 * PAGECACHE_THROTTLE_WAIT_MS.  The flusher is kicked only once the writer
 * has written a chunk itself and still has to wait, so the two do not
 * start by fighting over the same folios.  The sequence number is read
 * before the check so that a completion in between cuts the wait short.
 */
static void throttle(struct pagecache *cache, struct address_space *mapping)
{
	uint64_t start = pc_now_ns();
	uint64_t deadline = start + PAGECACHE_THROTTLE_WAIT_MS * PC_NSEC_PER_MS;
	bool more;

	pc_stat_add(&cache->throttle_waits, 1);
	for (;;) {
		uint64_t seq = pc_progress_seq(cache);

		if (has_dirty(mapping))
			pc_stat_add(&cache->throttle_written,
				    (uint64_t)write_chunk(mapping, PAGECACHE_WRITEBACK_CHUNK,
							  &more));
		if (!over_dirty_limit(cache) || pc_now_ns() >= deadline)
			break;
		if (over_background(cache))
			pc_flusher_kick(cache, PC_KICK_BACKGROUND);
		pc_wait_progress(cache, seq, deadline);
	}
	pc_stat_add(&cache->throttle_wait_ns, pc_now_ns() - start);
}

void balance_dirty_pages_ratelimited(struct address_space *mapping)
{
	struct pagecache *cache = mapping->cache;

	if (!cache->budget_bytes)
		return;
	if (over_dirty_limit(cache))
		throttle(cache, mapping);
	if (over_background(cache))
		pc_flusher_kick(cache, PC_KICK_BACKGROUND);
}

int pagecache_sync(struct pagecache *cache)
{
	struct wb_pins pins;
	int ret = 0, err;

	if (wb_pin_all(cache, &pins))
		return -ENOMEM;
	for (size_t i = 0; i < pins.n; i++) {
		if (wb_dying(pins.v[i])) {
			wb_unpin(pins.v[i]);
			pins.v[i] = NULL;
			continue;
		}
		err = filemap_fdatawrite_range(pins.v[i], 0, UINT64_MAX);
		if (err && !ret)
			ret = err;
	}
	for (size_t i = 0; i < pins.n; i++) {
		if (!pins.v[i])
			continue;
		pc_wait_all_writeback(pins.v[i]);
		wb_unpin(pins.v[i]);
	}
	free(pins.v);
	return ret;
}
