/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "iomap/internal.h"

struct iomap_counters iomap_counters;

#define LOAD(f) atomic_load_explicit(&iomap_counters.f, memory_order_relaxed)

void iomap_get_stats(struct iomap_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->begin_calls = LOAD(begin_calls);
	st->end_calls = LOAD(end_calls);
	st->stale_remaps = LOAD(stale_remaps);
	st->get_folio_calls = LOAD(get_folio_calls);
	st->put_folio_calls = LOAD(put_folio_calls);
	st->iomap_valid_calls = LOAD(iomap_valid_calls);
	st->read_bios = LOAD(read_bios);
	st->rmw_reads = LOAD(rmw_reads);
	st->bytes_zeroed = LOAD(bytes_zeroed);
	st->inline_reads = LOAD(inline_reads);
	st->inline_writes = LOAD(inline_writes);
	st->short_copies = LOAD(short_copies);
	st->map_blocks_calls = LOAD(map_blocks_calls);
	st->ioends = LOAD(ioends);
	st->ioend_bytes = LOAD(ioend_bytes);
	st->writeback_folios = LOAD(writeback_folios);
	st->writeback_errors = LOAD(writeback_errors);
	st->dio_requests = LOAD(dio_requests);
	st->dio_bios = LOAD(dio_bios);
	iomap_state_counts(&st->folios_with_state, &st->folio_state_bytes,
			   &st->folio_state_peak_bytes);
	st->folio_state_slab_bytes = iomap_state_slab_bytes();
}

void iomap_reset_stats(void)
{
	_Atomic uint64_t *c = (_Atomic uint64_t *)&iomap_counters;

	for (size_t i = 0; i < sizeof(iomap_counters) / sizeof(*c); i++)
		atomic_store_explicit(&c[i], 0, memory_order_relaxed);
	iomap_state_reset_peak();
}
