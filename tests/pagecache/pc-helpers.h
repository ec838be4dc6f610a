/* SPDX-License-Identifier: MIT */
/*
 * A fake filesystem for the page cache tests: the file's data at byte pos
 * is t_fill_pattern()'s byte for pos and the file's seed, so every read can
 * be checked.  Reads complete synchronously in the caller's thread.
 */
#ifndef T_PC_HELPERS_H
#define T_PC_HELPERS_H

#include <stdatomic.h>
#include <stdint.h>

#include <iomap/folio.h>
#include <iomap/inode.h>
#include <iomap/mapping.h>
#include <iomap/pagecache.h>

#define T_NO_INDEX UINT64_MAX

struct t_file {
	struct inode inode;
	uint64_t seed;
	uint64_t fail_index; /* reads of this folio index fail; T_NO_INDEX: none */
	_Atomic unsigned int read_folio_calls;
	_Atomic unsigned int readahead_calls;
	_Atomic unsigned int readahead_folios; /* folios taken by ->readahead */
	_Atomic unsigned int invalidate_calls;
	_Atomic unsigned int release_calls;
	_Atomic size_t last_partial_off, last_partial_len; /* last partial invalidation */
};

/* read_folio, readahead, invalidate_folio, release_folio; no is_partially_uptodate. */
extern const struct address_space_ops t_sync_aops;

struct pagecache *t_cache_create(void);

/* Fails the test if inode_init fails.  The file starts at @size bytes. */
void t_file_init(struct t_file *f, struct pagecache *cache, const struct address_space_ops *aops,
		 uint64_t size, uint64_t seed);

struct t_file *t_file_of(struct folio *folio);

/* Fill the whole folio with the file's pattern (no EOF zeroing: the "disk" has it all). */
void t_file_fill(struct t_file *f, struct folio *folio);

/* Fill and finish the read of a locked folio, failing it if its index is f->fail_index. */
void t_file_complete_read(struct t_file *f, struct folio *folio);

/* ->read_folio and ->readahead of t_sync_aops, for tests building their own ops. */
int t_sync_read_folio(struct folio *folio);
void t_sync_readahead(struct readahead_control *rac);
void t_record_invalidate(struct folio *folio, size_t offset, size_t len);
bool t_release(struct folio *folio);

/* Check @buf against the file's pattern at @pos. */
void t_check_file_data(struct t_file *f, const void *buf, size_t len, uint64_t pos);

/* Fail unless the cache holds no folio and no metadata. */
void t_check_cache_empty(struct pagecache *cache);

#endif /* T_PC_HELPERS_H */
