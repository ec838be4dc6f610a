/* SPDX-License-Identifier: MIT */
/*
 * Writeback from the page cache's side: which folios to write (the layer
 * above does the writing through ->writepages), waiting for writeback, and
 * the record of writeback errors.
 *
 * errseq layout (as in the kernel's lib/errseq.c, re-derived): bits 0..11
 * hold the last errno, bit 12 is SEEN (somebody has sampled or reported
 * the current error), bits 13..31 a counter bumped for a new error when the
 * previous one was seen.  Observers keep the value they last saw; an error
 * is "new" to them when the word differs from their copy (ignoring SEEN).
 */
#include <errno.h>

#include "pagecache/internal.h"

#define ERRSEQ_SHIFT 12
#define ERRNO_MASK ((1U << ERRSEQ_SHIFT) - 1)
#define ERRSEQ_SEEN (1U << ERRSEQ_SHIFT)
#define ERRSEQ_CTR_INC (1U << (ERRSEQ_SHIFT + 1))

#define WB_BATCH 16U

void mapping_set_error(struct address_space *mapping, int error)
{
	errseq_t old, new;

	if (!error || -error > (int)ERRNO_MASK || error > 0)
		return;
	atomic_fetch_or_explicit(&mapping->as_flags, error == -ENOSPC ? PC_AS_ENOSPC : PC_AS_EIO,
				 memory_order_relaxed);
	old = atomic_load_explicit(&mapping->wb_err, memory_order_relaxed);
	do {
		new = (old & ~(ERRNO_MASK | ERRSEQ_SEEN)) | (errseq_t)-error;
		/* Only a seen error needs a new count: unseen ones are reported anyway. */
		if (old & ERRSEQ_SEEN)
			new += ERRSEQ_CTR_INC;
		if (new == old)
			return;
	} while (!atomic_compare_exchange_weak_explicit(&mapping->wb_err, &old, new,
							memory_order_release,
							memory_order_relaxed));
}

/*
 * An observer that samples while an unseen error is pending must still see
 * it later: it gets 0 (before everything) in that case.  Otherwise it gets
 * the current word and will only see errors recorded after this call.
 */
errseq_t filemap_sample_wb_err(struct address_space *mapping)
{
	errseq_t cur = atomic_load_explicit(&mapping->wb_err, memory_order_acquire);

	if (!(cur & ERRSEQ_SEEN) && (cur & ERRNO_MASK))
		return 0;
	return cur;
}

int file_check_and_advance_wb_err(struct address_space *mapping, errseq_t *since)
{
	errseq_t old = atomic_load_explicit(&mapping->wb_err, memory_order_acquire);
	errseq_t new;

	if ((old & ~ERRSEQ_SEEN) == (*since & ~ERRSEQ_SEEN))
		return 0;
	new = old | ERRSEQ_SEEN;
	if (new != old)
		atomic_compare_exchange_strong_explicit(&mapping->wb_err, &old, new,
							memory_order_acq_rel,
							memory_order_acquire);
	*since = new;
	return -(int)(old & ERRNO_MASK);
}

int filemap_check_errors(struct address_space *mapping)
{
	uint32_t f = atomic_exchange_explicit(&mapping->as_flags, 0, memory_order_acq_rel);

	if (f & PC_AS_ENOSPC)
		return -ENOSPC;
	if (f & PC_AS_EIO)
		return -EIO;
	return 0;
}

static uint64_t wbc_first_index(const struct writeback_control *wbc)
{
	return wbc->range_start >> PAGE_SHIFT;
}

static uint64_t wbc_last_index(const struct writeback_control *wbc)
{
	return wbc->range_end >> PAGE_SHIFT;
}

/*
 * Lock and vet one candidate.  Returns true with the folio locked, clean
 * for I/O and not under writeback; false (folio unlocked) to skip it.
 */
static bool writeback_take(struct address_space *mapping, struct writeback_control *wbc,
			   struct folio *folio)
{
	if (wbc->sync_mode == WB_SYNC_NONE) {
		if (!folio_trylock(folio))
			return false;
	} else {
		folio_lock(folio);
	}
	if (folio->mapping != mapping || !folio_test_dirty(folio))
		goto skip;
	if (folio_test_writeback(folio)) {
		if (wbc->sync_mode == WB_SYNC_NONE)
			goto skip;
		folio_wait_writeback(folio);
	}
	if (!folio_clear_dirty_for_io(folio))
		goto skip;
	pc_folio_clear_towrite(folio);
	return true;
skip:
	pc_folio_clear_towrite(folio);
	folio_unlock(folio);
	return false;
}

/*
 * State between calls lives in the mapping's tags: every folio looked at
 * has lost TOWRITE (and DIRTY if handed out), so the next gather from just
 * past @prev finds what is left.
 */
struct folio *writeback_iter(struct address_space *mapping, struct writeback_control *wbc,
			     struct folio *prev)
{
	enum mapping_tag tag = wbc->sync_mode == WB_SYNC_ALL ? MAPPING_TAG_TOWRITE
							     : MAPPING_TAG_DIRTY;
	uint64_t index = prev ? folio_next_index(prev) : wbc_first_index(wbc);
	uint64_t last = wbc_last_index(wbc);

	if (prev) {
		folio_put(prev); /* the gather's reference, kept across the write */
		if (wbc->nr_to_write > 0)
			wbc->nr_to_write--;
		if (wbc->sync_mode == WB_SYNC_NONE && wbc->nr_to_write <= 0)
			return NULL;
		if (!index)
			return NULL; /* wrapped past the last index */
	} else if (tag == MAPPING_TAG_TOWRITE) {
		mapping_tag_for_writeback(mapping, index, last);
	}
	while (index <= last) {
		struct folio *batch[1];

		if (!filemap_get_folios_tag(mapping, &index, last, tag, batch, 1))
			return NULL;
		if (writeback_take(mapping, wbc, batch[0]))
			return batch[0];
		folio_put(batch[0]);
	}
	return NULL;
}

int filemap_fdatawrite_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	struct writeback_control wbc = {
		.range_start = start,
		.range_end = end,
		.sync_mode = WB_SYNC_ALL,
		.nr_to_write = INT64_MAX,
	};

	if (start > end || !mapping->a_ops->writepages)
		return 0;
	return mapping->a_ops->writepages(mapping, &wbc);
}

static void wait_writeback_range(struct address_space *mapping, uint64_t index, uint64_t last)
{
	struct folio *batch[WB_BATCH];
	unsigned int n;

	while ((n = filemap_get_folios_tag(mapping, &index, last, MAPPING_TAG_WRITEBACK, batch,
					   WB_BATCH))) {
		for (unsigned int i = 0; i < n; i++) {
			folio_wait_writeback(batch[i]);
			folio_put(batch[i]);
		}
	}
}

int filemap_fdatawait_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	if (start <= end)
		wait_writeback_range(mapping, start >> PAGE_SHIFT, end >> PAGE_SHIFT);
	return filemap_check_errors(mapping);
}

/* For pagecache_sync(): the error flags stay for the file's own fsync. */
void pc_wait_all_writeback(struct address_space *mapping)
{
	wait_writeback_range(mapping, 0, UINT64_MAX >> PAGE_SHIFT);
}

int filemap_write_and_wait_range(struct address_space *mapping, uint64_t start, uint64_t end)
{
	int ret = filemap_fdatawrite_range(mapping, start, end);
	int ret2 = filemap_fdatawait_range(mapping, start, end);

	return ret ? ret : ret2;
}
