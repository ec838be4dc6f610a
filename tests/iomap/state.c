/* SPDX-License-Identifier: MIT */
/*
 * Per-folio state: none at all when a folio holds one block, 16 bytes per
 * 4 KiB folio (allocator slot included) when it holds several, freed when
 * folios leave the cache, and counted live and at peak.
 */
#include <string.h>

#include "helpers.h"
#include "toyfs.h"

static struct iomap_stats stats(void)
{
	struct iomap_stats st;

	iomap_get_stats(&st);
	return st;
}

/* Write 1 MiB in block-sized pieces, so every folio sees partial writes. */
static void test_write_state(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(bs);
	struct iomap_stats st;

	toy_init(&fs, bs, 4 << 20);
	toy_add(&fs, 0, 1 << 20, IOMAP_MAPPED, 0, 0);
	memset(buf, 7, bs);
	iomap_reset_stats();
	for (uint64_t pos = 0; pos < (1 << 20); pos += bs)
		t_assert_eq(toy_write(&fs, pos, buf, bs), bs);
	st = stats();
	if (bs == 4096) {
		t_assert_eq(st.folios_with_state, 0);
		t_assert_eq(st.folio_state_bytes, 0);
	} else {
		t_assert_eq(st.folios_with_state, 256);
		t_assert_eq(st.folio_state_bytes, 256 * 16);
		t_assert_eq(st.folio_state_peak_bytes, 256 * 16);
		t_assert(st.folio_state_slab_bytes >= 4096);
	}
	/* The mapping was asked once per write call, not per block. */
	t_assert_eq(st.begin_calls, (1 << 20) / bs);

	truncate_pagecache(&fs.inode, 0);
	st = stats();
	t_assert_eq(st.folios_with_state, 0);
	t_assert_eq(st.folio_state_bytes, 0);
	t_assert_eq(st.folio_state_peak_bytes, bs == 4096 ? 0 : 256 * 16);
	toy_destroy(&fs);
	free(buf);
}

/* Reads of multi-block folios carry state too; dropping the cache frees it. */
static void test_read_state(unsigned int bs)
{
	struct toyfs fs;
	char *buf = t_malloc(1 << 20);

	toy_init(&fs, bs, 4 << 20);
	toy_add(&fs, 0, 1 << 20, IOMAP_MAPPED, 0, 0);
	i_size_write(&fs.inode, 1 << 20);
	iomap_reset_stats();
	t_assert_eq(toy_read(&fs, 0, buf, 1 << 20), 1 << 20);
	t_assert_eq(stats().folio_state_bytes, bs == 4096 ? 0 : 256 * 16);
	t_assert_eq(invalidate_mapping_pages(fs.inode.i_mapping, 0, UINT64_MAX), 256);
	t_assert_eq(stats().folio_state_bytes, 0);
	toy_destroy(&fs);
	free(buf);
}

int main(void)
{
	static const unsigned int sizes[] = { 512, 1024, 2048, 4096 };

	for (unsigned int i = 0; i < 4; i++) {
		test_write_state(sizes[i]);
		test_read_state(sizes[i]);
	}
	return T_EXIT_PASS;
}
