/* SPDX-License-Identifier: MIT */
/*
 * Buffered read through the page cache (filemap_read) and the readahead
 * that fills it.
 *
 * Locking: inode->invalidate_lock is taken shared around instantiating
 * folios and starting reads into them, so that a truncate or punch holding
 * it exclusive never races with a read bringing back blocks it is freeing
 * (inode.h rule 2).  Data is copied out with no lock held: an uptodate
 * folio's data stays valid, and the i_size check after the folio became
 * uptodate turns a concurrent truncation into a short read.
 */
#include "pagecache/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RA_MIN_PAGES 64U /* readahead covers at least 256 KiB when the file has it */
#define RA_MAX_PAGES 1024U /* and at most 4 MiB per batch */
#define READ_BATCH 16U

struct folio *readahead_folio(struct readahead_control *rac)
{
	struct folio *folio;

	if (rac->_next >= rac->_nr)
		return NULL;
	folio = rac->_folios[rac->_next++];
	rac->_index = folio_next_index(folio);
	rac->_pages -= 1UL << folio->order;
	return folio;
}

uint64_t readahead_pos(const struct readahead_control *rac)
{
	return rac->_index << PAGE_SHIFT;
}

size_t readahead_length(const struct readahead_control *rac)
{
	return rac->_pages << PAGE_SHIFT;
}

/*
 * Hand new locked folios to ->readahead (or ->read_folio one by one).  The
 * page cache holds a reference on each until the callee returns, then drops
 * it; a folio whose read is still in flight stays alive through the
 * mapping's reference, as it is locked and removal needs the lock.
 */
static void ra_submit(struct address_space *mapping, struct folio **folios, unsigned int nr)
{
	const struct address_space_ops *aops = mapping->a_ops;
	struct readahead_control rac = {
		.mapping = mapping,
		._folios = folios,
		._nr = nr,
		._index = folios[0]->index,
	};

	for (unsigned int i = 0; i < nr; i++)
		rac._pages += 1UL << folios[i]->order;
	if (aops->readahead) {
		aops->readahead(&rac);
		for (unsigned int i = rac._next; i < nr; i++)
			folio_unlock(folios[i]);
	} else {
		/* Errors leave the folio not uptodate; the reader retries it synchronously. */
		for (unsigned int i = 0; i < nr; i++)
			aops->read_folio(folios[i]);
	}
	for (unsigned int i = 0; i < nr; i++)
		folio_put(folios[i]);
}

/* Allocate and insert locked folios over [index, last]; stops at the first failure. */
static unsigned int ra_alloc(struct address_space *mapping, uint64_t index, uint64_t last,
			     struct folio **folios, int *err)
{
	unsigned int n = 0;

	for (uint64_t i = index; i <= last; i++) {
		struct folio *folio = folio_alloc(mapping->cache, 0);

		if (!folio) {
			*err = -ENOMEM;
			break;
		}
		folio_trylock(folio); /* always succeeds: nobody else can see it */
		*err = filemap_add_folio(mapping, folio, i);
		if (*err) {
			folio_unlock(folio);
			folio_put(folio);
			break;
		}
		folios[n++] = folio;
	}
	return n;
}

/*
 * Pages per readahead batch.  A reader holds its batch locked while it
 * allocates the rest, where reclaim cannot take it back: with a budget, a
 * batch is at most 1/16 of it (see the slack in pagecache.h).
 */
static uint64_t ra_max_pages(const struct pagecache *cache)
{
	uint64_t pages = cache->budget_bytes >> (PAGE_SHIFT + PAGECACHE_SLACK_SHIFT);

	if (!cache->budget_bytes)
		return RA_MAX_PAGES;
	return min(max(pages, 1ULL), (uint64_t)RA_MAX_PAGES);
}

/*
 * The last page readahead from @index covers: the request's last page,
 * stretched to RA_MIN_PAGES, cut at EOF, at ra_max_pages() and before the
 * next folio already cached.
 */
static uint64_t ra_last(struct address_space *mapping, uint64_t index, uint64_t req_last,
			uint64_t isize)
{
	uint64_t last = max(req_last, index + RA_MIN_PAGES - 1);
	uint64_t next = index;

	last = min(last, (isize - 1) >> PAGE_SHIFT);
	last = min(last, index + ra_max_pages(mapping->cache) - 1);
	pthread_mutex_lock(&mapping->lock);
	if (pc_index_find(&mapping->index, &next, last, PC_INDEX_ANY))
		last = next - 1;
	pthread_mutex_unlock(&mapping->lock);
	return last;
}

struct read_state {
	struct inode *inode;
	struct address_space *mapping;
	uint64_t pos; /* next file byte to copy */
	uint64_t end; /* end of the request, cut to i_size */
	char *buf;
	size_t copied;
};

/* Nothing cached at @index: read ahead from there.  Returns 0 (look again) or -ENOMEM. */
static int read_ahead(struct read_state *rd, uint64_t index)
{
	struct address_space *mapping = rd->mapping;
	uint64_t isize = i_size_read(rd->inode), last;
	struct folio **folios;
	unsigned int n;
	int err = 0;

	if (rd->pos >= isize) {
		rd->end = rd->pos;
		return 0;
	}
	last = ra_last(mapping, index, (rd->end - 1) >> PAGE_SHIFT, isize);
	if (last < index)
		return 0; /* a folio appeared at @index meanwhile */
	folios = malloc((last - index + 1) * sizeof(*folios));
	if (!folios)
		return -ENOMEM;
	pthread_rwlock_rdlock(&rd->inode->invalidate_lock);
	n = ra_alloc(mapping, index, last, folios, &err);
	if (n)
		ra_submit(mapping, folios, n);
	pthread_rwlock_unlock(&rd->inode->invalidate_lock);
	free(folios);
	return (n || err == -EEXIST) ? 0 : err;
}

/*
 * Make [off, off + count) of a cached folio readable: wait for a read in
 * flight, else copy from valid blocks of a partly uptodate folio, else read
 * it with ->read_folio.  Returns 0 (readable), 1 (the folio left the
 * mapping: look up again) or a negative errno.
 */
static int make_readable(struct read_state *rd, struct folio *folio, size_t off, size_t count)
{
	const struct address_space_ops *aops = rd->mapping->a_ops;
	int err;

	folio_wait_locked(folio);
	if (folio_test_uptodate(folio))
		return 0;
	pthread_rwlock_rdlock(&rd->inode->invalidate_lock);
	folio_lock(folio);
	if (folio->mapping != rd->mapping || folio_test_uptodate(folio) ||
	    (aops->is_partially_uptodate && aops->is_partially_uptodate(folio, off, count))) {
		err = folio->mapping != rd->mapping;
		folio_unlock(folio);
		pthread_rwlock_unlock(&rd->inode->invalidate_lock);
		return err;
	}
	err = aops->read_folio(folio);
	pthread_rwlock_unlock(&rd->inode->invalidate_lock);
	folio_wait_locked(folio);
	if (folio_test_uptodate(folio))
		return 0;
	return err < 0 ? err : -EIO;
}

/* Copy what the request wants from @folio, which holds rd->pos.  Returns 0 or a negative errno. */
static int read_from_folio(struct read_state *rd, struct folio *folio)
{
	size_t off = rd->pos - folio_pos(folio);
	size_t count = min((uint64_t)(folio_size(folio) - off), rd->end - rd->pos);
	uint64_t isize;
	int err;

	if (!folio_test_uptodate(folio)) {
		err = make_readable(rd, folio, off, count);
		if (err)
			return err > 0 ? 0 : err;
	}
	/* i_size may have dropped while the folio was read: never copy past it. */
	isize = i_size_read(rd->inode);
	if (isize < rd->end)
		rd->end = max(isize, rd->pos);
	count = min((uint64_t)count, rd->end - rd->pos);
	memcpy(rd->buf + rd->copied, folio_address(folio, off), count);
	rd->copied += count;
	rd->pos += count;
	pc_folio_mark_accessed(folio);
	return 0;
}

/* One batch of cached folios from rd->pos on; reads ahead if the first is missing. */
static int read_batch(struct read_state *rd)
{
	struct folio *batch[READ_BATCH];
	uint64_t index = rd->pos >> PAGE_SHIFT, start = index;
	unsigned int n, i;
	int err = 0;

	n = filemap_get_folios(rd->mapping, &start, (rd->end - 1) >> PAGE_SHIFT, batch, READ_BATCH);
	for (i = 0; i < n && !err && rd->pos < rd->end; i++) {
		if (folio_pos(batch[i]) > rd->pos)
			break;
		err = read_from_folio(rd, batch[i]);
	}
	for (unsigned int j = 0; j < n; j++)
		folio_put(batch[j]);
	if (!err && i == 0 && rd->pos < rd->end)
		err = read_ahead(rd, index);
	return err;
}

ssize_t filemap_read(struct inode *inode, uint64_t pos, void *buf, size_t len)
{
	uint64_t isize = i_size_read(inode);
	struct read_state rd = {
		.inode = inode,
		.mapping = inode->i_mapping,
		.pos = pos,
		.buf = buf,
	};
	int err = 0;

	if (pos >= isize || !len)
		return 0;
	rd.end = pos + min((uint64_t)len, isize - pos);
	while (rd.pos < rd.end && !err)
		err = read_batch(&rd);
	if (rd.copied || !err)
		return (ssize_t)rd.copied;
	return err;
}
