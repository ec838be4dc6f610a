/* SPDX-License-Identifier: MIT */
/* Internal to the iomap layer. */
#ifndef IOMAP_INTERNAL_H
#define IOMAP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iomap/stats.h"

struct folio;
struct inode;

/* Event counters; see iomap/stats.h.  Relaxed: they order nothing. */
struct iomap_counters {
	_Atomic uint64_t begin_calls;
	_Atomic uint64_t end_calls;
	_Atomic uint64_t stale_remaps;
	_Atomic uint64_t get_folio_calls;
	_Atomic uint64_t put_folio_calls;
	_Atomic uint64_t iomap_valid_calls;
	_Atomic uint64_t read_bios;
	_Atomic uint64_t rmw_reads;
	_Atomic uint64_t bytes_zeroed;
	_Atomic uint64_t inline_reads;
	_Atomic uint64_t inline_writes;
	_Atomic uint64_t short_copies;
	_Atomic uint64_t map_blocks_calls;
	_Atomic uint64_t ioends;
	_Atomic uint64_t ioend_bytes;
	_Atomic uint64_t writeback_folios;
	_Atomic uint64_t writeback_errors;
	_Atomic uint64_t dio_requests;
	_Atomic uint64_t dio_bios;
};

extern struct iomap_counters iomap_counters;

#define iomap_count(field, n) \
	atomic_fetch_add_explicit(&iomap_counters.field, (n), memory_order_relaxed)

/*
 * Per-folio state (ifs), in folio->private, present only when the folio
 * holds more than one block.  See folio-state.c for the invariants.
 */
struct iomap_folio_state;

unsigned int ifs_blocks_per_folio(const struct inode *inode, const struct folio *folio);
struct iomap_folio_state *ifs_alloc(struct inode *inode, struct folio *folio);
void ifs_free(struct folio *folio);

static inline struct iomap_folio_state *folio_ifs(const struct folio *folio);

/* Block-range state updates; all byte ranges are within the folio. */
void ifs_set_range_uptodate(struct inode *inode, struct folio *folio, size_t off, size_t len);
bool ifs_block_is_uptodate(const struct iomap_folio_state *ifs, unsigned int block);
bool ifs_range_is_uptodate(struct inode *inode, struct folio *folio, size_t off, size_t len);
void ifs_set_range_dirty(struct inode *inode, struct folio *folio, size_t off, size_t len);
void ifs_clear_range_dirty(struct inode *inode, struct folio *folio, size_t off, size_t len);
bool ifs_block_is_dirty(const struct iomap_folio_state *ifs, unsigned int nblocks,
			unsigned int block);

/*
 * Read completion accounting: a read of @len bytes of a locked folio is
 * started or finished.  The folio is unlocked (and marked uptodate when all
 * its blocks are) by whichever finish brings the pending count to zero.
 */
void ifs_read_start(struct folio *folio, size_t len);
void iomap_finish_folio_read(struct folio *folio, size_t off, size_t len, int error);
/* The submitter is done walking: drop the part of its bias not sent to I/O. */
void ifs_read_finish_bias(struct folio *folio, size_t bytes);

/*
 * Write completion accounting for folios with state: writeback adds each
 * range it sends to I/O plus a bias of 1 while it walks the folio; whoever
 * takes the count to zero ends writeback.  Returns true for that caller.
 */
void ifs_write_start(struct folio *folio, size_t len);
bool ifs_write_done(struct folio *folio, size_t len);
unsigned int ifs_next_dirty_run(struct inode *inode, struct folio *folio, unsigned int from,
				unsigned int end, unsigned int *nr);

void iomap_state_account(int64_t objects, int64_t bytes);
uint64_t iomap_state_slab_bytes(void);

#include "iomap/folio.h"
#include "iomap/mapping.h"

/* The inode of a folio that is in the page cache (folio locked or pinned). */
static inline struct inode *folio_inode(const struct folio *folio)
{
	return mapping_host(folio->mapping);
}

void iomap_state_counts(uint64_t *objects, uint64_t *bytes, uint64_t *peak);
void iomap_state_reset_peak(void);

static inline struct iomap_folio_state *folio_ifs(const struct folio *folio)
{
	return (struct iomap_folio_state *)folio->private;
}

#endif /* IOMAP_INTERNAL_H */
