/* SPDX-License-Identifier: MIT */
/*
 * SEEK_HOLE / SEEK_DATA over the page cache, for iomap's seek over
 * unwritten extents: a missing folio is a hole, an uptodate or dirty folio
 * is data, and a folio that is neither is searched block by block through
 * ->is_partially_uptodate (a hole where there is no such op).
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <unistd.h>

static bool folio_is_data(const struct folio *folio)
{
	return folio_test_uptodate(folio) || folio_test_dirty(folio);
}

/*
 * Search [start, fend) of @folio, which covers it and ends at @fend.
 * Returns the first offset that is data (@seek_data) or a hole, or @fend.
 */
static uint64_t folio_seek(struct address_space *mapping, struct folio *folio, uint64_t start,
			   uint64_t fend, bool seek_data)
{
	const struct address_space_ops *aops = mapping->a_ops;
	unsigned int bsz = i_blocksize(mapping->host);
	size_t offset;

	if (folio_is_data(folio))
		return seek_data ? start : fend;
	if (!aops->is_partially_uptodate)
		return seek_data ? fend : start;
	folio_lock(folio);
	if (folio->mapping != mapping) {
		start = seek_data ? fend : start; /* truncated meanwhile: a hole now */
	} else if (folio_is_data(folio)) {
		start = seek_data ? start : fend;
	} else {
		offset = round_down_pow2(start - folio_pos(folio), (uint64_t)bsz);
		while (offset < folio_size(folio) &&
		       aops->is_partially_uptodate(folio, offset, bsz) != seek_data) {
			start = round_down_pow2(start + bsz, (uint64_t)bsz);
			offset += bsz;
		}
	}
	folio_unlock(folio);
	return start;
}

/* The first folio at or after page @*index up to @last, referenced; *index moves past it. */
static struct folio *next_folio(struct address_space *mapping, uint64_t *index, uint64_t last)
{
	struct folio *folio;

	return filemap_get_folios(mapping, index, last, &folio, 1) ? folio : NULL;
}

int64_t mapping_seek_hole_data(struct address_space *mapping, uint64_t start, uint64_t end,
			       int whence)
{
	bool seek_data = whence == SEEK_DATA;
	uint64_t index = start >> PAGE_SHIFT, last, fend;
	struct folio *folio;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (end <= start)
		return -ENXIO;
	last = (end - 1) >> PAGE_SHIFT;
	while ((folio = next_folio(mapping, &index, last))) {
		if (start < folio_pos(folio)) {
			if (!seek_data) {
				folio_put(folio);
				return (int64_t)start;
			}
			start = folio_pos(folio);
		}
		fend = folio_pos(folio) + folio_size(folio);
		start = folio_seek(mapping, folio, start, fend, seek_data);
		folio_put(folio);
		if (start < fend) {
			if (start < end)
				return (int64_t)start;
			break;
		}
		if (start >= end)
			break;
	}
	if (seek_data)
		return -ENXIO;
	return (int64_t)min(start, end);
}
