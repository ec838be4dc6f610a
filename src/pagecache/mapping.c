/* SPDX-License-Identifier: MIT */
/*
 * Mappings: creation, the folio lookup and insertion entry points, batch
 * gathers and tags.  Every index access happens under mapping->lock, held
 * only inside these functions.
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <stdlib.h>

int pc_mapping_create(struct pagecache *cache, struct inode *host,
		      const struct address_space_ops *aops, struct address_space **out)
{
	struct address_space *mapping = calloc(1, sizeof(*mapping));

	if (!mapping)
		return -ENOMEM;
	if (pthread_mutex_init(&mapping->lock, NULL)) {
		free(mapping);
		return -ENOMEM;
	}
	pc_index_init(&mapping->index, &cache->meta_bytes);
	atomic_init(&mapping->nr_folios, 0);
	atomic_init(&mapping->nr_dirty, 0);
	atomic_init(&mapping->nr_writeback, 0);
	atomic_init(&mapping->dirtied_when, 0);
	atomic_init(&mapping->wb_dying, false);
	mapping->host = host;
	mapping->cache = cache;
	mapping->a_ops = aops;
	*out = mapping;
	return 0;
}

void pc_mapping_destroy(struct address_space *mapping)
{
	pc_wb_unhook(mapping);
	pc_index_destroy(&mapping->index);
	pthread_mutex_destroy(&mapping->lock);
	free(mapping);
}

struct inode *mapping_host(const struct address_space *mapping)
{
	return mapping->host;
}

struct pagecache *mapping_cache(const struct address_space *mapping)
{
	return mapping->cache;
}

uint64_t mapping_nr_folios(const struct address_space *mapping)
{
	return atomic_load_explicit((_Atomic uint64_t *)&mapping->nr_folios, memory_order_relaxed);
}

/*
 * Count a DIRTY or WRITEBACK tag that changed on @folio, and tell the
 * flusher's list when the mapping gains its first or loses its last folio
 * so tagged.  The counts follow the tags, not the folio flags, so they stay
 * exact however a folio enters or leaves the index.  Caller holds
 * mapping->lock; the counts are written only under it.
 */
static void account_tag(struct address_space *mapping, struct folio *folio, enum mapping_tag tag,
			bool set)
{
	_Atomic uint64_t *count;
	uint64_t n;
	bool busy;

	if (tag == MAPPING_TAG_DIRTY)
		count = &mapping->nr_dirty;
	else if (tag == MAPPING_TAG_WRITEBACK)
		count = &mapping->nr_writeback;
	else
		return;
	n = atomic_load_explicit(count, memory_order_relaxed);
	n = set ? n + 1 : n - 1;
	atomic_store_explicit(count, n, memory_order_relaxed);
	if (tag == MAPPING_TAG_DIRTY && set && n == 1)
		atomic_store_explicit(&mapping->dirtied_when, pc_folio_dirtied_at(folio),
				      memory_order_relaxed);
	busy = atomic_load_explicit(&mapping->nr_dirty, memory_order_relaxed) +
		       atomic_load_explicit(&mapping->nr_writeback, memory_order_relaxed) !=
	       0;
	if (busy != mapping->wb_tracked) {
		mapping->wb_tracked = busy;
		pc_wb_track(mapping, busy);
	}
}

void pc_mapping_tag_locked(struct address_space *mapping, struct folio *folio, enum mapping_tag tag,
			   bool set)
{
	bool was = set ? pc_index_set_tag(&mapping->index, folio, tag) :
			 pc_index_clear_tag(&mapping->index, folio, tag);

	if (was != set)
		account_tag(mapping, folio, tag, set);
}

/*
 * The caller holds the folio lock and its own reference; the folio is not
 * visible to anyone else yet, so ->index and ->mapping may be set before
 * the index publishes it (the mapping lock orders them for lookups).
 */
int filemap_add_folio(struct address_space *mapping, struct folio *folio, uint64_t index)
{
	uint64_t nr = 1ULL << folio->order;
	uint32_t flags;
	int err;

	/* Aligned to its size, and every byte's offset must fit in 64 bits. */
	if (index & (nr - 1) || index > (UINT64_MAX >> PAGE_SHIFT) - (nr - 1))
		return -EINVAL;
	folio->index = index;
	folio->mapping = mapping;
	folio_get(folio); /* the mapping's reference */
	pthread_mutex_lock(&mapping->lock);
	err = pc_index_insert(&mapping->index, folio);
	if (!err) {
		atomic_fetch_add_explicit(&mapping->nr_folios, 1, memory_order_relaxed);
		flags = atomic_load_explicit(&folio->flags, memory_order_relaxed);
		if (flags & FOLIO_DIRTY)
			pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_DIRTY, true);
		if (flags & FOLIO_WRITEBACK)
			pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_WRITEBACK, true);
	}
	pthread_mutex_unlock(&mapping->lock);
	if (err) {
		folio->mapping = NULL;
		folio_put(folio);
		return err;
	}
	pc_lru_add(mapping->cache, folio);
	pc_stat_add(&mapping->cache->folios_added, 1);
	return 0;
}

/* Take @folio out of the index; caller holds mapping->lock and the folio lock. */
static void remove_locked(struct address_space *mapping, struct folio *folio)
{
	pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_DIRTY, false);
	pc_mapping_tag_locked(mapping, folio, MAPPING_TAG_WRITEBACK, false);
	pc_index_delete(&mapping->index, folio);
	atomic_fetch_sub_explicit(&mapping->nr_folios, 1, memory_order_relaxed);
	folio->mapping = NULL;
}

/*
 * After the index no longer holds the folio: LRU, counters, the mapping's
 * reference.  Takes the cache, not the mapping: once the folio is out of
 * the index and mapping->lock dropped, a reclaimer that does not own the
 * mapping cannot tell whether it still exists.
 */
static void remove_finish(struct pagecache *cache, struct folio *folio)
{
	pc_lru_del(cache, folio);
	pc_stat_add(&cache->folios_removed, 1);
	folio_put(folio);
}

/*
 * The caller holds the folio lock and a reference of its own, and the
 * folio is not under writeback (folio_end_writeback relies on ->mapping
 * staying put while WRITEBACK is set).
 */
void filemap_remove_folio(struct folio *folio)
{
	struct address_space *mapping = folio->mapping;

	if (!mapping)
		return;
	pthread_mutex_lock(&mapping->lock);
	remove_locked(mapping, folio);
	pthread_mutex_unlock(&mapping->lock);
	remove_finish(mapping->cache, folio);
}

/*
 * New references to a folio in a mapping are only taken under the mapping
 * lock or by holders of one (internal.h), so a count of @refs seen under
 * the lock cannot grow before the folio leaves the index.
 */
bool pc_remove_folio_if_unused(struct folio *folio, int32_t refs)
{
	struct address_space *mapping = folio->mapping;
	struct pagecache *cache;
	bool unused;

	if (!mapping)
		return false;
	cache = mapping->cache;
	pthread_mutex_lock(&mapping->lock);
	unused = atomic_load_explicit(&folio->refcount, memory_order_relaxed) == refs;
	if (unused)
		remove_locked(mapping, folio);
	pthread_mutex_unlock(&mapping->lock);
	if (unused)
		remove_finish(cache, folio);
	return unused;
}

/* The folio at @index with a new reference, or NULL. */
static struct folio *lookup_get(struct address_space *mapping, uint64_t index)
{
	struct folio *folio;

	pthread_mutex_lock(&mapping->lock);
	folio = pc_index_lookup(&mapping->index, index);
	if (folio)
		folio_get(folio);
	pthread_mutex_unlock(&mapping->lock);
	return folio;
}

/*
 * Lock a looked-up folio as @fgp asks and check that it is still in
 * @mapping and still holds @index (it may have been truncated, or
 * truncated and replaced, while we slept).  Returns 0, -EAGAIN for
 * FGP_NOWAIT (not locked), or 1 (unlocked again) when the caller must drop
 * it and look up again.
 */
static int lock_found(struct address_space *mapping, struct folio *folio, uint64_t index,
		      unsigned int fgp)
{
	if (fgp & FGP_NOWAIT) {
		if (!folio_trylock(folio))
			return -EAGAIN;
	} else {
		folio_lock(folio);
	}
	if (folio->mapping != mapping || index < folio->index || index >= folio_next_index(folio)) {
		folio_unlock(folio);
		return 1;
	}
	return 0;
}

/*
 * Apply FGP_LOCK and FGP_STABLE to a found folio.  Returns 0, or 1 / -EAGAIN
 * after dropping the folio (unlocked, reference put).
 */
static int prepare_found(struct address_space *mapping, struct folio *folio, uint64_t index,
			 unsigned int fgp)
{
	int ret = 0;

	if (fgp & FGP_LOCK) {
		ret = lock_found(mapping, folio, index, fgp);
		if (ret)
			goto drop;
	}
	if ((fgp & FGP_STABLE) && folio_test_writeback(folio)) {
		if (fgp & FGP_NOWAIT) {
			if (fgp & FGP_LOCK)
				folio_unlock(folio);
			ret = -EAGAIN;
			goto drop;
		}
		folio_wait_writeback(folio);
	}
	return 0;
drop:
	folio_put(folio);
	return ret;
}

/* FGP_CREAT: a new folio at @index.  Returns 0, 1 (lost a race: look up again) or -ENOMEM. */
static int create_folio(struct address_space *mapping, uint64_t index, unsigned int fgp,
			struct folio **out)
{
	struct folio *folio = folio_alloc(mapping->cache, 0);
	int err;

	if (!folio)
		return -ENOMEM;
	folio_trylock(folio); /* always succeeds: nobody else can see it */
	err = filemap_add_folio(mapping, folio, index);
	if (err) {
		folio_unlock(folio);
		folio_put(folio);
		return err == -EEXIST ? 1 : err;
	}
	if (!(fgp & FGP_LOCK))
		folio_unlock(folio);
	*out = folio;
	return 0;
}

/*
 * A multi-page folio is found from any of its pages: the returned folio may
 * start before @index (use folio_pos() and folio_size()).  Folios are
 * created with order 0.
 */
int filemap_get_folio(struct address_space *mapping, uint64_t index, unsigned int fgp,
		      struct folio **out)
{
	struct pagecache *cache = mapping->cache;
	struct folio *folio;
	int ret;

	pc_stat_add(&cache->lookups, 1);
	for (;;) {
		folio = lookup_get(mapping, index);
		if (folio) {
			ret = prepare_found(mapping, folio, index, fgp);
			if (ret == 1)
				continue;
			if (ret)
				return ret;
			pc_stat_add(&cache->lookup_hits, 1);
			pc_folio_mark_accessed(folio);
			*out = folio;
			return 0;
		}
		if (!(fgp & FGP_CREAT))
			return -ENOENT;
		ret = create_folio(mapping, index, fgp, out);
		if (ret != 1)
			return ret;
	}
}

static unsigned int gather(struct address_space *mapping, uint64_t *start, uint64_t end, int tag,
			   struct folio **batch, unsigned int nr)
{
	unsigned int n;

	pthread_mutex_lock(&mapping->lock);
	n = pc_index_gather(&mapping->index, start, end, tag, batch, nr);
	for (unsigned int i = 0; i < n; i++)
		folio_get(batch[i]);
	pthread_mutex_unlock(&mapping->lock);
	return n;
}

unsigned int filemap_get_folios(struct address_space *mapping, uint64_t *start, uint64_t end,
				struct folio **batch, unsigned int nr)
{
	return gather(mapping, start, end, PC_INDEX_ANY, batch, nr);
}

unsigned int filemap_get_folios_tag(struct address_space *mapping, uint64_t *start, uint64_t end,
				    enum mapping_tag tag, struct folio **batch, unsigned int nr)
{
	return gather(mapping, start, end, (int)tag, batch, nr);
}

bool mapping_range_tagged(struct address_space *mapping, uint64_t start, uint64_t end,
			  enum mapping_tag tag)
{
	bool tagged;

	pthread_mutex_lock(&mapping->lock);
	tagged = pc_index_find(&mapping->index, &start, end, (int)tag) != NULL;
	pthread_mutex_unlock(&mapping->lock);
	return tagged;
}

void mapping_tag_for_writeback(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct folio *folio;

	pthread_mutex_lock(&mapping->lock);
	while ((folio = pc_index_find(&mapping->index, &start, end, MAPPING_TAG_DIRTY))) {
		pc_index_set_tag(&mapping->index, folio, MAPPING_TAG_TOWRITE);
		start = folio_next_index(folio);
		if (!start)
			break;
	}
	pthread_mutex_unlock(&mapping->lock);
}

void pc_mapping_update_dirtied_when(struct address_space *mapping, unsigned int max)
{
	uint64_t key = 0, oldest = UINT64_MAX;
	struct folio *folio;

	pthread_mutex_lock(&mapping->lock);
	for (unsigned int i = 0; i < max; i++) {
		folio = pc_index_find(&mapping->index, &key, UINT64_MAX, MAPPING_TAG_DIRTY);
		if (!folio)
			break;
		oldest = min(oldest, pc_folio_dirtied_at(folio));
		key = folio_next_index(folio);
		if (!key)
			break;
	}
	if (oldest != UINT64_MAX)
		atomic_store_explicit(&mapping->dirtied_when, oldest, memory_order_relaxed);
	pthread_mutex_unlock(&mapping->lock);
}
