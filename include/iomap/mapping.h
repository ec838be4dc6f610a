/* SPDX-License-Identifier: MIT */
/*
 * A mapping (address_space): the folios caching one file, in an ordered
 * index keyed by folio index with DIRTY / WRITEBACK / TOWRITE tags, and the
 * operations the page cache calls on the layer above to fill, release and
 * invalidate folios.  Also the generic page cache file operations built on
 * them: buffered read, truncation, invalidation, hole/data search.
 *
 * Thread safety: the index is protected by a per-mapping lock held only
 * inside these functions; they are safe to call concurrently on the same
 * mapping.  Readers and writers of different ranges never wait on each
 * other except for that short lock.
 */
#ifndef IOMAP_MAPPING_H
#define IOMAP_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct address_space;
struct folio;
struct inode;
struct pagecache;

/*
 * A readahead request: the page cache has inserted new, locked, not
 * uptodate folios covering [readahead_pos, +readahead_length) and hands them
 * to ->readahead one by one through readahead_folio().
 */
struct readahead_control {
	struct address_space *mapping;
	/* Internal to the page cache. */
	struct folio **_folios;
	unsigned int _nr, _next;
	uint64_t _index; /* index of the next folio to hand out */
	size_t _pages; /* pages not yet handed out */
};

/*
 * The next folio of the request, locked, or NULL when all were handed out.
 * The caller must unlock it (folio_end_read) when its read ends; the page
 * cache keeps the reference, so the caller must not folio_put() it.
 */
struct folio *readahead_folio(struct readahead_control *rac);

/* File position and length of what has not been handed out yet. */
uint64_t readahead_pos(const struct readahead_control *rac);
size_t readahead_length(const struct readahead_control *rac);

enum writeback_sync_mode {
	WB_SYNC_NONE = 0, /* background: skip folios that are busy */
	WB_SYNC_ALL = 1, /* data integrity: wait for busy folios, write all */
};

/* What a writeback pass should write. */
struct writeback_control {
	uint64_t range_start; /* bytes, inclusive */
	uint64_t range_end; /* bytes, inclusive; UINT64_MAX for all */
	enum writeback_sync_mode sync_mode;
	long nr_to_write; /* folios left to write; WB_SYNC_NONE stops at 0 */
};

struct address_space_ops {
	/*
	 * Required.  Make a locked, not uptodate folio uptodate.  Called with
	 * the folio locked; the folio is unlocked (folio_end_read) when the read
	 * ends, which may be after return.  Returns 0 or a negative errno
	 * (the folio is unlocked in every case).
	 */
	int (*read_folio)(struct folio *folio);
	/*
	 * Optional.  Start reads for the folios of @rac.  Folios not taken with
	 * readahead_folio() are unlocked and left not uptodate by the page
	 * cache.  Errors show as folios left not uptodate.
	 */
	void (*readahead)(struct readahead_control *rac);
	/*
	 * Optional.  The folio is locked, clean and not under writeback and is
	 * about to leave the cache: free the private state.  Return false to
	 * keep the folio.
	 */
	bool (*release_folio)(struct folio *folio);
	/*
	 * Optional.  The folio is locked; bytes [offset, offset + len) of it no
	 * longer hold file data.  When the whole folio is invalidated it leaves
	 * the cache next and the private state must be freed.
	 */
	void (*invalidate_folio)(struct folio *folio, size_t offset, size_t len);
	/*
	 * Optional.  The folio is locked and not uptodate: are all blocks that
	 * overlap [from, from + count) valid?  Lets readers copy from partly
	 * valid folios without I/O.
	 */
	bool (*is_partially_uptodate)(struct folio *folio, size_t from, size_t count);
	/*
	 * Optional.  Start writing the dirty folios @wbc selects (typically
	 * through writeback_iter()).  Returns 0 or the first negative errno; I/O
	 * errors found later are recorded with mapping_set_error().
	 */
	int (*writepages)(struct address_space *mapping, struct writeback_control *wbc);
};

/* Lookup flags for filemap_get_folio(). */
#define FGP_LOCK (1U << 0) /* return the folio locked */
#define FGP_CREAT (1U << 1) /* create it if absent (not uptodate) */
#define FGP_NOWAIT (1U << 2) /* never sleep: -EAGAIN instead */
#define FGP_STABLE (1U << 3) /* wait for writeback on it to end */
#define FGP_WRITEBEGIN (FGP_LOCK | FGP_CREAT | FGP_STABLE)

/*
 * Find the folio at @index (and create it with FGP_CREAT).  On success
 * returns 0 and a referenced folio in @out; with FGP_LOCK it is locked and
 * still belongs to @mapping.  A large folio is found from any of its pages,
 * so the folio may start before @index; created folios are order 0.
 * Errors: -ENOENT (absent, no FGP_CREAT), -EAGAIN (FGP_NOWAIT would sleep),
 * -ENOMEM.
 */
int filemap_get_folio(struct address_space *mapping, uint64_t index, unsigned int fgp,
		      struct folio **out);

/*
 * Gather up to @nr referenced folios with index in [*start, end], in index
 * order (the first may be a large folio that starts before *start and
 * covers it).  *start is left just past the last folio returned (or past
 * @end).  Returns the number gathered.
 */
unsigned int filemap_get_folios(struct address_space *mapping, uint64_t *start, uint64_t end,
				struct folio **batch, unsigned int nr);

enum mapping_tag {
	MAPPING_TAG_DIRTY = 0,
	MAPPING_TAG_WRITEBACK = 1,
	MAPPING_TAG_TOWRITE = 2,
};

/* As filemap_get_folios(), only folios carrying @tag. */
unsigned int filemap_get_folios_tag(struct address_space *mapping, uint64_t *start, uint64_t end,
				    enum mapping_tag tag, struct folio **batch, unsigned int nr);

/* Is any folio with index in [start, end] tagged @tag? */
bool mapping_range_tagged(struct address_space *mapping, uint64_t start, uint64_t end,
			  enum mapping_tag tag);

/*
 * Tag TOWRITE every folio with index in [start, end] that is tagged DIRTY,
 * so a data-integrity writeback can walk exactly the folios dirty when it
 * started (folio_start_writeback clears TOWRITE).
 */
void mapping_tag_for_writeback(struct address_space *mapping, uint64_t start, uint64_t end);

/* Folios currently in the mapping. */
uint64_t mapping_nr_folios(const struct address_space *mapping);

struct inode *mapping_host(const struct address_space *mapping);
struct pagecache *mapping_cache(const struct address_space *mapping);

/*
 * Insert a new locked folio at @index, which must be a multiple of the
 * folio's page count.  The mapping takes a reference of its own; the caller
 * keeps its reference and the lock.  Returns 0, -EEXIST, -EINVAL (misaligned
 * or beyond the 64-bit byte range) or -ENOMEM.
 */
int filemap_add_folio(struct address_space *mapping, struct folio *folio, uint64_t index);

/*
 * Take a locked folio out of its mapping and drop the mapping's reference.
 * The private state must already be gone and the folio must not be under
 * writeback.  The caller holds a reference of its own and keeps it.
 */
void filemap_remove_folio(struct folio *folio);

/*
 * Buffered read of [pos, pos + len) into @buf, through ->readahead and
 * ->read_folio.  Stops at i_size.  Returns bytes copied (0 at or past EOF)
 * or a negative errno (-EIO when a folio could not be read) if nothing was
 * copied.  Takes inode->invalidate_lock shared while it inserts folios and
 * starts reads, so the caller must not hold it exclusive.
 */
ssize_t filemap_read(struct inode *inode, uint64_t pos, void *buf, size_t len);

/*
 * Remove the cached data of bytes [lstart, lend] (inclusive).  Folios
 * wholly inside are invalidated and removed, waiting for writeback; folios
 * straddling an end have the covered part zeroed and passed to
 * ->invalidate_folio.  Dirty data in the range is discarded.
 */
void truncate_inode_pages_range(struct address_space *mapping, uint64_t lstart, uint64_t lend);

/* The file shrank or grew to @newsize: drop and zero the cache past it. */
void truncate_pagecache(struct inode *inode, uint64_t newsize);

/* A hole is punched over bytes [lstart, lend] (inclusive). */
void truncate_pagecache_range(struct inode *inode, uint64_t lstart, uint64_t lend);

/*
 * Drop clean, unlocked, unused folios with index in [start, end] (what
 * "echo 1 > drop_caches" does).  Dirty, locked and referenced folios stay.
 * Returns the number dropped.
 */
unsigned long invalidate_mapping_pages(struct address_space *mapping, uint64_t start,
				       uint64_t end);

/*
 * Remove every folio with index in [start, end] after waiting for its
 * writeback, whoever else holds references (they find ->mapping NULL).
 * Returns 0, or -EBUSY if a folio was dirty or its private state could not
 * be released (it stays).  Direct I/O uses this around its writes.
 */
int invalidate_inode_pages2_range(struct address_space *mapping, uint64_t start, uint64_t end);

/*
 * Search the cache over bytes [start, end) for data (SEEK_DATA) or a hole
 * (SEEK_HOLE).  A missing folio is a hole; an uptodate or dirty folio is
 * data; a partly uptodate folio is searched block by block through
 * ->is_partially_uptodate.  Returns the offset found, @end when SEEK_HOLE
 * finds no hole, or -ENXIO when SEEK_DATA finds no data.
 */
int64_t mapping_seek_hole_data(struct address_space *mapping, uint64_t start, uint64_t end,
			       int whence);

/*
 * The next folio for ->writepages to write, after @prev (NULL to start):
 * locked, still in @mapping, under no writeback, with DIRTY already cleared
 * (its data is written now; a write after this point dirties it again).
 * The caller writes it and unlocks it, and passes it back as @prev.
 * Returns NULL when the range is done.  Under WB_SYNC_ALL, walks exactly the
 * folios dirty at the start (TOWRITE), waiting for busy ones; under
 * WB_SYNC_NONE, skips locked folios and those under writeback.
 */
struct folio *writeback_iter(struct address_space *mapping, struct writeback_control *wbc,
			     struct folio *prev);

/*
 * Writeback errors.  mapping_set_error() records an I/O error in an error
 * sequence (errseq, as in the kernel): a 32-bit word with the last errno,
 * a "seen" flag and a counter, so that each observer (an open file) sees
 * each error once, never as success, and no observer sees errors from
 * before it sampled.  Also sets a sticky flag for filemap_check_errors().
 */
typedef uint32_t errseq_t;

void mapping_set_error(struct address_space *mapping, int error);

/* Sample the sequence (when a file is opened). */
errseq_t filemap_sample_wb_err(struct address_space *mapping);

/*
 * If an error was recorded since *since, return it (negative errno) and
 * move *since forward, so the same caller does not see it again; else 0.
 */
int file_check_and_advance_wb_err(struct address_space *mapping, errseq_t *since);

/* Test and clear the sticky error flags: -EIO, -ENOSPC or 0. */
int filemap_check_errors(struct address_space *mapping);

/*
 * Start writeback of the dirty folios over bytes [start, end] (WB_SYNC_ALL)
 * through ->writepages.  Returns 0 or the negative errno it returned.
 */
int filemap_fdatawrite_range(struct address_space *mapping, uint64_t start, uint64_t end);

/*
 * Wait for writeback in flight over bytes [start, end] to end.  Returns
 * filemap_check_errors() (so each error is returned once through here).
 */
int filemap_fdatawait_range(struct address_space *mapping, uint64_t start, uint64_t end);

/* Both of the above. */
int filemap_write_and_wait_range(struct address_space *mapping, uint64_t start, uint64_t end);

#endif /* IOMAP_MAPPING_H */
