/* SPDX-License-Identifier: MIT */
/*
 * Taking data out of the cache: truncation and hole punching (which discard
 * dirty data) and invalidate_mapping_pages (which only drops what is
 * clean and unused).
 *
 * Callers that change blocks (truncate, punch) hold inode->invalidate_lock
 * exclusive so that no read instantiates folios in the range meanwhile; the
 * page cache takes only folio locks here.
 */
#include <errno.h>

#include "pagecache/internal.h"

#define TRUNCATE_BATCH 16U

static void invalidate(struct folio *folio, size_t offset, size_t len)
{
	const struct address_space_ops *aops = folio->mapping->a_ops;

	if (aops->invalidate_folio)
		aops->invalidate_folio(folio, offset, len);
}

/*
 * Bytes [lstart, lend] meet @folio: remove it if they cover it, else zero
 * and invalidate the covered part.  Waits for writeback either way, so no
 * write of the discarded data is in flight afterwards.
 */
static void truncate_folio(struct address_space *mapping, struct folio *folio, uint64_t lstart,
			   uint64_t lend)
{
	uint64_t fstart = folio_pos(folio), flast = fstart + folio_size(folio) - 1;
	size_t off, len;

	folio_lock(folio);
	if (folio->mapping != mapping)
		goto unlock; /* removed since the gather */
	folio_wait_writeback(folio);
	if (lstart <= fstart && lend >= flast) {
		invalidate(folio, 0, folio_size(folio));
		folio_cancel_dirty(folio);
		filemap_remove_folio(folio);
	} else {
		off = max(lstart, fstart) - fstart;
		len = min(lend, flast) - fstart + 1 - off;
		folio_zero_range(folio, off, len);
		invalidate(folio, off, len);
	}
unlock:
	folio_unlock(folio);
}

void truncate_inode_pages_range(struct address_space *mapping, uint64_t lstart, uint64_t lend)
{
	struct folio *batch[TRUNCATE_BATCH];
	uint64_t index = lstart >> PAGE_SHIFT;
	unsigned int n;

	if (lend < lstart)
		return;
	while ((n = filemap_get_folios(mapping, &index, lend >> PAGE_SHIFT, batch,
				       TRUNCATE_BATCH))) {
		for (unsigned int i = 0; i < n; i++) {
			truncate_folio(mapping, batch[i], lstart, lend);
			folio_put(batch[i]);
		}
	}
}

void truncate_pagecache(struct inode *inode, uint64_t newsize)
{
	truncate_inode_pages_range(inode->i_mapping, newsize, UINT64_MAX);
}

void truncate_pagecache_range(struct inode *inode, uint64_t lstart, uint64_t lend)
{
	truncate_inode_pages_range(inode->i_mapping, lstart, lend);
}

/*
 * Drop @folio if it is clean, unlocked, not under writeback and used by
 * nobody but the mapping and our gather (two references), and its private
 * state can be released.  Folios straddling the range stay.
 */
static bool try_drop(struct address_space *mapping, struct folio *folio, uint64_t start,
		     uint64_t end)
{
	const struct address_space_ops *aops = mapping->a_ops;
	bool dropped = false;

	if (folio->index < start || folio_next_index(folio) - 1 > end)
		return false;
	if (!folio_trylock(folio))
		return false;
	if (folio->mapping != mapping || folio_test_dirty(folio) || folio_test_writeback(folio) ||
	    atomic_load_explicit(&folio->refcount, memory_order_relaxed) != 2)
		goto unlock;
	if (aops->release_folio ? !aops->release_folio(folio) : folio->private != NULL)
		goto unlock;
	dropped = pc_remove_folio_if_unused(folio, 2);
unlock:
	folio_unlock(folio);
	return dropped;
}

unsigned long invalidate_mapping_pages(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct folio *batch[TRUNCATE_BATCH];
	uint64_t index = start;
	unsigned long dropped = 0;
	unsigned int n;

	if (end < start)
		return 0;
	while ((n = filemap_get_folios(mapping, &index, end, batch, TRUNCATE_BATCH))) {
		for (unsigned int i = 0; i < n; i++) {
			dropped += try_drop(mapping, batch[i], start, end);
			folio_put(batch[i]);
		}
	}
	return dropped;
}

/*
 * Remove one locked folio for invalidate_inode_pages2_range(): it must be
 * clean after writeback ended and its private state releasable.
 */
static int invalidate_folio2(struct address_space *mapping, struct folio *folio)
{
	const struct address_space_ops *aops = mapping->a_ops;

	folio_wait_writeback(folio);
	if (folio_test_dirty(folio))
		return -EBUSY;
	if (aops->release_folio ? !aops->release_folio(folio) : folio->private != NULL)
		return -EBUSY;
	filemap_remove_folio(folio);
	return 0;
}

int invalidate_inode_pages2_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct folio *batch[TRUNCATE_BATCH];
	uint64_t index = start;
	unsigned int n;
	int ret = 0;

	if (end < start)
		return 0;
	while ((n = filemap_get_folios(mapping, &index, end, batch, TRUNCATE_BATCH))) {
		for (unsigned int i = 0; i < n; i++) {
			struct folio *folio = batch[i];

			folio_lock(folio);
			if (folio->mapping == mapping && invalidate_folio2(mapping, folio) && !ret)
				ret = -EBUSY;
			folio_unlock(folio);
			folio_put(folio);
		}
	}
	return ret;
}
