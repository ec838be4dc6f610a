/* SPDX-License-Identifier: MIT */
/*
 * Internal to the buffer-head module.  Helpers shared between its files use
 * the buf_ prefix, which the version script does not export.
 */
#ifndef IOMAP_BH_INTERNAL_H
#define IOMAP_BH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iomap/buffer_head.h"
#include "iomap/folio.h"
#include "iomap/inode.h"
#include "iomap/mapping.h"

/* Event counters of struct bh_stats; relaxed, they order nothing. */
struct buf_counters {
	_Atomic uint64_t get_block_calls;
	_Atomic uint64_t bios_submitted;
	_Atomic uint64_t bios_written;
};

extern struct buf_counters buf_counters;

#define buf_count(field, n) \
	atomic_fetch_add_explicit(&buf_counters.field, (n), memory_order_relaxed)

/* The inode of a folio in the page cache (folio locked or pinned). */
static inline struct inode *buf_folio_inode(const struct folio *folio)
{
	return mapping_host(folio->mapping);
}

/* Call the filesystem's get_block and count the call. */
int buf_get_block(get_block_t get_block, struct inode *inode, uint64_t iblock,
		  struct buffer_head *bh, int create);

/*
 * The folio's buffers, created at the inode's block size with @b_state if
 * it has none.  Folio locked.  NULL when out of memory.
 */
struct buffer_head *buf_folio_create(struct folio *folio, uint32_t b_state);

/*
 * A write of @bh failed: set BH_Write_EIO and record -EIO in the folio's
 * mapping.  The caller keeps the folio in its mapping (writeback or the
 * folio lock).
 */
void buf_write_io_error(struct buffer_head *bh);

/*
 * Zero the parts of New buffers of a locked folio that overlap [from, to)
 * (unless the folio is uptodate), mark them uptodate and dirty and clear
 * New: the blocks are allocated and must not expose old disk contents.
 */
void buf_zero_new(struct folio *folio, size_t from, size_t to);

#endif /* IOMAP_BH_INTERNAL_H */
