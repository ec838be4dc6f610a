/* SPDX-License-Identifier: MIT */
/*
 * iomap's counters: what the design costs, counted where it happens.
 * They are process-wide (all inodes of all filesystems in the process),
 * updated with relaxed atomics, and exact once the counted operations have
 * returned.
 */
#ifndef IOMAP_STATS_H
#define IOMAP_STATS_H

#include <stdint.h>

struct iomap_stats {
	uint64_t begin_calls; /* ->begin */
	uint64_t end_calls; /* ->end */
	uint64_t stale_remaps; /* mappings found stale by ->iomap_valid */
	uint64_t get_folio_calls; /* folios taken for buffered writes */
	uint64_t put_folio_calls; /* ... and handed back */
	uint64_t iomap_valid_calls;
	uint64_t folios_with_state; /* folios holding per-folio state now */
	uint64_t folio_state_bytes; /* their state, allocator slot size included */
	uint64_t folio_state_peak_bytes;
	uint64_t folio_state_slab_bytes; /* memory the state allocator holds, free slots too */
	uint64_t read_bios; /* bios submitted by buffered reads */
	uint64_t rmw_reads; /* synchronous block reads in write_begin */
	uint64_t bytes_zeroed; /* zeroed instead of read (holes, unwritten, new, EOF) */
	uint64_t inline_reads; /* INLINE extents copied into folios */
	uint64_t inline_writes; /* writes copied into INLINE extents */
	uint64_t short_copies; /* copies into a folio that came up short */
	uint64_t map_blocks_calls; /* writeback ->map_blocks */
	uint64_t ioends; /* I/O completion units finished */
	uint64_t ioend_bytes; /* their bytes */
	uint64_t writeback_folios; /* folios written back */
	uint64_t writeback_errors; /* ioends or mappings that failed */
	uint64_t dio_requests; /* direct I/O requests started */
	uint64_t dio_bios; /* their bios, zero padding included */
};

void iomap_get_stats(struct iomap_stats *stats);

/* Zero the event counters; live and peak state figures restart from now. */
void iomap_reset_stats(void);

#endif /* IOMAP_STATS_H */
